"""The planner: every kind's diff, merged, with the cross-kind rules applied (pure, no I/O).

Each kind in :mod:`reconciler.resources.registry` says what it needs; this module
only puts their answers together: holds (backoff, live update, a hotplug waiting for
the config's restart, a missing RDMA device), MAC settling and order (no two devices
ever share a MAC, a MAC's giver runs before its taker), and the firmware limits that
stop every mutating call. The controller restart runs first, record cleanups last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from reconciler.fields import HOTPLUG_DEFAULTS
from reconciler.model import (
    Action,
    DesiredState,
    ObservedWorld,
    OwnershipRecord,
    Plan,
)
from reconciler.plan.holds import after_config, hold, needs_rdma_device
from reconciler.plan.limits import limit_errors
from reconciler.plan.order import settle
from reconciler.resources.base import DiffOptions, DiffResult
from reconciler.resources.registry import DIFFS

__all__ = ["PlanOptions", "plan"]

_FIRST = frozenset({Action.CONFIG})  # the restart: device changes then meet the new controller
_LAST = frozenset({Action.RECOVERY_CLEANUP})  # records follow the devices, never lead them


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """How bold one cycle may be.

    ``hold``: names the watch loop is backing off from (their changes wait this cycle).
    ``firmware``: mlxconfig values in force, or None when unknown (limits not checked).
    ``defaults``: hotplug values for fields a spec omits; never diffed afterwards.
    ``allow_restart``: a changed ControllerConfig may restart the controller.
    ``restart_owed``: virtnet.conf was written but the controller not restarted since.
    """

    prune: bool = False
    allow_replace: bool = False
    allow_restart: bool = False
    hold: frozenset[str] = frozenset()
    firmware: Mapping[str, int] | None = None
    defaults: Mapping[str, int] = field(default_factory=lambda: HOTPLUG_DEFAULTS)
    restart_owed: bool = False

    def for_kinds(self, inventory: Mapping[str, OwnershipRecord]) -> DiffOptions:
        """What each kind's diff is given (the hold is the planner's own business)."""
        return DiffOptions(
            prune=self.prune,
            allow_replace=self.allow_replace,
            allow_restart=self.allow_restart,
            restart_owed=self.restart_owed,
            firmware=self.firmware,
            defaults=self.defaults,
            inventory=MappingProxyType(inventory),  # a read-only view: no copy per replan
        )


def plan(
    desired: DesiredState,
    observed: ObservedWorld,
    inventory: Mapping[str, OwnershipRecord],
    options: PlanOptions | None = None,
) -> Plan:
    """Diff desired against observed; ``Plan.changes`` is empty exactly when nothing needs doing."""
    options = options or PlanOptions()
    kinds = options.for_kinds(inventory)
    merged = sum((diff(desired, observed, kinds) for diff in DIFFS), DiffResult())
    live_update = observed.controller.live_update_active
    first = [hold(c, options.hold, False) for c in merged.changes if c.action in _FIRST]
    last = [c for c in merged.changes if c.action in _LAST]
    devices = [
        hold(c, options.hold, live_update) for c in merged.changes if c.action not in _FIRST | _LAST
    ]
    ordered = settle(devices, observed, merged.claimed)
    if any(not c.ready for c in first):
        ordered = tuple(after_config(c, desired, observed) for c in ordered)
    if observed.rdma_devices is not None:
        ordered = tuple(needs_rdma_device(c, observed.rdma_devices) for c in ordered)
    specs = [s for s in desired.devices if s.name not in desired.rejected]
    return Plan(
        changes=(*first, *ordered, *last),
        adoptions=merged.adoptions,
        forget=tuple(sorted(merged.forget)),
        unmanaged=merged.unmanaged,
        errors=tuple(limit_errors(specs, observed, ordered, options.firmware, options.defaults)),
        warnings=merged.warnings,
    )
