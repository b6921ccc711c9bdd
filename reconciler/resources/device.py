"""VirtioNetDevice: normalisation of its spec, and its pure diff against the live devices.

Which fields a device type has, and what hotplug and modify do with each, is the
field table's (:mod:`reconciler.fields`). This module turns a schema-valid document
into a :class:`DeviceSpec` (``normalise``), matches each spec to the live device it
describes, and says which changes the specs need (``diff``): hotplug, modify,
replace, representor, the unplug of an owned device no spec wants, or a block
saying why not. No I/O: the apply half is :mod:`reconciler.resources.device_apply`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from reconciler.features import features_problem, parse_features
from reconciler.fields import (
    DEVICE_FIELDS,
    FIELDS,
    GUEST_UNBIND,
    HOTPLUG_FIELDS,
    MODIFIABLE,
    REPLACE_ON_CHANGE,
    Spec,
)
from reconciler.keys import Fw
from reconciler.macs import mac_problem, normalize_mac
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
    RepresentorSpec,
    Source,
    frozen_map,
)
from reconciler.resources.base import DiffOptions, DiffResult, Normalised, Problem

__all__ = [
    "REASON_MIGRATING",
    "Index",
    "Match",
    "MatchResult",
    "build_device",
    "describe",
    "device_changes",
    "diff",
    "generation",
    "hotplug_fields",
    "match_specs",
    "normalise",
    "owned_live",
    "representor_change",
    "type_problems",
]

REASON_MIGRATING = "device migrating (live update)"
REASON_NO_VF = "waiting for the host to create it (sriov_numvfs)"
_ONLY = {DeviceType.VF: "VFs", DeviceType.HOTPLUG: "hotplug devices"}
# fields a spec names that are not copied as they are into the DeviceSpec
_BUILT = frozenset({Spec.TYPE, Spec.MAC, Spec.FEATURES, Spec.LEGACY, Spec.REPRESENTOR})
_PF = "(the controller rejects it on a PF)"


def normalise(document: Mapping[str, Any], source: Source) -> Normalised:
    """One device from a schema-valid document, or the problems that stop it."""
    meta, spec = document["metadata"], document["spec"]
    problems = type_problems(spec, spec[Spec.TYPE], ("spec",))
    mac = normalize_mac(spec[Spec.MAC])
    if (why := mac_problem(mac)) is not None:
        problems.append((("spec", Spec.MAC), f"{mac} {why}"))
    if problems:
        return Normalised(problems=tuple(problems))
    device = build_device(
        meta["name"],
        spec[Spec.TYPE],
        mac,
        spec,
        labels=frozen_map(meta.get("labels")),
        source=source,
    )
    return Normalised(devices=(device,))


def type_problems(spec: Mapping[str, Any], dtype: str, prefix: tuple) -> list[Problem]:
    """Fields the device type needs or must not have (the schema cannot say it clearly),
    and features that name no known bit."""
    problems: list[Problem] = []
    for row in DEVICE_FIELDS:
        if dtype in row.required and row.name not in spec:
            problems.append((prefix, f"{row.name} is required: {_needed(row.name, dtype)}"))
    for row in DEVICE_FIELDS:
        if dtype not in row.types and row.name in spec:
            problems.append(((*prefix, row.name), _refused(row.name, dtype)))
    if Spec.FEATURES in spec and (why := features_problem(spec[Spec.FEATURES])) is not None:
        problems.append(((*prefix, Spec.FEATURES), why))
    return problems


def _needed(name: str, dtype: str) -> str:
    return {
        Spec.IB_DEVICE: "a hotplug device is created on an RDMA device (mlx5_0, mlx5_bond_0)",
        Spec.PF_ID: f"a {dtype} device is identified by its PF",
        Spec.VF_ID: "a vf is identified by pf_id and vf_id",
    }[name]


def _refused(name: str, dtype: str) -> str:
    return {
        Spec.PF_ID: "a hotplug device gets its pf_id from the controller; remove it",
        Spec.VF_ID: "only a vf has a vf_id",
        Spec.MSIX_NUM: f"msix_num applies to VFs only {_PF}",
        Spec.IB_DEVICE: f"a {dtype} device is created by firmware, not on an ib_device",
        Spec.MAX_QUEUES: f"max_queues applies to hotplug devices only; a {dtype}'s queue count "
        "follows msix_num (VF) or the firmware (static PF)",
        Spec.LEGACY: "legacy applies to hotplug devices only",
    }[name]


def build_device(
    name: str,
    dtype: str,
    mac: str,
    spec: Mapping[str, Any],
    *,
    labels: Mapping[str, str],
    source: Source,
) -> DeviceSpec:
    """The normalised spec: features as an int, ``legacy`` a bool, omitted fields None."""
    plain = {f.name: spec.get(f.name) for f in DEVICE_FIELDS if f.name not in _BUILT}
    rep, features = spec.get(Spec.REPRESENTOR), spec.get(Spec.FEATURES)
    return DeviceSpec(
        name=name,
        type=DeviceType(dtype),
        mac=mac,
        features=None if features is None else parse_features(features),
        legacy=bool(spec.get(Spec.LEGACY, False)),
        representor=None if rep is None else RepresentorSpec(rep.get("up"), rep.get("mtu")),
        labels=labels,
        source=source,
        **plain,
    )


def generation(spec: DeviceSpec) -> str:
    """A short digest of what the device spec asks for (not where it came from).

    Status records carry it so that a reader can tell which version of a spec a
    result refers to; labels and the source position are not part of it. The parts
    are listed, not derived, so a digest stays the same from one release to the next.
    """
    rep = spec.representor
    parts = [
        spec.name,
        spec.type.value,
        spec.mac,
        spec.mtu,
        spec.max_queues,
        spec.max_queue_size,
        spec.features,
        spec.msix_num,
        spec.sf_num,
        spec.legacy,
        spec.ib_device,
        spec.pf_id,
        spec.vf_id,
        None if rep is None else (rep.up, rep.mtu),
    ]
    return hashlib.blake2s(repr(parts).encode(), digest_size=6).hexdigest()


# -- the diff ----------------------------------------------------------------------------


def diff(desired: DesiredState, observed: ObservedWorld, options: DiffOptions) -> DiffResult:
    """What every device spec needs against the live devices, and what we own but nobody wants.

    Matches each spec to its device (ownership record first, then id or MAC), diffs
    the pair (hotplug, modify, replace, representor, or a block saying why), replaces
    an owned hotplug device whose spec changed type, and unplugs owned devices whose
    spec is gone (only with ``prune`` and a complete desired state).
    """
    inventory = options.inventory
    specs = [s for s in desired.devices if s.name not in desired.rejected]
    declared = frozenset(s.name for s in desired.devices) | desired.rejected
    index = Index.build(observed)
    matched = match_specs(specs, index, inventory, declared)
    warnings: list[str] = []
    changes: list[Change] = []
    for match in matched.matches:
        changes += device_changes(match, options, warnings)
        rep = representor_change(match.spec, match.device, observed.representors)
        if rep is not None:
            changes.append(rep)
    changes += _retyped(specs, index, inventory, matched.claimed, options.allow_replace)
    pruned, forget = _prune(
        desired, index, inventory, matched, prune=options.prune, warnings=warnings
    )
    changes += pruned
    return DiffResult(
        changes=tuple(changes),
        warnings=tuple(warnings),
        adoptions=tuple(matched.adoptions),
        forget=frozenset(forget),
        unmanaged=_unmanaged(observed, index, matched.claimed, inventory),
        claimed=MappingProxyType(matched.claimed),
    )


# -- matching: which live device each spec describes ---------------------------------------


# Plain classes and a NamedTuple rather than dataclasses: creating a dataclass costs about a
# millisecond at import, and ``virtnet validate`` imports this module for ``normalise`` only.


class Index:
    """Dict views of one observation, built once so matching stays linear at 4096 devices."""

    __slots__ = ("by_vuid", "hotplug_by_mac", "migrating_hotplug", "static", "vfs")

    def __init__(self) -> None:
        self.by_vuid: dict[str, ObservedDevice] = {}
        self.static: dict[int, ObservedDevice] = {}
        self.vfs: dict[tuple[int, int], ObservedDevice] = {}
        self.hotplug_by_mac: dict[str, list[ObservedDevice]] = {}
        self.migrating_hotplug: list[ObservedDevice] = []

    @classmethod
    def build(cls, world: ObservedWorld) -> Index:
        index = cls()
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


class Match(NamedTuple):
    """One spec and its device (``None``: not there); ``problem`` blocks the spec's changes."""

    spec: DeviceSpec
    device: ObservedDevice | None
    problem: str | None = None
    temporary: bool = False


