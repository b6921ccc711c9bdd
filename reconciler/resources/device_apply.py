"""VirtioNetDevice's apply handlers: hotplug, unplug, modify, replace, representor.

Each is called as ``handler(run, change)`` by the executor (:mod:`reconciler.apply`),
does its I/O through the backend's drivers, journals every mutating controller call
before making it, keeps the ownership inventory in step and registers the inverse
step ``--atomic`` would run. What to do was decided by the plan; a handler does not
second-guess it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from reconciler.fields import HOTPLUG_DEFAULTS, MODIFIABLE, Spec
from reconciler.model import Action, Change, DeviceSpec, DeviceType, ObservedDevice, OwnershipRecord
from reconciler.resources.base import Execution, Handler

__all__ = ["HANDLERS", "hotplug", "modify", "replace", "representor", "unplug"]


def hotplug(run: Execution, change: Change) -> None:
    spec = _hotplug_spec(change)
    with run.journaled("hotplug", spec.name, mac=spec.mac, device_type=spec.type.value):
        run.mutating_call()
        result = run.backend.cli.hotplug(spec)
        run.own(_owned(spec, result))
    run.on_undo(lambda: _unhotplug(run, spec.name, result.vuid))


def unplug(run: Execution, change: Change) -> None:
    with run.journaled("unplug", change.name, vuid=change.vuid):
        run.mutating_call()
        run.backend.cli.unplug(change.vuid)
        # the inventory entry leaves only once the unplug is observed (the verify phase)
    if change.observed is not None:
        previous = _spec_from_observed(change.name, change.observed)
        run.on_undo(lambda: _rehotplug(run, previous))


def modify(run: Execution, change: Change) -> None:
    new = {k: v[1] for k, v in change.fields.items() if k in MODIFIABLE}
    old = {k: v[0] for k, v in change.fields.items() if k in MODIFIABLE}
    if not new:
        return
    with run.journaled("modify", change.name, vuid=change.vuid):
        run.mutating_call()
        run.backend.cli.modify(change.vuid, new)
        record = run.inventory.get(change.name)
        if Spec.MAC in new and record is not None and record.vuid == change.vuid:
            # ownership is VUID + MAC: keep the record's MAC in step with the device
            run.own(dataclasses.replace(record, mac=new[Spec.MAC]))
    vuid = change.vuid
    if all(v is not None for v in old.values()):
        run.on_undo(lambda: run.backend.cli.modify(vuid, old))


def replace(run: Execution, change: Change) -> None:
    unplug(run, change)
    run.disown(change.name)
    hotplug(run, change)


def representor(run: Execution, change: Change) -> None:
    from reconciler.drivers import netlink

    kwargs = {k: v[1] for k, v in change.fields.items() if k in ("up", Spec.MTU)}
    rep_name = change.observed.representor if change.observed else None
    netlink.set_representor(rep_name, netns=run.backend.netns, **kwargs)


HANDLERS: Mapping[Action, Handler] = {
    Action.HOTPLUG: hotplug,
    Action.UNPLUG: unplug,
    Action.MODIFY: modify,
    Action.REPLACE: replace,
    Action.REPRESENTOR: representor,
}


def _unhotplug(run: Execution, name: str, vuid: str) -> None:
    """Rollback of our own hotplug: unplug it and forget that we own it."""
    with run.journaled("unplug", name, vuid=vuid):
        run.backend.cli.unplug(vuid)
        run.disown(name, vuid=vuid)


def _rehotplug(run: Execution, spec: DeviceSpec) -> None:
    """Rollback of an unplug: the device again, as it was observed."""
    run.own(_owned(spec, run.backend.cli.hotplug(spec)))


def _owned(spec: DeviceSpec, result) -> OwnershipRecord:
    return OwnershipRecord(
        name=spec.name,
        vuid=result.vuid,
        mac=spec.mac,
        type=DeviceType.HOTPLUG,
        pf_id=result.pf_id,
        sf_num=result.sf_num,
    )


def _hotplug_spec(change: Change) -> DeviceSpec:
    """The spec to hotplug, with the planner's filled-in defaults (the CLI needs all of them)."""
    spec = change.spec
    filled = {
        k: new
        for k, (_old, new) in change.fields.items()
        if k in HOTPLUG_DEFAULTS and new is not None
    }
    return dataclasses.replace(spec, **filled) if filled else spec


def _spec_from_observed(name: str, dev: ObservedDevice) -> DeviceSpec:
    """A spec that recreates an observed hotplug device (for rollback of an unplug)."""
    return DeviceSpec(
        name=name,
        type=DeviceType.HOTPLUG,
        mac=dev.mac,
        mtu=dev.mtu,
        max_queues=dev.max_queues,
        max_queue_size=dev.max_queue_size,
        features=dev.features,
        sf_num=dev.sf_num,
        legacy=dev.legacy,
        ib_device=dev.ib_device,
    )
