"""Checks across all loaded specs: unique names, and no two specs claiming one MAC, VF, PF or SF.

Overlapping claims are never resolved by picking a winner: every claimant gets an error
naming the other's file:line and all of them are rejected, so the planner applies none
of them and (because they are still declared) never prunes them either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from reconciler.model import DeviceSpec, DeviceType, Source, SpecError

__all__ = ["CrossCheck", "cross_check"]


@dataclass(frozen=True, slots=True)
class CrossCheck:
    """The devices that survived, the errors found and the names rejected."""

    devices: tuple[DeviceSpec, ...]
    errors: tuple[SpecError, ...]
    rejected: frozenset[str]


def _claims() -> list[tuple[str, Callable[[DeviceSpec], object]]]:
    """(what, key) pairs: two devices with the same non-None key overlap."""
    return [
        ("name", lambda d: d.name),
        ("MAC", lambda d: d.mac),
        ("VF", lambda d: (d.pf_id, d.vf_id) if d.type is DeviceType.VF else None),
        ("static PF", lambda d: d.pf_id if d.type is DeviceType.STATIC_PF else None),
        ("sf_num", lambda d: d.sf_num),
    ]


def _describe(what: str, key: object) -> str:
    if what == "VF":
        pf_id, vf_id = key  # type: ignore[misc]
        return f"VF {vf_id} of PF {pf_id}"
    if what == "static PF":
        return f"static PF {key}"
    return f"{what} {key}"


def cross_check(devices: Sequence[DeviceSpec]) -> CrossCheck:
    """Find overlapping claims among ``devices`` (already individually valid)."""
    errors: list[SpecError] = []
    rejected: set[str] = set()
    for what, key_of in _claims():
        owners: dict[object, list[DeviceSpec]] = defaultdict(list)
        for device in devices:
            key = key_of(device)
            if key is not None:
                owners[key].append(device)
        for key, claimants in owners.items():
            if len(claimants) > 1:
                errors.extend(_overlap_errors(_describe(what, key), claimants))
                rejected.update(d.name for d in claimants)
    kept = tuple(d for d in devices if d.name not in rejected)
    return CrossCheck(kept, tuple(errors), frozenset(rejected))


def _where(device: DeviceSpec) -> Source:
    return device.source or Source("<unknown>")


def _overlap_errors(claim: str, claimants: Iterable[DeviceSpec]) -> list[SpecError]:
    claimants = list(claimants)
    errors = []
    for device in claimants:
        others = (
            ", ".join(f"{o.name!r} ({_where(o)})" for o in claimants if o is not device)
            or f"another spec also named {device.name!r}"
        )
        message = f"{claim} is also claimed by {others}; neither is applied"
        errors.append(SpecError(_where(device), f"{device.name}", message))
    return errors
