"""The model: devices, the running controller's state (indexed) and the DPU around it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields

from reconciler.emulator.faults import FaultConfig
from reconciler.emulator.firmware import DEFAULT_PROFILE, FirmwareProfile

__all__ = [
    "CONTROLLER_VERSION",
    "HOTPLUG",
    "STATIC",
    "VF",
    "ControllerState",
    "Device",
    "DpuState",
    "LiveUpdate",
    "bdf_text",
    "representor_name",
]

STATIC = "static"
HOTPLUG = "hotplug"
VF = "vf"

DEFAULT_MTU = 1500
DEFAULT_QUEUE_SIZE = 256
# the controller version a fresh emulated DPU has installed and runs
CONTROLLER_VERSION = "v24.10.16"


@dataclass(frozen=True, slots=True)
class Device:
    """One emulated virtio-net function as the controller holds it.

    ``pending`` holds modify values accepted while the guest driver was bound:
    they become running values at the next driver reset (guest unbind).
    ``rep_name`` is the representor name a udev rule gave at creation (None: default).
    """

    vuid: str
    kind: str  # STATIC | HOTPLUG | VF
    pf_id: int
    vf_id: int | None
    port: int | None  # switch port of a hotplug PF
    bdf_raw: int
    mac: str  # lower-case
    mtu: int
    num_queues: int
    max_queue_size: int
    features: int
    num_msix: int
    sf_num: int
    pf_num: int
    ib_dev: str
    legacy: bool = False
    dev_status: int = 0
    ifindex: int = 0
    pending: tuple[tuple[str, int | str], ...] = ()
    migrating_pin: bool = False
    moderation: tuple[str, int, int] | None = None
    max_queue_pairs: int = 1
    rep_name: str | None = None

    @property
    def representor(self) -> str:
        return self.rep_name or representor_name(self.pf_num, self.sf_num)

    @property
    def driver_bound(self) -> bool:
        return bool(self.dev_status & 0x2)

    def to_row(self) -> list:
        """Positional list: keeps a 16384-device snapshot small and quick to parse."""
        return [getattr(self, name) for name in _FIELDS]

    @classmethod
    def from_row(cls, row: list) -> Device:
        values = dict(zip(_FIELDS, row, strict=True))
        values["pending"] = tuple(tuple(p) for p in values["pending"])
        if values["moderation"] is not None:
            values["moderation"] = tuple(values["moderation"])
        return cls(**values)


_FIELDS = tuple(f.name for f in fields(Device))


def representor_name(pf_num: int, sf_num: int) -> str:
    """The default udev name of an SF representor (page): ``en3f0pf0sf2000``."""
    return f"en3f{pf_num}pf{pf_num}sf{sf_num}"


def bdf_text(bdf_raw: int, *, padded: bool = True) -> str:
    """``bus:dev.fn`` from the 16-bit routing id (``bus<<8 | dev<<3 | fn``)."""
    bus, dev, fn = bdf_raw >> 8, (bdf_raw >> 3) & 0x1F, bdf_raw & 0x7
    return f"{bus:02x}:{dev:02x}.{fn}" if padded else f"{bus:02x}:{dev}.{fn}"


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """A live update: started at ``start`` (epoch s), lasting ``duration`` s of wall time.

    ``target`` is the version the controller runs once the update is over.
    """

    start: float | None = None
    duration: float = 2.0
    last_status: str = "none"
    target: str | None = None

    def active(self, now: float) -> bool:
        return self.start is not None and now < self.start + self.duration

    def over(self, now: float) -> bool:
        return self.start is not None and now >= self.start + self.duration


@dataclass(slots=True)
class ControllerState:
    """The running controller's memory: what a crash or restart loses (records survive).

    Devices are reached through indexes kept by :meth:`put` / :meth:`remove` /
    :meth:`reset`, so no call scans every device: per-call cost does not grow with
    the device count (DESIGN 6). Never assign ``devices`` directly.
    """

    started_at: float = 0.0
    conf: dict = field(default_factory=dict)
    update: LiveUpdate = field(default_factory=LiveUpdate)
    log_level: str = "info"
    version: str = CONTROLLER_VERSION
    devices: dict[str, Device] = field(default_factory=dict)
    # indexes (derived from devices)
    by_id: dict[tuple[int, int | None], str] = field(default_factory=dict)
    sf_used: set[int] = field(default_factory=set)
    per_port: Counter = field(default_factory=Counter)
    hot_ports: dict[int, str] = field(default_factory=dict)
    pf_ids: set[int] = field(default_factory=set)
    vf_msix: Counter = field(default_factory=Counter)
    rep_names: dict[str, str] = field(default_factory=dict)  # representor -> vuid
    reps_changed: bool = False
    _order: list[str] | None = None  # vuids
    _bdf_rank: dict[str, int] | None = None

    # ---- mutation ------------------------------------------------------------------
    def put(self, dev: Device) -> Device:
        old = self.devices.get(dev.vuid)
        if old is not None:
            self._unindex(old)
        self.devices[dev.vuid] = dev
        self._index(dev)
        if old is None or old.pf_id != dev.pf_id or old.vf_id != dev.vf_id:
            self._order = None
            self._bdf_rank = None
        if old is None or old.representor != dev.representor:
            self.reps_changed = True
        return dev

    def remove(self, vuid: str) -> Device | None:
        dev = self.devices.pop(vuid, None)
        if dev is not None:
            self._unindex(dev)
            self._order = None
            self._bdf_rank = None
            self.reps_changed = True
        return dev

    def reset(self, devices: dict[str, Device]) -> None:
        self.devices = {}
        self.by_id, self.sf_used, self.per_port = {}, set(), Counter()
        self.hot_ports, self.pf_ids, self.vf_msix = {}, set(), Counter()
        self.rep_names = {}
        self._order = self._bdf_rank = None
        self.reps_changed = True
        for dev in devices.values():
            self.devices[dev.vuid] = dev
            self._index(dev)

    def _index(self, dev: Device) -> None:
        self.by_id[(dev.pf_id, dev.vf_id if dev.kind == VF else None)] = dev.vuid
        self.sf_used.add(dev.sf_num)
        self.rep_names[dev.representor] = dev.vuid
        self.per_port[dev.pf_num] += 1
        if dev.kind == HOTPLUG:
            self.hot_ports[dev.port] = dev.vuid
        if dev.kind == VF:
            self.vf_msix[dev.pf_id] += dev.num_msix
        else:
            self.pf_ids.add(dev.pf_id)

    def _unindex(self, dev: Device) -> None:
        self.by_id.pop((dev.pf_id, dev.vf_id if dev.kind == VF else None), None)
        self.sf_used.discard(dev.sf_num)
        if self.rep_names.get(dev.representor) == dev.vuid:
            del self.rep_names[dev.representor]
        self.per_port[dev.pf_num] -= 1
        if dev.kind == HOTPLUG:
            self.hot_ports.pop(dev.port, None)
        if dev.kind == VF:
            self.vf_msix[dev.pf_id] -= dev.num_msix
        else:
            self.pf_ids.discard(dev.pf_id)

    # ---- lookup ----------------------------------------------------------------------
    def by_pf(self, pf_id: int, vf_id: int | None = None) -> Device | None:
        vuid = self.by_id.get((pf_id, vf_id))
        return None if vuid is None else self.devices[vuid]

    def ordered(self) -> list[Device]:
        """Devices as the controller lists them: by pf_id, a PF before its VFs (cached)."""
        if self._order is None:
            order = sorted(
                self.devices.values(), key=lambda d: (d.pf_id, -1 if d.vf_id is None else d.vf_id)
            )
            self._order = [d.vuid for d in order]
        devices = self.devices
        return [devices[v] for v in self._order]

    def bdf_rank(self, vuid: str) -> int:
        """Position of a device in host BDF order: live update hands devices over in it."""
        if self._bdf_rank is None:
            order = sorted(self.devices.values(), key=lambda d: (d.bdf_raw, d.vuid))
            self._bdf_rank = {d.vuid: i for i, d in enumerate(order)}
        return self._bdf_rank[vuid]

    # ---- hibernation ------------------------------------------------------------------
    def to_json(self) -> dict:
        upd = self.update
        return {
            "started_at": self.started_at,
            "conf": self.conf,
            "update": [upd.start, upd.duration, upd.last_status, upd.target],
            "log_level": self.log_level,
            "version": self.version,
            "devices": [d.to_row() for d in self.devices.values()],
        }

    @classmethod
    def from_json(cls, data: dict) -> ControllerState:
        start, duration, last, target = data["update"]
        state = cls(
            started_at=float(data["started_at"]),
            conf=dict(data["conf"]),
            update=LiveUpdate(start, duration, last, target),
            log_level=str(data["log_level"]),
            version=str(data["version"]),
        )
        state.reset({d.vuid: d for d in (Device.from_row(r) for r in data["devices"])})
        return state


@dataclass(slots=True)
class DpuState:
    """The DPU around the controller: what survives the controller (``dpu.json``).

    Firmware (``profile`` in force, ``next_profile`` for the next power cycle), the
    host's ``sriov_numvfs`` per static PF, the installed controller package, SFs held
    by other applications and the controller's SF pool per port, udev rules naming
    representors, fault plan, emulator modes, and ``stopped`` (the operator stopped the
    service: no start on first use).
    """

    profile: FirmwareProfile = DEFAULT_PROFILE
    next_profile: FirmwareProfile = DEFAULT_PROFILE
    sriov: list[int] = field(default_factory=list)
    installed: str = CONTROLLER_VERSION
    other_sfs: list[tuple[int, int, str]] = field(default_factory=list)  # port, sfnum, app
    sf_pool: dict[int, int] = field(default_factory=dict)  # port -> SFs reserved
    udev: dict[tuple[int, int], str] = field(default_factory=dict)  # (pf_num, sf_num) -> name
    faults: FaultConfig = field(default_factory=FaultConfig)
    modes: dict[str, object] = field(default_factory=dict)
    netns: str | None = None
    stopped: bool = False

    def others_on(self, port: int) -> int:
        return sum(1 for p, _sf, _app in self.other_sfs if p == port)

    def to_json(self) -> dict:
        return {
            "format": 1,
            "stopped": self.stopped,
            "firmware": {
                "current": self.profile.to_params(),
                "next_boot": self.next_profile.to_params(),
            },
            "sriov": self.sriov,
            "installed": self.installed,
            "other_sfs": [list(x) for x in self.other_sfs],
            "sf_pool": {str(k): v for k, v in self.sf_pool.items()},
            "udev": [[p, s, name] for (p, s), name in sorted(self.udev.items())],
            "faults": self.faults.to_json(),
            "modes": self.modes,
            "netns": self.netns,
        }

    @classmethod
    def from_json(cls, data: dict) -> DpuState:
        fw = data["firmware"]
        return cls(
            profile=FirmwareProfile.from_params(fw["current"]),
            next_profile=FirmwareProfile.from_params(fw["next_boot"]),
            sriov=[int(n) for n in data["sriov"]],
            installed=str(data["installed"]),
            other_sfs=[(int(p), int(s), str(a)) for p, s, a in data["other_sfs"]],
            sf_pool={int(k): int(v) for k, v in data["sf_pool"].items()},
            udev={(int(p), int(s)): str(n) for p, s, n in data["udev"]},
            faults=FaultConfig.from_json(data["faults"]),
            modes=dict(data["modes"]),
            netns=data.get("netns"),
            stopped=bool(data["stopped"]),
        )
