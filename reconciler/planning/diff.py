"""Turn one matched spec into its changes: hotplug, modify, replace, representor, or a block."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reconciler.fields import (
    FIELDS,
    GUEST_UNBIND,
    HOTPLUG_FIELDS,
    MODIFIABLE,
    REPLACE_ON_CHANGE,
    Spec,
)
from reconciler.keys import Fw
from reconciler.model import (
    Action,
    Change,
    ChangeStatus,
    DeviceSpec,
    DeviceType,
    ObservedDevice,
    frozen_map,
)
from reconciler.planning.match import Match

__all__ = ["REASON_MIGRATING", "device_changes", "hotplug_fields", "representor_change"]

REASON_MIGRATING = "device migrating (live update)"
REASON_NO_VF = "waiting for the host to create it (sriov_numvfs)"
_ONLY = {DeviceType.VF: "VFs", DeviceType.HOTPLUG: "hotplug devices"}


def hotplug_fields(spec: DeviceSpec, defaults: Mapping[str, int]) -> dict[str, tuple]:
    """Every value `virtnet hotplug` will be given (MAC first), defaults for the required rest."""
    fields: dict[str, tuple] = {Spec.MAC: (None, spec.mac)}
    for field in HOTPLUG_FIELDS:
        value = getattr(spec, field.name)
        if field.hotplug_required:
            fields.setdefault(field.name, (None, defaults.get(field.name) if value is None
                                           else value))
        elif value is not None and value is not False:
            fields[field.name] = (None, value)
    return fields


def device_changes(
    match: Match,
    *,
    allow_replace: bool,
    defaults: Mapping[str, int],
    firmware: Mapping[str, int] | None,
    warnings: list[str],
) -> list[Change]:
    """The changes one spec needs against its matched device (empty when it matches)."""
    spec, dev = match.spec, match.device
    if match.problem is not None:
        why, wanted = match.problem, _wanted(spec)
        return [_blocked(Action.MODIFY, spec, dev, why, temporary=match.temporary, fields=wanted)]
    if dev is None:
        return [_missing(spec, defaults, firmware)]
    if dev.migrating:
        return [_blocked(Action.MODIFY, spec, dev, REASON_MIGRATING, temporary=True)]
    mutable = _diff_mutable(spec, dev, warnings)
    immutable = _diff_immutable(spec, dev) if spec.type is DeviceType.HOTPLUG else {}
    if immutable:
        fields = _replace_fields(spec, dev, defaults) | immutable | mutable
        return [_replace(spec, dev, fields, list(immutable), allow_replace)]
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
    return {name: (None, getattr(spec, name)) for name in MODIFIABLE
            if getattr(spec, name) is not None}


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
