"""Plain frozen dataclasses shared by every layer: desired specs, observed world, plans.

Nothing here performs I/O or holds policy; it is the vocabulary the loader, the
drivers, the planner and the applier use to talk to each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from reconciler.errors import EXIT_OK

__all__ = [
    "Action",
    "Change",
    "ChangeStatus",
    "ControllerConfigSpec",
    "ControllerInfo",
    "CycleResult",
    "DesiredState",
    "DeviceSpec",
    "DeviceType",
    "FirmwareProfileSpec",
    "ObservedDevice",
    "ObservedWorld",
    "OwnershipRecord",
    "Plan",
    "RecoveryRecord",
    "Representor",
    "RepresentorSpec",
    "Source",
    "SpecError",
    "SpecState",
    "SpecStatus",
    "frozen_map",
]


def frozen_map(data=None) -> MappingProxyType:
    """A read-only mapping, so frozen dataclasses stay hashable-in-spirit and unshared."""
    return MappingProxyType(dict(data or {}))


class DeviceType(StrEnum):
    """The three kinds of virtio-net function (reference section 2)."""

    HOTPLUG = "hotplug"
    STATIC_PF = "static_pf"
    VF = "vf"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a spec (or an error) comes from: file, 1-based line and column."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True, slots=True)
class SpecError:
    """One problem in the user's input, rendered as one line: ``file:line:col: path: why``."""

    source: Source
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.source}: {where}{self.message}"


@dataclass(frozen=True, slots=True)
class RepresentorSpec:
    """Kernel side of the device's SF representor netdev; ``None`` fields are not managed."""

    up: bool | None = None
    mtu: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One desired virtio-net device, normalised (MAC lower-case, features as an int).

    ``None`` for an optional field means "not managed": the planner never diffs it.
    """

    name: str
    type: DeviceType
    mac: str
    mtu: int | None = None
    max_queues: int | None = None
    max_queue_size: int | None = None
    features: int | None = None
    msix_num: int | None = None
    sf_num: int | None = None
    legacy: bool = False
    ib_device: str | None = None
    pf_id: int | None = None
    vf_id: int | None = None
    representor: RepresentorSpec | None = None
    labels: MappingProxyType = field(default_factory=frozen_map)
    source: Source | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ControllerConfigSpec:
    """Desired content of ``virtnet.conf`` (a JSON object), from a ``ControllerConfig`` spec."""

    name: str
    content: MappingProxyType
    source: Source | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class FirmwareProfileSpec:
    """mlxconfig values the operator expects (read-only: we never write firmware)."""

    name: str
    values: MappingProxyType  # parameter name -> int
    source: Source | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class DesiredState:
    """Everything the state dir asked for, plus every load error.

    ``complete`` is False when any file failed to load: the planner then never prunes.
    """

    devices: tuple[DeviceSpec, ...] = ()
    controller_config: ControllerConfigSpec | None = None
    firmware: FirmwareProfileSpec | None = None
    errors: tuple[SpecError, ...] = ()
    # names of specs that were declared but rejected (overlaps, bad fields): never pruned
    rejected: frozenset[str] = frozenset()

    @property
    def complete(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class ObservedDevice:
    """One device as the controller reports it, normalised like :class:`DeviceSpec`.

    ``migrating`` devices carry only their identity (the controller hides the rest).
    """

    vuid: str
    type: DeviceType
    pf_id: int | None
    vf_id: int | None = None
    mac: str | None = None
    mtu: int | None = None
    max_queues: int | None = None
    max_queue_size: int | None = None
    features: int | None = None
    msix_num: int | None = None
    sf_num: int | None = None
    legacy: bool = False
    ib_device: str | None = None
    bdf: str | None = None
    representor: str | None = None
    driver_status: int = 0  # virtio device-status byte set by the guest driver
    migrating: bool = False

    @property
    def driver_bound(self) -> bool:
        """A guest driver owns the device (ACKNOWLEDGE|DRIVER seen, not reset)."""
        return bool(self.driver_status & 0x2)


@dataclass(frozen=True, slots=True)
class RecoveryRecord:
    """One recovery file (name = VUID) with the vendor's field names (reference section 6)."""

    vuid: str
    port_ib_dev: str | None
    pf_id: int | None
    function_type: str | None  # "pf" | "vf"
    vf_id: int | None = None
    bdf_raw: int | None = None
    device_type: str | None = None  # "static" | "hotplug" (PFs only)
    mac: str | None = None
    pf_num: int | None = None
    sf_num: int | None = None
    mq: int | None = None
    path: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Representor:
    """An SF representor netdev as the kernel reports it."""

    name: str
    ifindex: int
    up: bool
    mtu: int


