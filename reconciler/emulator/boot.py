"""Controller start: the device set rebuilt from firmware, host VFs, config and recovery records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

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

__all__ = ["DEFAULT_PF_QUEUES", "SfBudget", "boot_devices", "build_vf", "queue_pairs"]

DEFAULT_PF_QUEUES = 8


def queue_pairs(num_queues: int) -> int:
    """A PF's queue pairs: its data virtqueues taken two by two (rx + tx), at least one."""
    return max(1, num_queues // 2)


@dataclass(slots=True)
class SfBudget:
    """PF_TOTAL_SF per port, shared by the controller and other applications (page).

    The controller holds max(its pool, its devices) SFs on a port; other applications
    hold theirs; a device fits while the sum stays within PF_TOTAL_SF.
    """

    total: int
    others: Counter = field(default_factory=Counter)
    pool: Mapping[int, int] = field(default_factory=dict)

    def fits(self, port: int, devices_after: int) -> bool:
        held = max(self.pool.get(port, 0), devices_after)
        return self.others[port] + held <= self.total


def boot_devices(
    profile: FirmwareProfile,
    sriov: list[int],
    conf: ConfView,
    records: dict[str, dict],
    *,
    budget: SfBudget,
    taken_sfs: set[int] = frozenset(),
    udev: Mapping[tuple[int, int], str] | None = None,
) -> tuple[dict[str, Device], dict[str, dict]]:
    """Devices after a (re)start, and the records to write (new or changed).

    Only what a record holds survives (MAC, queue count, SF, pf_id); MTU, features and
    queue size revert to defaults. A hotplug PF without a record is gone; records that do
    not fit the firmware limits are ignored and left on disk (stale), as on the DPU.
    With ``recovery`` off, records are neither read nor written. ``taken_sfs`` are SF
    numbers other applications hold; ``udev`` names representors by (pf_num, sf_num).
    """
    records = records if conf.recovery else {}
    count: Counter[int] = Counter()
    used_sf: set[int] = set(taken_sfs)
    sfs = alloc.SfAllocator(used_sf)
    names: set[str] = set()
    devices: dict[str, Device] = {}
    rules = udev or {}

    def admit(dev: Device | None) -> None:
        # each device needs one SF of its port's budget; without one it is not created
        if dev is None or dev.sf_num in used_sf:
            return
        if not budget.fits(dev.pf_num, count[dev.pf_num] + 1):
            return
        count[dev.pf_num] += 1
        used_sf.add(dev.sf_num)
        devices[dev.vuid] = _named(dev, rules, names)

    pf_pairs: dict[int, int] = {}
    for pf_id in range(profile.num_pf):
        dev = _static_pf(pf_id, profile, conf, records, sfs)
        pf_pairs[pf_id] = dev.max_queue_pairs
        admit(dev)
    for pf_id in range(profile.num_pf):
        for vf_id in range(min(sriov[pf_id] if pf_id < len(sriov) else 0, profile.num_vf)):
            admit(_vf(pf_id, vf_id, profile, conf, records, sfs, pf_pairs[pf_id]))
    for vuid, rec in sorted(records.items(), key=lambda kv: _pf_key(kv[1])):
        admit(_hotplug_from_record(vuid, rec, profile, conf, devices))
    # the controller persists what it just built: new devices get a record, and a
    # static PF or VF re-created on another port (e.g. after switching to LAG) gets
    # its record rewritten
    fresh = (
        {}
        if not conf.recovery
        else {v: rec for v, d in devices.items() if (rec := record_for(d)) != records.get(v)}
    )
    return devices, fresh


def _named(dev: Device, rules: Mapping[tuple[int, int], str], names: set[str]) -> Device:
    """The representor name a udev rule gives; a name already taken keeps the default."""
    wanted = rules.get((dev.pf_num, dev.sf_num))
    if wanted is not None and wanted not in names:
        names.add(wanted)
        return _replace_name(dev, wanted)
    names.add(dev.representor)
    return dev


def _replace_name(dev: Device, name: str) -> Device:
    return replace(dev, rep_name=name)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pf_key(rec: dict) -> int:
    value = rec.get("pf_id", 0)
    return value if _is_int(value) else 0


def _sf_of(rec: dict, sfs: alloc.SfAllocator, base: int) -> int:
    value = rec.get("sf_num")
    return value if _is_int(value) and value else sfs.take(base)


def _rec(rec: dict, key: str, kind: type):
    """A record field of the right type, else None: records are hand-editable (page)."""
    value = rec.get(key)
    if kind is int:
        return value if _is_int(value) and value > 0 else None
    return value if isinstance(value, kind) and value else None


def _static_pf(pf_id, profile, conf, records, sfs) -> Device:
    vuid = alloc.vuid_for(STATIC, pf_id)
    rec = records.get(vuid, {})
    dev_name = conf.static_dev
    queues = _rec(rec, "mq", int) or min(DEFAULT_PF_QUEUES, profile.num_msix)
    return Device(
        vuid=vuid,
        kind=STATIC,
        pf_id=pf_id,
        vf_id=None,
        port=None,
        bdf_raw=alloc.static_bdf(pf_id),
        mac=(_rec(rec, "mac", str) or conf.static_mac(pf_id)).lower(),
        mtu=DEFAULT_MTU,
        num_queues=queues,
        max_queue_size=DEFAULT_QUEUE_SIZE,
        features=conf.features("static_pf"),
        num_msix=profile.num_msix,
        sf_num=_sf_of(rec, sfs, alloc.STATIC_SF_BASE),
        pf_num=conf.port_devs.get(dev_name, 0),
        ib_dev=dev_name,
        max_queue_pairs=queue_pairs(queues),
    )


def _vf(pf_id, vf_id, profile, conf, records, sfs, parent_pairs) -> Device:  # noqa: PLR0917
    rec = records.get(alloc.vuid_for(VF, pf_id, vf_id), {})
    return build_vf(pf_id, vf_id, profile, conf, rec, sfs, parent_pairs)


def build_vf(  # noqa: PLR0917
    pf_id: int,
    vf_id: int,
    profile: FirmwareProfile,
    conf: ConfView,
    rec: dict,
    sfs: alloc.SfAllocator,
    parent_pairs: int,
) -> Device:
    """One VF as the controller creates it (at start, or when the host adds VFs)."""
    vuid = alloc.vuid_for(VF, pf_id, vf_id)
    msix = _rec(rec, "mq", int) or profile.vf_msix  # one data VQ per MSI-X vector
    dev_name = conf.static_dev
    return Device(
        vuid=vuid,
        kind=VF,
        pf_id=pf_id,
        vf_id=vf_id,
        port=None,
        bdf_raw=alloc.vf_bdf(pf_id, vf_id, profile.num_vf),
        mac=(_rec(rec, "mac", str) or conf.vf_mac(pf_id, vf_id, profile.num_vf)).lower(),
        mtu=DEFAULT_MTU,
        num_queues=msix,
        max_queue_size=DEFAULT_QUEUE_SIZE,
        features=conf.features("vf"),
        num_msix=msix,
        sf_num=_sf_of(rec, sfs, alloc.VF_SF_BASE),
        pf_num=conf.port_devs.get(dev_name, 0),
        ib_dev=dev_name,
        # page: "qp_num: number of QPs for each VF; if not specified, taken from its parent PF"
        max_queue_pairs=conf.vf_qp_num or parent_pairs,
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
        max_queue_pairs=queue_pairs(mq),
    )
