"""The emulated controller's operations: hotplug, unplug, modify, guest, host, live update, boot."""

from __future__ import annotations

import errno as E
from dataclasses import replace

from reconciler.emulator import alloc
from reconciler.emulator.boot import boot_devices
from reconciler.emulator.conf import ConfView, conf_problems
from reconciler.emulator.features_cap import SUPPORTED_FEATURES
from reconciler.emulator.recovery import record_for
from reconciler.emulator.state import (
    HOTPLUG,
    VF,
    ControllerState,
    Device,
    LiveUpdate,
)
from reconciler.emulator.store import Store

__all__ = ["MAX_VIRT_QUEUES", "Controller", "VendorError"]

MAX_VIRT_QUEUES = 256
_GUEST_FIELDS = ("mac", "mtu", "features", "num_msix", "num_queues", "max_queue_size")


class VendorError(Exception):
    """A JSON-RPC error the controller returns: ``code`` is minus a Linux errno."""

    def __init__(self, err: int, message: str) -> None:
        super().__init__(message)
        self.errno = err
        self.message = message


class Controller:
    """Operations on one :class:`ControllerState`; every check the vendor makes, no more."""

    def __init__(self, state: ControllerState, store: Store, now: float) -> None:
        self.state = state
        self.store = store
        self.now = now

    @property
    def conf(self) -> ConfView:
        return ConfView(self.state.conf)

    # ---- lifecycle -------------------------------------------------------------
    def boot(self) -> None:
        """(Re)start: read virtnet.conf, rebuild devices from firmware + host + records."""
        raw = self.store.read_conf() or {}
        problems = conf_problems(raw, self.state.profile.num_vf)
        self.state.conf = raw if not problems else {}
        self.state.running = bool(self.state.profile.emulation_enable)
        self.state.started_at = self.now
        self.state.update = replace(self.state.update, start=None)
        if not self.state.running:
            self.state.devices = {}
            return
        devices, fresh = boot_devices(
            self.state.profile, self.state.sriov, self.conf, self.store.records()
        )
        self.state.devices = devices
        self.store.write_records(fresh)

    def power_cycle(self) -> None:
        """Next-boot firmware becomes current; the host re-creates its VFs, up to the new limit."""
        self.state.profile = self.state.next_profile
        num_pf, num_vf = self.state.profile.num_pf, self.state.profile.num_vf
        self.state.sriov = [num_vf] * num_pf
        self.boot()

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
        order = sorted(self.state.devices.values(), key=lambda d: (d.bdf_raw, d.vuid))
        index = next(i for i, d in enumerate(order) if d.vuid == dev.vuid)
        slot = upd.duration / len(order)
        return upd.start + index * slot <= self.now < upd.start + (index + 1) * slot

    def _put(self, dev: Device, *, record: bool = True) -> Device:
        self.state.devices[dev.vuid] = dev
        if record and self.conf.recovery:
            self.store.write_record(dev.vuid, record_for(dev))
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
        self._refuse_during_update()
        profile, ports = self.state.profile, self.conf.port_devs
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
        hot = [d for d in self.state.devices.values() if d.kind == HOTPLUG]
        if len(hot) >= profile.hotplug_ports:
            raise VendorError(E.ENOSPC, "No free PCIe switch port for hotplug")
        pf_num = ports[ib_device]
        sf = self._sf_for_hotplug(sf_num, pf_num)
        port = alloc.lowest_free((d.port for d in hot), 0)
        pf_id = alloc.lowest_free(
            (d.pf_id for d in self.state.devices.values() if d.kind != VF), profile.num_pf
        )
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
        )
        return self._put(dev)

    def _sf_for_hotplug(self, pinned: int | None, pf_num: int) -> int:
        used = {d.sf_num for d in self.state.devices.values()}
        on_port = sum(1 for d in self.state.devices.values() if d.pf_num == pf_num)
        if on_port >= self.state.profile.total_sf:
            raise VendorError(E.ENOSPC, f"No free SF on port {pf_num} (PF_TOTAL_SF exhausted)")
        if pinned is None:
            return alloc.next_sf(used, alloc.HOTPLUG_SF_BASE)
        if pinned < alloc.SF_MIN:
            raise VendorError(E.EINVAL, f"Invalid SF number {pinned} (must be >= {alloc.SF_MIN})")
        if pinned in used:
            raise VendorError(E.EEXIST, f"SF number {pinned} is already in use")
        return pinned

    def unplug(self, dev: Device) -> None:
        self._refuse_during_update()
        if dev.kind != HOTPLUG:
            raise VendorError(E.EPERM, "Only hotplug PF devices can be unplugged")
        if self.migrating(dev):
            raise VendorError(E.EBUSY, "Device is migrating, try again later")
        del self.state.devices[dev.vuid]
        self.store.delete_record(dev.vuid)

    def _refuse_during_update(self) -> None:
        if self.state.update.active(self.now):
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
        profile = self.state.profile
        pool = profile.vf_msix * profile.num_vf
        others = sum(
            d.num_msix
            for d in self.state.devices.values()
            if d.kind == VF and d.pf_id == dev.pf_id and d.vuid != dev.vuid
        )
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
        """The host writes sriov_numvfs; destroyed VFs lose their recovery files (matrix)."""
        profile = self.state.profile
        if not 0 <= pf_id < profile.num_pf:
            raise VendorError(E.ENODEV, f"No static PF {pf_id}")
        if not 0 <= numvfs <= profile.num_vf:
            raise VendorError(E.EINVAL, f"numvfs must be 0-{profile.num_vf}")
        self._refuse_during_update()
        while len(self.state.sriov) < profile.num_pf:
            self.state.sriov.append(0)
        self.state.sriov[pf_id] = numvfs
        for vuid, rec in self.store.records().items():
            if (
                rec.get("function_type") == "vf"
                and rec.get("pf_id") == pf_id
                and int(rec.get("vf_id", -1)) >= numvfs
            ):
                self.store.delete_record(vuid)
        if not self.state.running:
            return
        keep = {
            v: d
            for v, d in self.state.devices.items()
            if not (d.kind == VF and d.pf_id == pf_id and d.vf_id >= numvfs)
        }
        self.state.devices = keep
        self._create_missing_vfs()

    def _create_missing_vfs(self) -> None:
        devices, fresh = boot_devices(
            self.state.profile, self.state.sriov, self.conf, self.store.records()
        )
        for vuid, dev in devices.items():
            if vuid not in self.state.devices and dev.kind == VF:
                self.state.devices[vuid] = dev
                if vuid in fresh:
                    self.store.write_record(vuid, fresh[vuid])

    # ---- live update -------------------------------------------------------------
    def update_start(self, duration: float) -> None:
        if self.state.update.active(self.now):
            raise VendorError(E.EBUSY, "Live update already in progress")
        last = self._last_update_status()
        self.state.update = LiveUpdate(start=self.now, duration=duration, last_status=last)

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
