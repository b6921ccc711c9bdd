"""Cross-kind rules that hold back a ready change: backoff, live update, a pending config, RDMA.

Each rule turns a ready change into a blocked one with the reason, and leaves any
other change as it is. None of them needs more than the change, the observation and
the desired state.
"""

from __future__ import annotations

import dataclasses

from reconciler.model import Action, Change, ChangeStatus, DesiredState, ObservedWorld
from reconciler.resources.controller_config import port_devices
from reconciler.resources.device import REASON_MIGRATING

__all__ = ["REASON_BACKOFF", "REASON_LIVE_UPDATE", "after_config", "hold", "needs_rdma_device"]

REASON_BACKOFF = "backing off after failure"
REASON_LIVE_UPDATE = "controller live update in progress"
_SLOT_ACTIONS = frozenset({Action.HOTPLUG, Action.UNPLUG, Action.REPLACE})
_CREATES = frozenset({Action.HOTPLUG, Action.REPLACE})


def hold(change: Change, held: frozenset[str], live_update: bool) -> Change:
    """Temporary blocks: the watch loop's backoff, and a controller that refuses slot changes."""
    if not change.ready:
        return change
    if change.observed is not None and change.observed.migrating:
        reason = REASON_MIGRATING
    elif live_update and change.action in _SLOT_ACTIONS:
        reason = REASON_LIVE_UPDATE
    elif change.name in held:
        reason = REASON_BACKOFF
    else:
        return change
    return dataclasses.replace(change, status=ChangeStatus.BLOCKED, reason=reason, temporary=True)


def after_config(change: Change, desired: DesiredState, observed: ObservedWorld) -> Change:
    """A hotplug on a port that only the pending (blocked) config provides must wait for it."""
    if not change.ready or change.action not in _CREATES:
        return change
    wanted = desired.controller_config
    ib = change.spec.ib_device if change.spec else None
    if wanted is None or ib is None:
        return change
    running = port_devices(observed.config_on_disk or {})
    if ib in running or ib not in port_devices(wanted.content):
        return change
    reason = (
        f"ib_device {ib} exists only after the ControllerConfig change "
        "(controller restart): rerun with --allow-restart"
    )
    return dataclasses.replace(change, status=ChangeStatus.BLOCKED, reason=reason)


def needs_rdma_device(change: Change, rdma_devices: tuple[str, ...]) -> Change:
    """A hotplug names the RDMA device of its port: one that does not exist cannot work."""
    ib = change.spec.ib_device if change.spec else None
    if not change.ready or change.action not in _CREATES or ib is None:
        return change
    if ib in rdma_devices:
        return change
    known = ", ".join(sorted(rdma_devices)) or "none"
    reason = f"no RDMA device {ib} on this DPU (found: {known})"
    return dataclasses.replace(change, status=ChangeStatus.BLOCKED, reason=reason)