class MatchResult:
    """Matches in spec order, plus adoptions and the inventory names superseded by a transfer."""

    __slots__ = ("adoptions", "claimed", "matches", "superseded")

    def __init__(self) -> None:
        self.matches: list[Match] = []
        self.adoptions: list[OwnershipRecord] = []
        self.claimed: dict[str, str] = {}  # vuid -> spec name
        self.superseded: list[str] = []


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


# -- one spec against its device ----------------------------------------------------------


def hotplug_fields(spec: DeviceSpec, defaults: Mapping[str, int]) -> dict[str, tuple]:
    """Every value `virtnet hotplug` will be given (MAC first), defaults for the required rest."""
    fields: dict[str, tuple] = {Spec.MAC: (None, spec.mac)}
    for row in HOTPLUG_FIELDS:
        value = getattr(spec, row.name)
        if row.hotplug_required:
            fields.setdefault(row.name, (None, defaults.get(row.name) if value is None else value))
        elif value is not None and value is not False:
            fields[row.name] = (None, value)
    return fields


def device_changes(match: Match, options: DiffOptions, warnings: list[str]) -> list[Change]:
    """The changes one spec needs against its matched device (empty when it matches)."""
    spec, dev, defaults = match.spec, match.device, options.defaults
    if match.problem is not None:
        why, wanted = match.problem, _wanted(spec)
        return [_blocked(Action.MODIFY, spec, dev, why, temporary=match.temporary, fields=wanted)]
    if dev is None:
        return [_missing(spec, defaults, options.firmware)]
    if dev.migrating:
        return [_blocked(Action.MODIFY, spec, dev, REASON_MIGRATING, temporary=True)]
    mutable = _diff_mutable(spec, dev, warnings)
    immutable = _diff_immutable(spec, dev) if spec.type is DeviceType.HOTPLUG else {}
    if immutable:
        fields = _replace_fields(spec, dev, defaults) | immutable | mutable
        return [_replace(spec, dev, fields, list(immutable), options.allow_replace)]
    return [_modify(spec, dev, mutable)] if mutable else []


