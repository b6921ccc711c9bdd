"""Block changes that would leave two devices one MAC; order the rest so no step collides."""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Mapping

from reconciler.fields import Spec
from reconciler.model import Action, Change, ChangeStatus, ObservedDevice, ObservedWorld
from reconciler.resources.device import describe

__all__ = ["settle"]

_Holder = tuple[str, str]  # ("dev", vuid) or ("new", spec name)


def settle(
    changes: list[Change], world: ObservedWorld, names: Mapping[str, str]
) -> tuple[Change, ...]:
    """Resolve MAC conflicts, then order; a MAC swap cycle is blocked and the check runs again.

    Blocking only ever adds blocked changes, so the loop ends within len(changes) rounds.
    """
    while True:
        changes = _block_collisions(changes, world, names)
        ordered, cyclic = _order(changes)
        if not cyclic:
            return ordered
        names_in_cycle = sorted({changes[i].name for i in cyclic})
        for i in cyclic:
            peers = ", ".join(n for n in names_in_cycle if n != changes[i].name)
            reason = f"mac swap cycle with {peers}: give one device a temporary mac first"
            changes[i] = _block(changes[i], reason)


def _takes(change: Change) -> str | None:
    """The MAC a ready change gives a device (new or existing)."""
    if change.action in (Action.HOTPLUG, Action.REPLACE) and change.spec is not None:
        return change.spec.mac.lower()
    if change.action is Action.MODIFY and Spec.MAC in change.fields:
        return str(change.fields[Spec.MAC][1]).lower()
    return None


def _releases(change: Change) -> str | None:
    """The MAC a ready change takes away from an existing device."""
    if change.action in (Action.UNPLUG, Action.REPLACE) and change.observed is not None:
        return (change.observed.mac or "").lower() or None
    if change.action is Action.MODIFY and Spec.MAC in change.fields:
        return (change.fields[Spec.MAC][0] or "").lower() or None
    return None


def _holder(change: Change) -> _Holder:
    if change.action is Action.MODIFY:
        return ("dev", change.vuid or "")
    return ("new", change.name)


def _final_holders(changes: list[Change], world: ObservedWorld) -> dict[str, list[_Holder]]:
    """Who holds each MAC once every ready change is done (blocked changes change nothing)."""
    gone: set[str] = set()
    moved: dict[str, str] = {}
    holders: dict[str, list[_Holder]] = {}
    for change in changes:
        if not change.ready:
            continue
        if change.action in (Action.UNPLUG, Action.REPLACE) and change.vuid:
            gone.add(change.vuid)
        mac = _takes(change)
        if mac is None:
            continue
        if change.action is Action.MODIFY:
            moved[change.vuid or ""] = mac
        else:
            holders.setdefault(mac, []).append(_holder(change))
    for dev in world.devices:
        mac = moved.get(dev.vuid, (dev.mac or "").lower())
        if dev.vuid not in gone and mac:
            holders.setdefault(mac, []).append(("dev", dev.vuid))
    return holders


def _block_collisions(
    changes: list[Change], world: ObservedWorld, names: Mapping[str, str]
) -> list[Change]:
    """Apply neither of two claims on one MAC; repeat, since a block keeps an old MAC in place."""
    by_vuid: dict[str, ObservedDevice] | None = None
    while any(c.ready and _takes(c) for c in changes):
        holders = _final_holders(changes, world)
        if by_vuid is None:
            by_vuid = {d.vuid: d for d in world.devices}
        out, blocked = [], False
        for change in changes:
            mac = _takes(change) if change.ready else None
            others = [h for h in holders.get(mac, ()) if h != _holder(change)] if mac else []
            if others:
                who = _who(others[0], names, by_vuid)
                out.append(_block(change, f"mac {mac} is already used by {who}"))
                blocked = True
            else:
                out.append(change)
        changes = out
        if not blocked:
            break
    return changes


def _who(holder: _Holder, names: Mapping[str, str], by_vuid: Mapping[str, ObservedDevice]) -> str:
    kind, key = holder
    if kind == "new":
        return f"spec '{key}'"
    if key in names:
        return f"spec '{names[key]}' ({key})"
    return describe(by_vuid[key])


def _group(change: Change, frees: bool) -> int:
    """unplug, MAC-freeing modify, replace, hotplug, other modify, representor, the rest."""
    if change.action is Action.UNPLUG:
        return 0
    if change.action is Action.MODIFY:
        return 1 if frees else 4
    ranks = {Action.REPLACE: 2, Action.HOTPLUG: 3, Action.REPRESENTOR: 5}
    return ranks.get(change.action, 6)


def _order(changes: list[Change]) -> tuple[tuple[Change, ...], list[int]]:
    """Kahn's algorithm keyed by (group, name): a MAC's giver always runs before its taker."""
    takers: dict[str, list[int]] = {}
    for i, change in enumerate(changes):
        mac = _takes(change) if change.ready else None
        if mac:
            takers.setdefault(mac, []).append(i)
    edges: dict[int, list[int]] = {}
    indegree = [0] * len(changes)
    for i, change in enumerate(changes):
        mac = _releases(change) if change.ready else None
        for j in takers.get(mac, ()) if mac else ():
            if j != i:
                edges.setdefault(i, []).append(j)
                indegree[j] += 1
    keys = [(_group(c, i in edges), c.name, c.action.value, i) for i, c in enumerate(changes)]
    heap = [keys[i] for i in range(len(changes)) if indegree[i] == 0]
    heapq.heapify(heap)
    ordered: list[Change] = []
    while heap:
        i = heapq.heappop(heap)[-1]
        ordered.append(changes[i])
        for j in edges.get(i, ()):
            indegree[j] -= 1
            if indegree[j] == 0:
                heapq.heappush(heap, keys[j])
    return tuple(ordered), [i for i in range(len(changes)) if indegree[i] > 0]


def _block(change: Change, reason: str) -> Change:
    return dataclasses.replace(change, status=ChangeStatus.BLOCKED, reason=reason, temporary=False)
