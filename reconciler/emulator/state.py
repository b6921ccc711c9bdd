"""The controller model: devices and controller-wide state, with a compact JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from reconciler.emulator.faults import FaultConfig
from reconciler.emulator.firmware import DEFAULT_PROFILE, FirmwareProfile

__all__ = [
    "HOTPLUG",
    "STATIC",
    "VF",
    "ControllerState",
    "Device",
    "LiveUpdate",
    "bdf_text",
    "representor_name",
]

STATIC = "static"
HOTPLUG = "hotplug"
VF = "vf"

DEFAULT_MTU = 1500
DEFAULT_QUEUE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Device:
    """One emulated virtio-net function as the controller holds it.

    ``pending`` holds modify values accepted while the guest driver was bound:
    they become running values at the next driver reset (guest unbind).
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

    @property
    def representor(self) -> str:
        return representor_name(self.pf_num, self.sf_num)

    @property
    def driver_bound(self) -> bool:
        return bool(self.dev_status & 0x2)

    def to_row(self) -> list:
        """Positional list: keeps a 4096-device state file small and quick to parse."""
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
    """The udev name of an SF representor (reference section 8): ``en3f0pf0sf2000``."""
    return f"en3f{pf_num}pf{pf_num}sf{sf_num}"


def bdf_text(bdf_raw: int, *, padded: bool = True) -> str:
    """``bus:dev.fn`` from the 16-bit routing id (``bus<<8 | dev<<3 | fn``)."""
    bus, dev, fn = bdf_raw >> 8, (bdf_raw >> 3) & 0x1F, bdf_raw & 0x7
    return f"{bus:02x}:{dev:02x}.{fn}" if padded else f"{bus:02x}:{dev}.{fn}"


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """A live update: started at ``start`` (epoch s), lasting ``duration`` s of wall time."""

    start: float | None = None
    duration: float = 2.0
    last_status: str = "none"

    def active(self, now: float) -> bool:
        return self.start is not None and now < self.start + self.duration


@dataclass(slots=True)
class ControllerState:
    """Everything the emulated DPU holds; the one mutable aggregate, guarded by the store lock.

    ``running`` is the controller process; ``profile`` the firmware in force and
    ``next_profile`` the values set for the next power cycle; ``conf`` the
    ``virtnet.conf`` read at the last start; ``sriov`` the host's ``sriov_numvfs``
    per static PF.
    """

    running: bool = True
    started_at: float = 0.0
    profile: FirmwareProfile = DEFAULT_PROFILE
    next_profile: FirmwareProfile = DEFAULT_PROFILE
    conf: dict = field(default_factory=dict)
    sriov: list[int] = field(default_factory=list)
    devices: dict[str, Device] = field(default_factory=dict)
    update: LiveUpdate = field(default_factory=LiveUpdate)
    faults: FaultConfig = field(default_factory=FaultConfig)
    netns: str | None = None
    log_level: str = "info"

    def to_json(self) -> dict:
        return {
            "running": self.running,
            "started_at": self.started_at,
            "profile": self.profile.to_params(),
            "next_profile": self.next_profile.to_params(),
            "conf": self.conf,
            "sriov": self.sriov,
            "update": [self.update.start, self.update.duration, self.update.last_status],
            "faults": self.faults.to_json(),
            "netns": self.netns,
            "log_level": self.log_level,
            "devices": [d.to_row() for d in self.devices.values()],
        }

    @classmethod
    def from_json(cls, data: dict) -> ControllerState:
        devices = (Device.from_row(row) for row in data["devices"])
        start, duration, last = data["update"]
        return cls(
            running=data["running"],
            started_at=data["started_at"],
            profile=FirmwareProfile.from_params(data["profile"]),
            next_profile=FirmwareProfile.from_params(data["next_profile"]),
            conf=data["conf"],
            sriov=list(data["sriov"]),
            devices={d.vuid: d for d in devices},
            update=LiveUpdate(start, duration, last),
            faults=FaultConfig.from_json(data["faults"]),
            netns=data.get("netns"),
            log_level=data.get("log_level", "info"),
        )

    def by_pf(self, pf_id: int, vf_id: int | None = None) -> Device | None:
        for dev in self.devices.values():
            if dev.pf_id == pf_id and dev.vf_id == vf_id and (vf_id is not None or dev.kind != VF):
                return dev
        return None
