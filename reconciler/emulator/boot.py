"""Controller start: the device set rebuilt from firmware, host VFs, config and recovery records."""

from __future__ import annotations

from collections import Counter

from reconciler.emulator import alloc
from reconciler.emulator.conf import ConfView
from reconciler.emulator.firmware import FirmwareProfile
from reconciler.emulator.recovery import record_for
from reconciler.emulator.state import (
    DEFAULT_MTU,
    DEFAULT_QUEUE_SIZE,
    HOTPLUG,
    STATIC,
    VF,
    Device,
)

__all__ = ["DEFAULT_PF_QUEUES", "boot_devices"]

DEFAULT_PF_QUEUES = 8


def boot_devices(
    profile: FirmwareProfile, sriov: list[int], conf: ConfView, records: dict[str, dict]
) -> tuple[dict[str, Device], dict[str, dict]]:
    """Devices after a (re)start, and the records to write (new or changed).

    Only what a record holds survives (MAC, queue count, SF, pf_id); MTU, features and
    queue size revert to defaults. A hotplug PF without a record is gone; records that do
    not fit the firmware limits are ignored and left on disk (stale), as on the DPU.
    With ``recovery`` off, records are neither read nor written.
    """
    records = records if conf.recovery else {}
    budget: Counter[int] = Counter()
    used_sf: set[int] = set()
    devices: dict[str, Device] = {}

    def admit(dev: Device) -> None:
        # each device needs one SF of its port's PF_TOTAL_SF; without one it is not created
        if budget[dev.pf_num] >= profile.total_sf or dev.sf_num in used_sf:
            return
        budget[dev.pf_num] += 1
        used_sf.add(dev.sf_num)
        devices[dev.vuid] = dev

    for pf_id in range(profile.num_pf):
        admit(_static_pf(pf_id, profile, conf, records, used_sf))
    for pf_id in range(profile.num_pf):
        for vf_id in range(min(sriov[pf_id] if pf_id < len(sriov) else 0, profile.num_vf)):
            admit(_vf(pf_id, vf_id, profile, conf, records, used_sf))
    for vuid, rec in sorted(records.items(), key=lambda kv: kv[1].get("pf_id", 0)):
        dev = _hotplug_from_record(vuid, rec, profile, conf, devices)
        if dev is not None:
            admit(dev)
    # the controller persists what it just built: new devices get a record, and a
    # static PF or VF re-created on another port (e.g. after switching to LAG) gets
    # its record rewritten
    fresh = (
        {}
        if not conf.recovery
        else {
            v: rec for v, d in devices.items() if (rec := record_for(d)) != records.get(v)
        }
    )
    return devices, fresh


def _static_pf(pf_id, profile, conf, records, used_sf) -> Device:
    vuid = alloc.vuid_for(STATIC, pf_id)
    rec = records.get(vuid, {})
    dev_name = conf.static_dev
    return Device(
        vuid=vuid,
        kind=STATIC,
        pf_id=pf_id,
        vf_id=None,
        port=None,
        bdf_raw=alloc.static_bdf(pf_id),
        mac=str(rec.get("mac") or conf.static_mac(pf_id)).lower(),
        mtu=DEFAULT_MTU,
        num_queues=int(rec.get("mq") or min(DEFAULT_PF_QUEUES, profile.num_msix)),
        max_queue_size=DEFAULT_QUEUE_SIZE,
        features=conf.features("static_pf"),
        num_msix=profile.num_msix,
        sf_num=int(rec.get("sf_num") or alloc.next_sf(used_sf, alloc.STATIC_SF_BASE)),
        pf_num=conf.port_devs.get(dev_name, 0),
        ib_dev=dev_name,
    )


def _vf(pf_id, vf_id, profile, conf, records, used_sf) -> Device:  # noqa: PLR0917
    vuid = alloc.vuid_for(VF, pf_id, vf_id)
    rec = records.get(vuid, {})
    msix = int(rec.get("mq") or profile.vf_msix)  # one data VQ per MSI-X vector
    dev_name = conf.static_dev
    return Device(
        vuid=vuid,
        kind=VF,
        pf_id=pf_id,
        vf_id=vf_id,
        port=None,
        bdf_raw=alloc.vf_bdf(pf_id, vf_id, profile.num_vf),
        mac=str(rec.get("mac") or conf.vf_mac(pf_id, vf_id, profile.num_vf)).lower(),
        mtu=DEFAULT_MTU,
        num_queues=msix,
        max_queue_size=DEFAULT_QUEUE_SIZE,
        features=conf.features("vf"),
        num_msix=msix,
        sf_num=int(rec.get("sf_num") or alloc.next_sf(used_sf, alloc.VF_SF_BASE)),
        pf_num=conf.port_devs.get(dev_name, 0),
        ib_dev=dev_name,
    )


def _hotplug_from_record(vuid, rec, profile, conf, devices) -> Device | None:
    if rec.get("device_type") != HOTPLUG or rec.get("function_type") != "pf":
        return None
    try:
        port = alloc.hotplug_port_of(int(rec["bdf_raw"]))
        pf_id, sf_num, mq = int(rec["pf_id"]), int(rec["sf_num"]), int(rec["mq"])
    except (KeyError, TypeError, ValueError):
        return None
    taken = {d.pf_id for d in devices.values() if d.kind != VF}
    if not 0 <= port < profile.hotplug_ports or pf_id < profile.num_pf or pf_id in taken:
        return None
    ib_dev = str(rec.get("port_ib_dev", "mlx5_0"))
    return Device(
        vuid=vuid,
        kind=HOTPLUG,
        pf_id=pf_id,
        vf_id=None,
        port=port,
        bdf_raw=int(rec["bdf_raw"]),
        mac=str(rec.get("mac", "")).lower(),
        mtu=DEFAULT_MTU,
        num_queues=mq,
        max_queue_size=DEFAULT_QUEUE_SIZE,
        features=conf.features("static_pf"),
        num_msix=profile.num_msix,
        sf_num=sf_num,
        pf_num=int(rec.get("pf_num", conf.port_devs.get(ib_dev, 0))),
        ib_dev=ib_dev,
    )