@dataclass(frozen=True, slots=True)
class ControllerInfo:
    """Controller-level facts from ``virtnet list`` / ``update -t`` / ``version`` / mlxconfig."""

    max_hotplug_devices: int | None = None
    max_virt_queues: int | None = None
    supported_features: int | None = None
    live_update_active: bool = False
    version: str | None = None
    # the firmware values actually in force (mlxconfig), parameter name -> int
    firmware: MappingProxyType = field(default_factory=frozen_map)
    # when the running controller started (epoch seconds), if the controller says
    started_at: float | None = None
    # mlxconfig "Next Boot" values: what the next cold power cycle brings
    firmware_next_boot: MappingProxyType = field(default_factory=frozen_map)


@dataclass(frozen=True, slots=True)
class ObservedWorld:
    """One consistent observation per cycle (one ``list`` call, not one call per device).

    ``representors`` / ``rdma_devices`` are ``None`` when that source could not be
    read; the reason is in ``notes`` and the planner does not act on it.
    """

    controller: ControllerInfo
    devices: tuple[ObservedDevice, ...]
    recovery: tuple[RecoveryRecord, ...] = ()
    representors: MappingProxyType | None = None  # name -> Representor
    rdma_devices: tuple[str, ...] | None = None
    config_on_disk: MappingProxyType | None = None  # parsed virtnet.conf, None if absent
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OwnershipRecord:
    """Our own record that we created (or adopted) a device: the only basis for pruning."""

    name: str
    vuid: str
    mac: str
    type: DeviceType
    pf_id: int | None = None
    vf_id: int | None = None
    sf_num: int | None = None
    adopted: bool = False


class Action(StrEnum):
    """What a change does (the contract's ``action`` values)."""

    HOTPLUG = "hotplug"
    UNPLUG = "unplug"
    MODIFY = "modify"
    REPLACE = "replace"
    CONFIG = "config"
    RECOVERY_CLEANUP = "recovery_cleanup"
    REPRESENTOR = "representor"


class ChangeStatus(StrEnum):
    READY = "ready"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class Change:
    """One planned step. ``fields`` maps a field to ``(old, new)``.

    ``vuid`` identifies the live device the change touches (``None`` for a hotplug);
    ``spec`` is the desired device, when there is one.
    """

    action: Action
    name: str
    fields: MappingProxyType = field(default_factory=frozen_map)
    status: ChangeStatus = ChangeStatus.READY
    reason: str | None = None
    vuid: str | None = None
    spec: DeviceSpec | None = field(default=None, compare=False)
    observed: ObservedDevice | None = field(default=None, compare=False)
    # temporary blocks (migrating, live update) are retried with backoff
    temporary: bool = False

    @property
    def ready(self) -> bool:
        return self.status is ChangeStatus.READY

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON shape of a change (DESIGN.md section 4)."""
        out: dict[str, Any] = {
            "action": self.action.value,
            "name": self.name,
            "fields": {k: [_jsonable(o), _jsonable(n)] for k, (o, n) in self.fields.items()},
            "status": self.status.value,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.vuid:
            out["vuid"] = self.vuid
        return out


def _jsonable(value):
    if isinstance(value, MappingProxyType):
        return dict(value)
    return value


@dataclass(frozen=True, slots=True)
class Plan:
    """Ordered changes plus what the planner noticed but will not touch.

    ``adoptions`` are ownership records to add (no controller call);
    ``errors`` are plan-level failures (firmware limits, overlaps) that stop
    every mutating call; ``unmanaged`` lists devices nobody declared.
    """

    changes: tuple[Change, ...] = ()
    adoptions: tuple[OwnershipRecord, ...] = ()
    forget: tuple[str, ...] = ()  # inventory names whose device is observed gone
    unmanaged: tuple[ObservedDevice, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ready(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.ready)

    @property
    def blocked(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not c.ready)

    @property
    def empty(self) -> bool:
        return not self.changes


class SpecState(StrEnum):
    """What ``virtnet status`` says of one spec. ``applied`` only when observed to match."""

    APPLIED = "applied"
    PENDING = "pending"
    BLOCKED = "blocked"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SpecStatus:
    """The last reconcile result of one spec.

    ``generation`` is a digest of the spec's content, so a reader can tell which
    version of the spec the state refers to; ``since`` is when ``state`` began
    (epoch seconds); ``temporary`` errors will be retried, others need the operator.
    """

    name: str
    state: SpecState
    reason: str | None = None
    generation: str | None = None
    since: float | None = None
    last_change: float | None = None
    temporary: bool = False


@dataclass(frozen=True, slots=True)
class CycleResult:
    """Everything one reconcile cycle did, for the CLI, the status file and the metrics.

    ``failed`` holds ``(name, message, temporary)`` per change that the controller
    refused; ``mutating_calls`` counts hotplug/unplug/modify calls actually made.
    """

    plan: Plan
    statuses: tuple[SpecStatus, ...] = ()
    applied: tuple[Change, ...] = ()
    failed: tuple[tuple[str, str, bool], ...] = ()
    errors: tuple[str, ...] = ()
    mutating_calls: int = 0
    observe_calls: int = 0
    drift_repaired: int = 0
    duration_s: float = 0.0
    exit_code: int = EXIT_OK
