"""The planner: desired specs + one observation + ownership records -> an ordered plan (pure)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.fields import HOTPLUG_DEFAULTS, Spec
from reconciler.model import (
    Action,
    Change,
    ChangeStatus,
    DesiredState,
    DeviceSpec,
    DeviceType,
    ObservedDevice,
    ObservedWorld,
    OwnershipRecord,
    Plan,
    frozen_map,
)
from reconciler.planning.diff import device_changes, representor_change
from reconciler.planning.limits import limit_errors
from reconciler.planning.match import Index, MatchResult, match_specs, owned_live
from reconciler.planning.order import settle
from reconciler.resources import controller_config, firmware_profile, recovery_records
from reconciler.resources.base import DiffOptions, DiffResult

__all__ = [
    "HOTPLUG_DEFAULTS",
    "REASON_BACKOFF",
    "REASON_LIVE_UPDATE",
    "PlanOptions",
    "plan",
]

REASON_BACKOFF = "backing off after failure"
REASON_LIVE_UPDATE = "controller live update in progress"
_SLOT_ACTIONS = frozenset({Action.HOTPLUG, Action.UNPLUG, Action.REPLACE})


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """How bold one cycle may be.

    ``hold``: names the watch loop is backing off from (their changes wait this cycle).
    ``firmware``: mlxconfig values in force, or None when unknown (limits not checked).
    ``defaults``: hotplug values for fields a spec omits; never diffed afterwards.
    ``allow_restart``: a changed ControllerConfig may restart the controller.
    """

    prune: bool = False
    allow_replace: bool = False
    allow_restart: bool = False
    hold: frozenset[str] = frozenset()
    firmware: Mapping[str, int] | None = None
    defaults: Mapping[str, int] = field(default_factory=lambda: HOTPLUG_DEFAULTS)
    restart_owed: bool = False


def plan(
    desired: DesiredState,
    observed: ObservedWorld,
    inventory: Mapping[str, OwnershipRecord],
    options: PlanOptions | None = None,
) -> Plan:
    """Diff desired against observed; ``Plan.changes`` is empty exactly when nothing needs doing."""
    options = options or PlanOptions()
    specs = [s for s in desired.devices if s.name not in desired.rejected]
    declared = frozenset(s.name for s in desired.devices) | desired.rejected
    index = Index.build(observed)
    matched = match_specs(specs, index, inventory, declared)
    warnings: list[str] = []
    changes: list[Change] = []
    for match in matched.matches:
        changes += device_changes(
            match,
            allow_replace=options.allow_replace,
            defaults=options.defaults,
            firmware=options.firmware,
            warnings=warnings,
        )
        rep = representor_change(match.spec, match.device, observed.representors)
        if rep is not None:
            changes.append(rep)
    changes += _retyped(specs, index, inventory, matched.claimed, options.allow_replace)
    pruned, forget = _prune(desired, index, inventory, matched, options=options, warnings=warnings)
    changes += pruned
    changes = [_hold(c, options.hold, observed.controller.live_update_active) for c in changes]
    ordered = settle(changes, observed, matched.claimed)
    resources = _resources(desired, observed, options)
    warnings += resources.warnings
    config = [_hold(c, options.hold, False) for c in resources.changes
              if c.action is Action.CONFIG]
    cleanups = [c for c in resources.changes if c.action is not Action.CONFIG]
    if any(not c.ready for c in config):
        ordered = tuple(_after_config(c, desired, observed) for c in ordered)
    if observed.rdma_devices is not None:
        ordered = tuple(_needs_rdma_device(c, observed.rdma_devices) for c in ordered)
    return Plan(
        # the restart comes first: the device changes then run against the new controller
        changes=(*config, *ordered, *cleanups),
        adoptions=tuple(matched.adoptions),
        forget=tuple(sorted(forget)),
        unmanaged=_unmanaged(observed, index, matched.claimed, inventory),
        errors=tuple(limit_errors(specs, observed, ordered, options.firmware, options.defaults)),
        warnings=tuple(warnings),
    )


def _after_config(change: Change, desired: DesiredState, observed: ObservedWorld) -> Change:
    """A hotplug on a port that only the pending (blocked) config provides must wait for it."""
    if not change.ready or change.action not in (Action.HOTPLUG, Action.REPLACE):
        return change
    wanted = desired.controller_config
    ib = change.spec.ib_device if change.spec else None
    if wanted is None or ib is None:
        return change
    running = controller_config.port_devices(observed.config_on_disk or {})
    if ib in running or ib not in controller_config.port_devices(wanted.content):
        return change
    reason = (f"ib_device {ib} exists only after the ControllerConfig change "
              "(controller restart): rerun with --allow-restart")
    return dataclasses.replace(change, status=ChangeStatus.BLOCKED, reason=reason)


def _needs_rdma_device(change: Change, rdma_devices: tuple[str, ...]) -> Change:
    """A hotplug names the RDMA device of its port: one that does not exist cannot work."""
    ib = change.spec.ib_device if change.spec else None
    if not change.ready or change.action not in (Action.HOTPLUG, Action.REPLACE) or ib is None:
        return change
    if ib in rdma_devices:
        return change
    known = ", ".join(sorted(rdma_devices)) or "none"
    reason = f"no RDMA device {ib} on this DPU (found: {known})"
    return dataclasses.replace(change, status=ChangeStatus.BLOCKED, reason=reason)


def _resources(desired: DesiredState, observed: ObservedWorld, options: PlanOptions) -> DiffResult:
    """The non-device resources: controller config, recovery records, firmware profile."""
    opts = DiffOptions(allow_restart=options.allow_restart, prune=options.prune,
                       restart_owed=options.restart_owed)
    result = DiffResult()
    for module in (controller_config, recovery_records, firmware_profile):
        result += module.diff(desired, observed, opts)
    return result


def _retyped(
    specs: list[DeviceSpec],
    index: Index,
    inventory: Mapping[str, OwnershipRecord],
    claimed: Mapping[str, str],
    allow_replace: bool,
) -> list[Change]:
    """A spec that stopped being a hotplug leaves our old hotplug device behind: replace it."""
    out = []
    for spec in specs:
        record = inventory.get(spec.name)
        if spec.type is DeviceType.HOTPLUG or record is None:
            continue
        if claimed.get(record.vuid, spec.name) != spec.name:
            continue
        dev = owned_live(record, index)
        if dev is None or dev.type is not DeviceType.HOTPLUG:
            continue
        fields = frozen_map({Spec.TYPE: (DeviceType.HOTPLUG.value, spec.type.value)})
        if allow_replace and dev.driver_bound:
            # as for any replace: never yank a device from under a running guest
            reason = (f"guest driver bound (dev_status {dev.driver_status:#x}): unbind the "
                      "device on the host before it is replaced")
            out.append(Change(Action.UNPLUG, spec.name, fields, ChangeStatus.BLOCKED, reason,
                              vuid=dev.vuid, observed=dev))
        elif allow_replace:
            out.append(Change(Action.UNPLUG, spec.name, fields, vuid=dev.vuid, observed=dev))
        else:
            reason = "immutable field type changed: rerun with --allow-replace"
            out.append(
                Change(
                    Action.REPLACE,
                    spec.name,
                    fields,
                    ChangeStatus.BLOCKED,
                    reason,
                    vuid=dev.vuid,
                    spec=spec,
                    observed=dev,
                )
            )
    return out


def _prune(
    desired: DesiredState,
    index: Index,
    inventory: Mapping[str, OwnershipRecord],
    matched: MatchResult,
    *,
    options: PlanOptions,
    warnings: list[str],
) -> tuple[list[Change], set[str]]:
    """Unplug what we own and nobody declares any more; forget records whose device is gone.

    Never on a partial read, never a static PF or VF, never a device we do not own.
    """
    declared = {s.name for s in desired.devices} | desired.rejected
    forget = set(matched.superseded) | _retyped_gone(desired, index, inventory)
    unplugs = []
    for name in sorted(inventory):
        record = inventory[name]
        if name in declared or name in forget:
            continue
        dev = owned_live(record, index)
        if dev is None or matched.claimed.get(record.vuid, name) != name:
            forget.add(name)
        elif dev.type is not DeviceType.HOTPLUG:
            continue
        elif options.prune and desired.complete:
            unplugs.append(Change(Action.UNPLUG, name, vuid=dev.vuid, observed=dev))
        elif options.prune:
            warnings.append(f"{name}: not unplugged because some spec files failed to load")
        else:
            warnings.append(f"{name} ({dev.vuid}) is no longer declared; apply --prune unplugs it")
    return unplugs, forget


def _retyped_gone(
    desired: DesiredState, index: Index, inventory: Mapping[str, OwnershipRecord]
) -> set[str]:
    """A record kept for a spec that is no longer a hotplug, once its old device is gone."""
    return {
        s.name
        for s in desired.devices
        if s.type is not DeviceType.HOTPLUG
        and s.name in inventory
        and owned_live(inventory[s.name], index) is None
    }


def _hold(change: Change, hold: frozenset[str], live_update: bool) -> Change:
    """Temporary blocks: the watch loop's backoff, and a controller that refuses slot changes."""
    if not change.ready:
        return change
    if change.observed is not None and change.observed.migrating:
        reason = "device migrating (live update)"
    elif live_update and change.action in _SLOT_ACTIONS:
        reason = REASON_LIVE_UPDATE
    elif change.name in hold:
        reason = REASON_BACKOFF
    else:
        return change
    return dataclasses.replace(change, status=ChangeStatus.BLOCKED, reason=reason, temporary=True)


def _unmanaged(
    world: ObservedWorld,
    index: Index,
    claimed: Mapping[str, str],
    inventory: Mapping[str, OwnershipRecord],
) -> tuple[ObservedDevice, ...]:
    """Devices nobody declared and we do not own: reported, never touched."""
    owned = {r.vuid for r in inventory.values() if owned_live(r, index) is not None}
    free = [d for d in world.devices if d.vuid not in claimed and d.vuid not in owned]
    return tuple(sorted(free, key=lambda d: d.vuid))
