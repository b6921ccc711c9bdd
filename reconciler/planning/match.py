"""Pair each desired spec with the live device it describes (ownership first, then id or MAC)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.model import DeviceSpec, DeviceType, ObservedDevice, ObservedWorld, OwnershipRecord

__all__ = ["Index", "Match", "MatchResult", "describe", "match_specs"]


@dataclass(slots=True)
class Index:
    """Dict views of one observation, built once so matching stays linear at 4096 devices."""

    by_vuid: dict[str, ObservedDevice]
    static: dict[int, ObservedDevice]
    vfs: dict[tuple[int, int], ObservedDevice]
    hotplug_by_mac: dict[str, list[ObservedDevice]]
    migrating_hotplug: list[ObservedDevice]

    @classmethod
    def build(cls, world: ObservedWorld) -> Index:
        index = cls({}, {}, {}, {}, [])
        for dev in world.devices:
            index.by_vuid[dev.vuid] = dev
            if dev.type is DeviceType.STATIC_PF and dev.pf_id is not None:
                index.static[dev.pf_id] = dev
            elif dev.type is DeviceType.VF and dev.pf_id is not None and dev.vf_id is not None:
                index.vfs[(dev.pf_id, dev.vf_id)] = dev
            elif dev.type is DeviceType.HOTPLUG:
                if dev.migrating:
                    index.migrating_hotplug.append(dev)
                elif dev.mac:
                    index.hotplug_by_mac.setdefault(dev.mac.lower(), []).append(dev)
        return index


@dataclass(frozen=True, slots=True)
class Match:
    """One spec and its device (``None``: not there); ``problem`` blocks the spec's changes."""

    spec: DeviceSpec
    device: ObservedDevice | None
    problem: str | None = None
    temporary: bool = False


@dataclass(slots=True)
class MatchResult:
    """Matches in spec order, plus adoptions and the inventory names superseded by a transfer."""

    matches: list[Match] = field(default_factory=list)
    adoptions: list[OwnershipRecord] = field(default_factory=list)
    claimed: dict[str, str] = field(default_factory=dict)  # vuid -> spec name
    superseded: list[str] = field(default_factory=list)


def describe(dev: ObservedDevice) -> str:
    """A short human name for a device nobody (or someone else) declared."""
    if dev.type is DeviceType.VF:
        return f"vf pf{dev.pf_id}/vf{dev.vf_id} ({dev.vuid})"
    if dev.type is DeviceType.STATIC_PF:
        return f"static PF {dev.pf_id} ({dev.vuid})"
    return f"hotplug device {dev.vuid}"


def match_specs(
    specs: list[DeviceSpec],
    index: Index,
    inventory: Mapping[str, OwnershipRecord],
    declared: frozenset[str],
) -> MatchResult:
    """Match every spec; hotplug specs by their ownership record before any MAC lookup.

    Records are honoured first for all specs so that a MAC lookup can never steal a
    device another spec owns; ``declared`` holds every desired or rejected name.
    """
    result = MatchResult()
    owned: dict[str, ObservedDevice] = {}
    for spec in specs:
        if spec.type is DeviceType.HOTPLUG:
            dev = _owned_device(spec.name, index, inventory)
            if dev is not None:
                owned[spec.name] = dev
                result.claimed[dev.vuid] = spec.name
    owner_of = {rec.vuid: rec for rec in inventory.values() if owned_live(rec, index)}
    # a spec that stopped being a hotplug leaves its old device to the retype change
    for spec in specs:
        if spec.type is not DeviceType.HOTPLUG:
            dev = _owned_device(spec.name, index, inventory)
            if dev is not None:
                result.claimed.setdefault(dev.vuid, spec.name)
    for spec in specs:
        if spec.type is DeviceType.HOTPLUG:
            dev = owned.get(spec.name)
            match = Match(spec, dev) if dev else _by_mac(spec, index, owner_of, declared, result)
        else:
            match = _by_identity(spec, index, result.claimed)
        if match.device is not None and match.problem is None:
            result.claimed[match.device.vuid] = spec.name
        result.matches.append(match)
    return result


def _owned_device(
    name: str, index: Index, inventory: Mapping[str, OwnershipRecord]
) -> ObservedDevice | None:
    record = inventory.get(name)
    if record is None:
        return None
    dev = owned_live(record, index)
    if dev is None or dev.type is not DeviceType.HOTPLUG:
        return None
    return dev


def owned_live(record: OwnershipRecord, index: Index) -> ObservedDevice | None:
    """The live device an ownership record names, or None.

    A VUID alone is not an identity: the controller reuses a freed switch port's
    VUID for the next hotplug, so a device someone plugged by hand into the port
    of one we lost would look like ours. The MAC must agree too (a migrating
    device hides its MAC: trust the VUID until it shows again).
    """
    dev = index.by_vuid.get(record.vuid)
    if dev is None or (dev.mac is not None and dev.mac.lower() != record.mac.lower()):
        return None
    return dev


def _by_identity(spec: DeviceSpec, index: Index, claimed: dict[str, str]) -> Match:
    if spec.type is DeviceType.VF:
        dev = index.vfs.get((spec.pf_id, spec.vf_id))  # type: ignore[arg-type]
    else:
        dev = index.static.get(spec.pf_id)  # type: ignore[arg-type]
    if dev is not None and dev.vuid in claimed:
        owner = claimed[dev.vuid]
        return Match(spec, dev, f"{describe(dev)} is already declared by spec '{owner}'")
    return Match(spec, dev)


def _by_mac(
    spec: DeviceSpec,
    index: Index,
    owner_of: dict[str, OwnershipRecord],
    declared: frozenset[str],
    result: MatchResult,
) -> Match:
    """Adopt (or take over from a removed spec) the one unclaimed hotplug device with our MAC."""
    same_mac = index.hotplug_by_mac.get(spec.mac.lower(), ())
    candidates = [d for d in same_mac if d.vuid not in result.claimed]
    ours = [d for d in candidates if d.vuid in owner_of]
    if len(candidates) > 1 and len(ours) == 1:
        candidates = ours  # a renamed spec keeps the device we created, not a stranger's
    if len(candidates) > 1:
        vuids = ", ".join(sorted(d.vuid for d in candidates))
        return Match(spec, None, f"{len(candidates)} hotplug devices have mac {spec.mac} ({vuids})")
    if not candidates:
        if any(d.vuid not in owner_of for d in index.migrating_hotplug):
            reason = "device migrating (live update): cannot match it by mac yet"
            return Match(spec, None, reason, temporary=True)
        return Match(spec, None)
    dev = candidates[0]
    owner = owner_of.get(dev.vuid)
    if owner is not None and owner.name in declared:
        reason = f"mac {spec.mac} is used by {describe(dev)} of spec '{owner.name}'"
        return Match(spec, None, reason)
    if owner is not None:
        # the spec was renamed: the device stays, its ownership moves to the new name
        result.superseded.append(owner.name)
    result.adoptions.append(
        OwnershipRecord(
            name=spec.name,
            vuid=dev.vuid,
            mac=spec.mac,
            type=DeviceType.HOTPLUG,
            pf_id=dev.pf_id,
            sf_num=dev.sf_num,
            adopted=True if owner is None else owner.adopted,
        )
    )
    return Match(spec, dev)
