"""Settle what a crashed run left in flight, before the next cycle plans (DESIGN 5, crash-safe).

The journal holds the intent of the one call a run was making when it died, and
``interrupted.json`` the calls still in doubt from earlier crashes. ``await_interrupted``
waits for any vendor-CLI process still carrying one of them (so its effect is observed,
not duplicated); ``settle_interrupted`` concludes, against the next observation, what
each call did: a landed hotplug becomes ours, an unplug that landed leaves the
inventory, and a call that may still land holds its spec until the backend's grace
has passed.
"""

from __future__ import annotations

import dataclasses
import time

import structlog

from reconciler.model import DeviceType, ObservedWorld, OwnershipRecord, Plan
from reconciler.store.journal import Intent, Journal

__all__ = ["await_interrupted", "explain_waits", "resolve_pending", "settle_interrupted"]

log = structlog.get_logger("virtnet.engine")

# only vendor-CLI calls have a process that can outlive the run that started it
_CLI_OPS = ("hotplug", "unplug", "modify")


def await_interrupted(journal: Journal, *, timeout: float) -> list[Intent]:
    """Calls a crashed run left in flight: wait for their CLI processes, keep them.

    The pending journal entry joins the interrupted list; any vendor-CLI process
    still carrying one of those calls is waited for (bounded by the CLI timeout)
    before we observe, so its effect is seen rather than duplicated.
    """
    intents = journal.interrupted()
    pending = journal.pending()
    if pending is not None:
        intents.append(pending)
        journal.set_interrupted(intents)
        journal.done()
    if intents:
        from reconciler.drivers.procs import wait_for_calls

        for intent in intents:
            if intent.op not in _CLI_OPS:
                continue
            markers = [intent.op, intent.mac or intent.vuid or ""]
            waited = wait_for_calls(markers, timeout=timeout)
            if waited:
                log.warning(
                    "interrupted_call_waited",
                    intent=intent.op,
                    device=intent.name,
                    processes=waited,
                )
    return intents


def settle_interrupted(
    intents: list[Intent],
    world: ObservedWorld,
    inventory: dict[str, OwnershipRecord],
    *,
    grace_s: float,
) -> tuple[dict[str, str], list[Intent]]:
    """Conclude what each interrupted call did: (names still in doubt -> why they wait,
    the intents still in doubt).

    ``inventory`` is updated in place; the caller saves it first, then keeps the
    intents still in doubt in the journal, so a crash in between settles them again.
    """
    waiting: dict[str, str] = {}
    still = []
    for intent in intents:
        verdict, settled = resolve_pending(intent, world, inventory, grace_s=grace_s)
        if settled:
            log.warning("journal_recovered", intent=intent.op, device=intent.name, verdict=verdict)
            continue
        still.append(intent)
        until = time.strftime("%H:%M:%S", time.localtime((intent.started or 0) + grace_s))
        waiting[intent.name] = f"{verdict} (a crashed run sent it); waiting until {until}"
    return waiting, still


def explain_waits(the_plan: Plan, waiting: dict[str, str]) -> Plan:
    """Changes held for an interrupted call say why, instead of the generic backoff."""
    if not waiting:
        return the_plan
    changes = tuple(
        dataclasses.replace(c, reason=waiting[c.name], temporary=True)
        if c.name in waiting and not c.ready
        else c
        for c in the_plan.changes
    )
    return dataclasses.replace(the_plan, changes=changes)


def resolve_pending(
    intent: Intent,
    world: ObservedWorld,
    inventory: dict[str, OwnershipRecord],
    *,
    now: float | None = None,
    grace_s: float = 0.0,
) -> tuple[str, bool]:
    """Settle a call that a crashed run left half-done: (what was concluded, settled?).

    A hotplug either happened (a live hotplug device has the MAC: record it as ours,
    so it is neither duplicated nor leaked) or not yet: within ``grace_s`` of its
    start it may still land (the controller finishes an RPC whose client died), so
    it stays unsettled and its spec waits; after that the plan makes it again.
    An unplug likewise; a modify needs nothing (the plan re-diffs the device).
    """
    now = time.time() if now is None else now
    young = intent.started is not None and now - intent.started < grace_s
    settle = _SETTLERS.get(intent.op)
    if settle is None:
        return f"{intent.op} of {intent.name} will be re-checked against the live device", True
    return settle(intent, world, inventory, young)


def _settle_hotplug(intent, world, inventory, young) -> tuple[str, bool]:
    for dev in world.devices:
        if dev.type is DeviceType.HOTPLUG and dev.mac == intent.mac:
            owner = next((r for r in inventory.values() if r.vuid == dev.vuid), None)
            if owner is None:
                inventory[intent.name] = OwnershipRecord(
                    name=intent.name,
                    vuid=dev.vuid,
                    mac=dev.mac,
                    type=DeviceType.HOTPLUG,
                    pf_id=dev.pf_id,
                    sf_num=dev.sf_num,
                )
            verdict = f"hotplug of {intent.name} had completed: device {dev.vuid} is ours"
            return verdict, True
    if young:
        return f"hotplug of {intent.name} may still reach the controller", False
    return f"hotplug of {intent.name} had not happened: it will be planned again", True


def _settle_unplug(intent, world, inventory, young) -> tuple[str, bool]:
    if intent.vuid not in {d.vuid for d in world.devices}:
        for name, rec in list(inventory.items()):
            if rec.vuid == intent.vuid:
                del inventory[name]
        return f"unplug of {intent.name} had completed", True
    if young:
        return f"unplug of {intent.name} may still reach the controller", False
    return f"unplug of {intent.name} had not happened: it will be planned again", True


def _settle_config(intent, world, inventory, young) -> tuple[str, bool]:
    return (
        f"config {intent.name} was written but the controller restart may not have "
        "happened: restart the controller so it reads virtnet.conf"
    ), True


_SETTLERS = {"hotplug": _settle_hotplug, "unplug": _settle_unplug, "config": _settle_config}