def _modify(spec: DeviceSpec, dev: ObservedDevice, fields: dict[str, tuple]) -> Change:
    """One modify per device; blocked whole while the guest holds a field it touches."""
    guest = [name for name in fields if name in GUEST_UNBIND]
    if guest and dev.driver_bound:
        reason = f"{_bound(dev)}: unbind the device on the host to change {', '.join(guest)}"
        return _blocked(Action.MODIFY, spec, dev, reason, fields=fields)
    return Change(
        Action.MODIFY, spec.name, frozen_map(fields), vuid=dev.vuid, spec=spec, observed=dev
    )


def _replace_fields(spec: DeviceSpec, dev: ObservedDevice, defaults) -> dict[str, tuple]:
    """The re-hotplug needs every required value: an unmanaged one keeps what the device had."""
    out = {}
    for name, (_old, new) in hotplug_fields(spec, defaults).items():
        kept = getattr(dev, name) if getattr(spec, name) is None else None
        out[name] = (getattr(dev, name), new if kept is None else kept)
    return out


def _missing(spec: DeviceSpec, defaults: Mapping[str, int], firmware) -> Change:
    """No device yet: hotplug creates one; static PFs and VFs only firmware and host can create."""
    if spec.type is DeviceType.HOTPLUG:
        fields = frozen_map(hotplug_fields(spec, defaults))
        return Change(Action.HOTPLUG, spec.name, fields, spec=spec)
    if spec.type is DeviceType.VF:
        wanted = _wanted(spec)
        return _blocked(Action.MODIFY, spec, None, REASON_NO_VF, temporary=True, fields=wanted)
    have = "unknown" if firmware is None else firmware.get(Fw.NUM_PF, "unknown")
    reason = f"no static PF {spec.pf_id}: firmware has {Fw.NUM_PF}={have}"
    return _blocked(Action.MODIFY, spec, None, reason, fields=_wanted(spec))


