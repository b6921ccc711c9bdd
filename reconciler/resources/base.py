"""The small surface every kind shares: what normalisation returns, what a diff takes and gives.

A kind's pure module (``resources/<kind>.py``) offers ``normalise(document, source)``
for its spec documents and ``diff(desired, observed, options)`` for the changes it
needs; its apply module (``resources/<kind>_apply.py``) offers ``HANDLERS``, one per
action, each called as ``handler(run, change)`` with the executor's :class:`Execution`.
Both halves are registered once in :mod:`reconciler.resources.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.fields import HOTPLUG_DEFAULTS
from reconciler.model import (
    Change,
    ControllerConfigSpec,
    DesiredState,
    DeviceSpec,
    FirmwareProfileSpec,
    ObservedDevice,
    ObservedWorld,
    OwnershipRecord,
    Source,
    frozen_map,
)

__all__ = [
    "Diff",
    "DiffOptions",
    "DiffResult",
    "Execution",
    "Handler",
    "Normalise",
    "Normalised",
    "Problem",
]

# One problem in a document: the path of the offending node (for its file:line:col) and why.
Problem = tuple[tuple[str | int, ...], str]


@dataclass(frozen=True, slots=True)
class Normalised:
    """What one schema-valid document becomes: model specs, or the problems that stop it.

    ``problems`` holds ``(path, message)`` pairs; the loader turns each path into the
    document's ``file:line:col`` and rejects every spec of a document that has one.
    """

    devices: tuple[DeviceSpec, ...] = ()
    config: ControllerConfigSpec | None = None
    firmware: FirmwareProfileSpec | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class DiffOptions:
    """What a kind's diff may depend on besides the desired and the observed state.

    The CLI's flags (``--prune``, ``--allow-replace``, ``--allow-restart``); whether a
    written virtnet.conf still waits for a controller restart (our journal's marker);
    the firmware values in force (None: unknown); the values hotplug gets for fields a
    spec omits; and our ownership records (the only basis for adopting or pruning).
    """

    prune: bool = False
    allow_replace: bool = False
    allow_restart: bool = False
    restart_owed: bool = False
    firmware: Mapping[str, int] | None = None
    defaults: Mapping[str, int] = field(default_factory=lambda: HOTPLUG_DEFAULTS)
    inventory: Mapping[str, OwnershipRecord] = field(default_factory=frozen_map)


@dataclass(frozen=True, slots=True)
class DiffResult:
    """What one kind needs: changes for the plan, warnings for the operator to read.

    Devices also report ``adoptions`` (ownership records to add, no controller call),
    ``forget`` (records whose device is gone), ``unmanaged`` (devices nobody declared)
    and ``claimed`` (VUID -> the spec that claims it, so messages can name it).
    """

    changes: tuple[Change, ...] = ()
    warnings: tuple[str, ...] = ()
    adoptions: tuple[OwnershipRecord, ...] = ()
    forget: frozenset[str] = frozenset()
    unmanaged: tuple[ObservedDevice, ...] = ()
    claimed: Mapping[str, str] = field(default_factory=frozen_map)

    def __add__(self, other: DiffResult) -> DiffResult:
        claimed = self.claimed
        if other.claimed:
            claimed = frozen_map({**claimed, **other.claimed}) if claimed else other.claimed
        return DiffResult(
            self.changes + other.changes,
            self.warnings + other.warnings,
            self.adoptions + other.adoptions,
            self.forget | other.forget,
            self.unmanaged + other.unmanaged,
            claimed,
        )


class Execution(Protocol):
    """What an apply handler may use: the backend for I/O, and the executor's bookkeeping.

    ``journaled`` writes the intent before the block and clears it when the block
    succeeds (an exception leaves it for the next run to settle); ``mutating_call``
    counts one controller call that changes something; ``on_undo`` registers the
    inverse step ``--atomic`` runs if a later change fails; ``own``/``disown`` keep the
    ownership inventory (saved at once); ``is_live`` says whether a live device has the
    VUID now (including one hotplugged earlier in this run).
    """

    backend: Any
    inventory: Mapping[str, OwnershipRecord]

    def journaled(self, op: str, name: str, **ids: Any) -> AbstractContextManager[None]: ...

    def mutating_call(self) -> None: ...

    def on_undo(self, step: Callable[[], None]) -> None: ...

    def own(self, record: OwnershipRecord) -> None: ...

    def disown(self, name: str, *, vuid: str | None = None) -> None: ...

    def owe_restart(self, config_name: str) -> None: ...

    def restart_done(self) -> None: ...

    def is_live(self, vuid: str) -> bool: ...


Handler = Callable[[Execution, Change], None]
Normalise = Callable[[Mapping[str, Any], Source], Normalised]
Diff = Callable[[DesiredState, ObservedWorld, DiffOptions], DiffResult]
