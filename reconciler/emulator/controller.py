"""The emulated controller's operations: start, hotplug, unplug, modify, guest, host, update."""

from __future__ import annotations

import errno as E
from collections import Counter
from dataclasses import replace

from reconciler.emulator import alloc
from reconciler.emulator.boot import SfBudget, boot_devices, build_vf, queue_pairs
from reconciler.emulator.conf import ConfView, judge_conf
from reconciler.emulator.features_cap import SUPPORTED_FEATURES
from reconciler.emulator.modes import mode_value
from reconciler.emulator.persist import Persist
from reconciler.emulator.recovery import record_for
from reconciler.emulator.state import (
    HOTPLUG,
    VF,
    ControllerState,
    Device,
    DpuState,
    LiveUpdate,
)

__all__ = ["MAX_VIRT_QUEUES", "Controller", "StartRefused", "VendorError"]

MAX_VIRT_QUEUES = 256
_GUEST_FIELDS = ("mac", "mtu", "features", "num_msix", "num_queues", "max_queue_size")


class VendorError(Exception):
    """A JSON-RPC error the controller returns: ``code`` is minus a Linux errno by default."""

    def __init__(self, err: int, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.errno = err
        self.message = message
        self.code = -err if code is None else code


class StartRefused(Exception):
    """The controller does not start (invalid virtnet.conf, SF pool not reservable, ...)."""


class Controller:
    """Operations on one running controller; every check the vendor makes, no more.

    ``state`` is the controller's memory, ``dpu`` the DPU around it; records go
    through ``persist`` as the controller writes them.
    """

    def __init__(self, state: ControllerState, dpu: DpuState, persist: Persist, now: float) -> None:
        self.state = state
        self.dpu = dpu
        self.persist = persist
        self.now = now

    @property
    def conf(self) -> ConfView:
        return ConfView(self.state.conf)

    def mode(self, name: str):
        return mode_value(self.dpu.modes, name)

    # ---- lifecycle ---------------------------------------------------------------
    def start(self) -> list[str]:
        """Read virtnet.conf, reserve the SF pool, rebuild devices from firmware + host +
        records; returns the log lines. Raises StartRefused with the controller's words.
        """
        profile = self.dpu.profile
        lines = [f"virtio-net-controller {self.dpu.installed} starting"]
        verdict = judge_conf(self.persist.read_conf(), profile.num_vf, self.mode("conf_invalid"))
        if verdict.action == "refuse":
            raise StartRefused(verdict.why)
        if verdict.why:
            lines.append(verdict.why)
        conf = ConfView(verdict.conf)
        lines += self._reserve_pool(conf)
        budget = SfBudget(profile.total_sf, self._others(), self.dpu.sf_pool)
        devices, fresh = boot_devices(
            profile,
            self.dpu.sriov,
            conf,
            self.persist.records(),
            budget=budget,
            taken_sfs={sf for _p, sf, _a in self.dpu.other_sfs},
            udev=self.dpu.udev,
        )
        self.state.conf = verdict.conf
        self.state.reset(devices)
        self.state.started_at = self.now
        self.state.update = LiveUpdate()
        self.state.version = self.dpu.installed
        self.persist.write_records(fresh)
        lines.append(
            f"started: {len(devices)} devices, emulation manager {conf.emulation_manager}, "
            f"LAG {'on' if conf.is_lag else 'off'}"
        )
        return lines

    def _reserve_pool(self, conf: ConfView) -> list[str]:
        """sf_pool_percent of PF_TOTAL_SF per port, reserved at start (page); a pool kept
        from the last run (sf_pool_force_destroy 0) is taken over as it is.
        """
        total, pct = self.dpu.profile.total_sf, conf.sf_pool_percent
        want = total * pct // 100
        lines, pools = [], {}
        for dev, port in conf.port_devs.items():
            kept = self.dpu.sf_pool.get(port, 0)
            if want and kept != want:
                others = self.dpu.others_on(port)
                if others + want > total:
                    raise StartRefused(
                        f"failed to reserve an SF pool of {want} SFs on {dev} "
                        f"(sf_pool_percent {pct} of PF_TOTAL_SF {total}): other applications "
                        f"hold {others}, {total - others} free"
                    )
                lines.append(f"SF pool of {want} SFs reserved on {dev}")
            elif want:
                lines.append(f"SF pool of {want} SFs on {dev} kept from the last run")
            if want:
                pools[port] = want
        self.dpu.sf_pool = pools
        return lines

    def stop(self) -> list[str]:
        """The controller stops: with sf_pool_force_destroy 1 its SF pool is destroyed."""
        if self.conf.sf_pool_force_destroy and self.dpu.sf_pool:
            self.dpu.sf_pool = {}
            return ["SF pool destroyed (sf_pool_force_destroy 1)"]
        return []

    def _others(self) -> Counter:
        return Counter(port for port, _sf, _app in self.dpu.other_sfs)

    def budget(self) -> SfBudget:
        return SfBudget(self.dpu.profile.total_sf, self._others(), self.dpu.sf_pool)

    def tick(self) -> None:
        """A live update that ran its time is over: the new version runs from now on."""
        upd = self.state.update
        if upd.over(self.now) and upd.target is not None:
            self.state.version = upd.target
            self.state.update = replace(upd, target=None, last_status="success")

    # ---- lookup ----------------------------------------------------------------
    def find(self, pf_id: int | None, vf_id: int | None, vuid: str | None) -> Device:
        dev = self.state.devices.get(vuid) if vuid else None
        if vuid is None and pf_id is not None:
            dev = self.state.by_pf(pf_id, vf_id)
        if dev is None:
            raise VendorError(E.ENODEV, "Device not found")
        return dev

    def migrating(self, dev: Device) -> bool:
        """Pinned by ``debug migrating``, or inside its own slice of a live update window.

        Devices hand over one by one in BDF order, each during 1/n of the update time.
        """
        if dev.migrating_pin:
            return True
        upd = self.state.update
        if not upd.active(self.now):
            return False
        index = self.state.bdf_rank(dev.vuid)
        slot = upd.duration / len(self.state.devices)
        return upd.start + index * slot <= self.now < upd.start + (index + 1) * slot

    def _put(self, dev: Device, *, record: bool = True) -> Device:
        self.state.put(dev)
        if record and self.conf.recovery:
            self.persist.write_record(dev.vuid, record_for(dev))
        return dev

    # ---- hotplug / unplug --------------------------------------------------------
    def hotplug(  # noqa: PLR0917 - mirrors the vendor's hotplug options one to one
        self,
        ib_device: str,
        mac: str,
        mtu: int,
        max_queues: int,
        max_queue_size: int,
        features: int | None = None,
        sf_num: int | None = None,
        legacy: bool = False,
    ) -> Device:
        """Create a hotplug PF on the lowest free switch port (reference 3.1)."""
        self._refuse_hotplug_during_update()
        profile, ports = self.dpu.profile, self.conf.port_devs
        if ib_device not in ports:
            hint = " (LAG is enabled: use the bond device)" if self.conf.is_lag else ""
            raise VendorError(E.EINVAL, f"Invalid ib device {ib_device}{hint}")
        _check_mac(mac)
        _check_mtu(mtu)
        _check_queue_size(max_queue_size)
        limit = min(profile.num_msix, MAX_VIRT_QUEUES)
        if not 1 <= max_queues <= limit:
            raise VendorError(E.EINVAL, f"Invalid max queues {max_queues} (1-{limit})")
        feats = self.conf.features("static_pf") if features is None else _check_features(features)
        if len(self.state.hot_ports) >= profile.hotplug_ports:
            raise VendorError(E.ENOSPC, "No free PCIe switch port for hotplug")
        pf_num = ports[ib_device]
        sf = self._sf_for_hotplug(sf_num, pf_num)
        port = alloc.lowest_free(self.state.hot_ports, 0)
        pf_id = alloc.lowest_free(self.state.pf_ids, profile.num_pf)
        dev = Device(
            vuid=alloc.vuid_for(HOTPLUG, pf_id, port=port),
            kind=HOTPLUG,
            pf_id=pf_id,
            vf_id=None,
            port=port,
            bdf_raw=alloc.hotplug_bdf(port),
            mac=mac.lower(),
            mtu=mtu,
            num_queues=max_queues,
            max_queue_size=max_queue_size,
            features=feats,
            num_msix=profile.num_msix,
            sf_num=sf,
            pf_num=pf_num,
            ib_dev=ib_device,
            legacy=legacy,
            max_queue_pairs=queue_pairs(max_queues),
            rep_name=self._udev_name(pf_num, sf),
        )
        return self._put(dev)

    def _udev_name(self, pf_num: int, sf_num: int) -> str | None:
        """A udev rule's name for a new representor, unless another representor has it."""
        name = self.dpu.udev.get((pf_num, sf_num))
        return None if name is None or name in self.state.rep_names else name

    def _sf_for_hotplug(self, pinned: int | None, pf_num: int) -> int:
        if not self.budget().fits(pf_num, self.state.per_port[pf_num] + 1):
            raise VendorError(E.ENOSPC, f"No free SF on port {pf_num} (PF_TOTAL_SF exhausted)")
        used = self.state.sf_used | {sf for _p, sf, _a in self.dpu.other_sfs}
        if pinned is None:
            return alloc.next_sf(used, alloc.HOTPLUG_SF_BASE)
        if pinned < alloc.SF_MIN:
            raise VendorError(E.EINVAL, f"Invalid SF number {pinned} (must be >= {alloc.SF_MIN})")
        if pinned in used:
            raise VendorError(E.EEXIST, f"SF number {pinned} is already in use")
        return pinned

    def unplug(self, dev: Device) -> None:
        self._refuse_hotplug_during_update()
        if dev.kind != HOTPLUG:
            raise VendorError(E.EPERM, "Only hotplug PF devices can be unplugged")
        if self.migrating(dev):
            raise VendorError(E.EBUSY, "Device is migrating, try again later")
        self.state.remove(dev.vuid)
        self.persist.delete_record(dev.vuid)

    def _refuse_hotplug_during_update(self) -> None:
        # the page: all commands keep working during a live update; the v24.07 page
        # refused hotplug/unplug: mode update_hotplug=refuse models that build
        if self.mode("update_hotplug") == "refuse" and self.state.update.active(self.now):
            raise VendorError(E.EBUSY, "Live update in progress, try again later")

    # ---- modify ------------------------------------------------------------------
    def modify_device(self, dev: Device, changes: dict[str, int | str]) -> Device:
        """Validate, then apply now or (guest driver bound) keep pending until unbind."""
        if self.migrating(dev):
            raise VendorError(E.EBUSY, "Device is migrating, try again later")
        changes = self._validated(dev, changes)
        if dev.driver_bound:
            merged = {**dict(dev.pending), **changes}
            return self._put(replace(dev, pending=tuple(sorted(merged.items()))))
        return self._put(replace(dev, **changes))

    def _validated(self, dev: Device, changes: dict) -> dict:
        out = dict(changes)
        if "mac" in out:
            _check_mac(str(out["mac"]))
            out["mac"] = str(out["mac"]).lower()
        if "mtu" in out:
            _check_mtu(int(out["mtu"]))
        if "max_queue_size" in out:
            _check_queue_size(int(out["max_queue_size"]))
        if "features" in out:
            _check_features(int(out["features"]))
        if "num_msix" in out:
            if dev.kind != VF:
                raise VendorError(E.EOPNOTSUPP, "MSI-X modify is supported on VFs only")
            out["num_queues"] = self._check_vf_msix(dev, int(out["num_msix"]))
        return out

    def _check_vf_msix(self, dev: Device, msix: int) -> int:
        """VF MSI-X come from the PF's shared pool (reference 7.3): default x NUM_VF vectors."""
        profile = self.dpu.profile
        pool = profile.vf_msix * profile.num_vf
        others = self.state.vf_msix[dev.pf_id] - dev.num_msix
        if not 2 <= msix <= min(pool - others, MAX_VIRT_QUEUES):
            raise VendorError(E.EINVAL, f"Invalid MSI-X number {msix} (pool has {pool - others})")
        return msix

    def modify_queue(self, dev: Device, mode: str, period: int, count: int) -> Device:
        if self.migrating(dev):
            raise VendorError(E.EBUSY, "Device is migrating, try again later")
        return self._put(replace(dev, moderation=(mode, period, count)), record=False)

    # ---- guest / host ------------------------------------------------------------
    def guest_bind(self, dev: Device) -> Device:
        """The guest driver probes: status 0 -> 1 -> 3 -> 11 -> 15 (reference section 9)."""
        return self._put(replace(dev, dev_status=0xF), record=False)

    def guest_unbind(self, dev: Device) -> Device:
        """Driver reset: status 0, and values set while bound take effect now."""
        pending = {k: v for k, v in dev.pending if k in _GUEST_FIELDS}
        return self._put(replace(dev, dev_status=0, pending=(), **pending), record=False)

    def host_sriov(self, pf_id: int, numvfs: int) -> None:
        """The host writes sriov_numvfs: VFs appear or go; destroyed VFs lose their records.

        Allowed during a live update (page: "VF creation/deletion works as well").
        """
        old = host_set_sriov(self.dpu, self.persist, pf_id, numvfs)
        for vf_id in range(numvfs, old):
            dev = self.state.by_pf(pf_id, vf_id)
            if dev is not None:
                self.state.remove(dev.vuid)
        parent = self.state.by_pf(pf_id)
        pairs = parent.max_queue_pairs if parent is not None else 1
        budget = self.budget()
        sfs = alloc.SfAllocator(self.state.sf_used | {sf for _p, sf, _a in self.dpu.other_sfs})
        for vf_id in range(old, numvfs):
            vuid = alloc.vuid_for(VF, pf_id, vf_id)
            if vuid in self.state.devices:
                continue
            rec = self.persist.record(vuid) if self.conf.recovery else None
            dev = build_vf(pf_id, vf_id, self.dpu.profile, self.conf, rec or {}, sfs, pairs)
            if dev.sf_num in sfs.used or not budget.fits(
                dev.pf_num, self.state.per_port[dev.pf_num] + 1
            ):
                continue  # no SF for it: not created, as at start
            dev = replace(dev, rep_name=self._udev_name(dev.pf_num, dev.sf_num))
            self.state.put(dev)
            sfs.used.add(dev.sf_num)
            if self.conf.recovery and record_for(dev) != rec:
                self.persist.write_record(vuid, record_for(dev))

    # ---- live update -------------------------------------------------------------
    def update_start(self, duration: float) -> None:
        if self.state.update.active(self.now):
            raise VendorError(E.EBUSY, "Live update already in progress")
        last = self._last_update_status()
        self.state.update = LiveUpdate(
            start=self.now, duration=duration, last_status=last, target=self.dpu.installed
        )

    def _last_update_status(self) -> str:
        upd = self.state.update
        return "success" if upd.start is not None else upd.last_status

    def update_status(self) -> dict:
        upd = self.state.update
        if upd.active(self.now):
            used = round(self.now - upd.start, 6)
            return {
                "status": "active",
                "last live update status": upd.last_status,
                "time_used (s)": used,
            }
        used = upd.duration if upd.start is not None else 0.0
        return {
            "status": "inactive",
            "last live update status": self._last_update_status(),
            "time_used (s)": used,
        }


def host_set_sriov(dpu: DpuState, persist: Persist, pf_id: int, numvfs: int) -> int:
    """The host side of sriov_numvfs (works with the controller stopped too); returns the
    old count. VF records of destroyed VFs are deleted (page's recovery matrix).
    """
    profile = dpu.profile
    if not 0 <= pf_id < profile.num_pf:
        raise VendorError(E.ENODEV, f"No static PF {pf_id}")
    if not 0 <= numvfs <= profile.num_vf:
        raise VendorError(E.EINVAL, f"numvfs must be 0-{profile.num_vf}")
    while len(dpu.sriov) < profile.num_pf:
        dpu.sriov.append(0)
    old = dpu.sriov[pf_id]
    dpu.sriov[pf_id] = numvfs
    for vf_id in range(numvfs, profile.num_vf):
        persist.delete_record(alloc.vuid_for(VF, pf_id, vf_id))
    return old


def _check_mac(mac: str) -> None:
    if len(mac) != 17:  # the vendor checks the length only
        raise VendorError(E.EINVAL, f"Invalid MAC address length: {mac}")


def _check_mtu(mtu: int) -> None:
    if not 68 <= mtu <= 9216:
        raise VendorError(E.EINVAL, f"Invalid MTU {mtu} (68-9216)")


def _check_queue_size(size: int) -> None:
    if not 2 <= size <= 32768 or size & (size - 1):
        raise VendorError(E.EINVAL, f"Invalid queue size {size} (power of two, 2-32768)")


def _check_features(features: int) -> int:
    if features & ~SUPPORTED_FEATURES:
        extra = features & ~SUPPORTED_FEATURES
        raise VendorError(E.EINVAL, f"Unsupported feature bits 0x{extra:x}")
    return features