def _diff_mutable(spec: DeviceSpec, dev: ObservedDevice, warnings: list[str]) -> dict[str, tuple]:
    """Only fields the spec sets are compared: an omitted field is not managed (no false drift)."""
    out: dict[str, tuple] = {}
    for name in MODIFIABLE:
        want, have = getattr(spec, name), getattr(dev, name)
        if name == Spec.MAC:
            if want.lower() != (have or "").lower():
                out[name] = (have, want)
        elif want is None or want == have:
            continue
        elif spec.type in FIELDS[name].types:
            out[name] = (have, want)
        else:
            only = " and ".join(_ONLY[t] for t in FIELDS[name].types)
            warnings.append(f"{spec.name}: {name} applies to {only} only; ignored on a {spec.type}")
    if spec.type is not DeviceType.HOTPLUG and spec.max_queues not in (None, dev.max_queues):
        warnings.append(
            f"{spec.name}: max_queues of a {spec.type} follows firmware (and msix_num on a VF); "
            f"it stays {dev.max_queues}"
        )
    return out


def _diff_immutable(spec: DeviceSpec, dev: ObservedDevice) -> dict[str, tuple]:
    """A hotplug device's creation-time fields the spec sets (``legacy`` always has a value)."""
    out: dict[str, tuple] = {}
    for name in REPLACE_ON_CHANGE:
        want = getattr(spec, name)
        if want is not None and want != getattr(dev, name):
            out[name] = (getattr(dev, name), want)
    return out


def _replace(spec, dev, fields, immutable: list[str], allow: bool) -> Change:
    if not allow:
        reason = f"immutable field {', '.join(immutable)} changed: rerun with --allow-replace"
        return _blocked(Action.REPLACE, spec, dev, reason, fields=fields)
    if dev.driver_bound:
        reason = f"{_bound(dev)}: unbind the device on the host before it is replaced"
        return _blocked(Action.REPLACE, spec, dev, reason, fields=fields)
    return Change(
        Action.REPLACE, spec.name, frozen_map(fields), vuid=dev.vuid, spec=spec, observed=dev
    )


def representor_change(spec: DeviceSpec, dev: ObservedDevice | None, representors) -> Change | None:
    """Compare the representor netdev with the spec; ``representors`` None means cannot see."""
    want = spec.representor
    if want is None or representors is None or dev is None or dev.migrating:
        return None
    if not dev.representor:
        reason = "the controller reports no representor netdev for this device"
        return _blocked(Action.REPRESENTOR, spec, dev, reason, temporary=True)
    have = representors.get(dev.representor)
    if have is None:
        reason = f"representor netdev {dev.representor} not found in the kernel"
        return _blocked(Action.REPRESENTOR, spec, dev, reason, temporary=True)
    fields: dict[str, tuple] = {}
    if want.up is not None and want.up != have.up:
        fields["up"] = (have.up, want.up)
    if want.mtu is not None and want.mtu != have.mtu:
        fields[Spec.MTU] = (have.mtu, want.mtu)
    if not fields:
        return None
    return Change(
        Action.REPRESENTOR, spec.name, frozen_map(fields), vuid=dev.vuid, spec=spec, observed=dev
    )


def _wanted(spec: DeviceSpec) -> dict[str, tuple]:
    """What a blocked spec asks for, so the report shows it."""
    return {
        name: (None, getattr(spec, name)) for name in MODIFIABLE if getattr(spec, name) is not None
    }


def _bound(dev: ObservedDevice) -> str:
    return f"guest driver bound (dev_status {dev.driver_status:#x})"


def _blocked(
    action: Action,
    spec: DeviceSpec,
    dev: ObservedDevice | None,
    reason: str,
    *,
    temporary: bool = False,
    fields: Mapping | None = None,
) -> Change:
    return Change(
        action,
        spec.name,
        MappingProxyType(dict(fields or {})),
        status=ChangeStatus.BLOCKED,
        reason=reason,
        vuid=dev.vuid if dev else None,
        spec=spec,
        observed=dev,
        temporary=temporary,
    )


# -- owned devices no spec describes as they are -------------------------------------------


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
            reason = (
                f"guest driver bound (dev_status {dev.driver_status:#x}): unbind the "
                "device on the host before it is replaced"
            )
            out.append(
                Change(
                    Action.UNPLUG,
                    spec.name,
                    fields,
                    ChangeStatus.BLOCKED,
                    reason,
                    vuid=dev.vuid,
                    observed=dev,
                )
            )
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
    prune: bool,
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
        elif prune and desired.complete:
            unplugs.append(Change(Action.UNPLUG, name, vuid=dev.vuid, observed=dev))
        elif prune:
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
