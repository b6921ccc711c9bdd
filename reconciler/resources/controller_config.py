"""ControllerConfig -> ``virtnet.conf``: the per-key JSON diff and whether a restart may apply it.

The controller reads ``virtnet.conf`` only when it starts (reference 10.2), so a
changed config is one ``config`` change that needs a controller restart: blocked
unless ``--allow-restart``, and blocked even then while a restart is unsafe
(a guest driver is bound to a device, a live update runs, a device migrates).

The config also decides the MACs of static PFs and VFs: at start the controller
gives pfN ``static_pf.mac_base + N`` and vfM of pfN ``vf.mac_base + N *
vfs_per_pf + M``, unless a recovery record holds the device's MAC. A spec whose
MAC differs from that rule therefore holds only while its recovery record does;
when no record holds it, the next restart would revert it, and that is reported
as a warning (the loader requires ``mac``, so the rule never fills one in).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from reconciler.features import features_problem
from reconciler.fields import CONF_SECTIONS, Conf, conf_default
from reconciler.macs import mac_add, mac_problem, normalize_mac
from reconciler.model import (
    Action,
    Change,
    ChangeStatus,
    ControllerConfigSpec,
    DesiredState,
    DeviceSpec,
    DeviceType,
    ObservedWorld,
    Source,
    frozen_map,
)
from reconciler.resources.base import DiffOptions, DiffResult, Normalised, Problem

__all__ = [
    "REASON_RESTART_REQUIRED",
    "config_fields",
    "derived_mac",
    "diff",
    "normalise",
    "port_devices",
    "restart_problem",
]

REASON_RESTART_REQUIRED = "controller restart required: rerun with --allow-restart"
REASON_RESTART_OWED = (
    "virtnet.conf was written but the controller has not restarted since: "
    "rerun with --allow-restart"
)


def normalise(document: Mapping[str, Any], source: Source) -> Normalised:
    """The config of a schema-valid document, or the rules of virtnet.conf it breaks."""
    name, conf = document["metadata"]["name"], document["spec"]
    problems = _problems(conf)
    if problems:
        return Normalised(problems=tuple(problems))
    return Normalised(config=ControllerConfigSpec(name, frozen_map(conf), source))


def _problems(conf: Mapping[str, Any]) -> list[Problem]:
    """The vendor's exclusions the schema cannot say, and features it cannot check.

    A mac_base that no device could have (multicast, all zeros) is not one of them: the
    vendor's own example config has one, and the controller only checks a MAC's length.
    ``diff`` warns about it instead (:func:`_mac_base_warnings`).
    """
    problems: list[Problem] = []
    ports = (Conf.IB_DEV_P0, Conf.IB_DEV_P1)
    if conf.get(Conf.IB_DEV_LAG) is not None:
        for key in ports:
            if key in conf:
                problems.append((("spec", key), f"must not be set together with {Conf.IB_DEV_LAG}"))
    if conf.get(Conf.IS_LAG) == 1 and conf.get(Conf.SINGLE_PORT) == 1:
        why = f"{Conf.IS_LAG} and {Conf.SINGLE_PORT} are mutually exclusive"
        problems.append((("spec", Conf.SINGLE_PORT), why))
    if conf.get(Conf.IS_LAG) == 1 and any(k in conf for k in ports):
        why = f"with {Conf.IS_LAG}, set {Conf.IB_DEV_LAG}, not {'/'.join(ports)}"
        problems.append((("spec", Conf.IS_LAG), why))
    start, end = conf.get(Conf.DPA_CORE_START), conf.get(Conf.DPA_CORE_END)
    if start is not None and end is not None and end < start:
        why = f"must not be below {Conf.DPA_CORE_START}"
        problems.append((("spec", Conf.DPA_CORE_END), why))
    for prefix in ((), *((s,) for s in CONF_SECTIONS)):
        section = (conf.get(prefix[0]) or {}) if prefix else conf
        if Conf.FEATURES in section and (why := features_problem(section[Conf.FEATURES])):
            problems.append((("spec", *prefix, Conf.FEATURES), why))
    return problems


def _mac_base_warnings(spec: ControllerConfigSpec | None) -> Iterator[str]:
    """A mac_base the controller would number devices from, that no device can have."""
    if spec is None:
        return
    conf = _plain(spec.content)
    for prefix in ((), *((s,) for s in CONF_SECTIONS)):
        section = (conf.get(prefix[0]) or {}) if prefix else conf
        base = section.get(Conf.MAC_BASE) if isinstance(section, dict) else None
        if not isinstance(base, str) or (why := mac_problem(normalize_mac(base))) is None:
            continue
        where = ".".join((*prefix, Conf.MAC_BASE))
        yield (
            f"{spec.name}: {where} {base} {why}: the controller gives such MACs at start to "
            "the devices no spec or recovery record gives one"
        )


def diff(desired: DesiredState, world: ObservedWorld, options: DiffOptions) -> DiffResult:
    """The ``config`` change (if the file differs) and the MAC-rule warnings."""
    spec = desired.controller_config
    warnings = (*_mac_base_warnings(spec), *_mac_warnings(desired, world))
    if spec is None:
        return DiffResult(warnings=warnings)
    fields = config_fields(world.config_on_disk, spec.content)
    if not fields and not options.restart_owed:
        return DiffResult(warnings=warnings)
    status, reason, temporary = ChangeStatus.READY, None, False
    if not options.allow_restart:
        # the file on disk may already match: what runs is what the controller read
        status = ChangeStatus.BLOCKED
        reason = REASON_RESTART_REQUIRED if fields else REASON_RESTART_OWED
    elif (problem := restart_problem(world)) is not None:
        status, reason, temporary = ChangeStatus.BLOCKED, problem[0], problem[1]
    change = Change(
        Action.CONFIG, spec.name, frozen_map(fields), status, reason, temporary=temporary
    )
    return DiffResult((change,), warnings)


def port_devices(config: Mapping) -> frozenset[str]:
    """RDMA devices a controller started with ``config`` accepts for hotplug (reference 5, 10.4)."""
    if config.get(Conf.IS_LAG):
        return frozenset({_value(config, Conf.IB_DEV_LAG)})
    p0 = _value(config, Conf.IB_DEV_P0)
    if config.get(Conf.SINGLE_PORT):
        return frozenset({p0})
    return frozenset({p0, _value(config, Conf.IB_DEV_P1)})


def _value(config: Mapping, key: str) -> Any:
    """A top-level key's value, or the vendor's default when it is absent (or empty)."""
    return config.get(key) or conf_default(key)


def config_fields(on_disk: Mapping | None, wanted: Mapping) -> dict[str, tuple[Any, Any]]:
    """Top-level key -> (old, new) JSON values; the spec is the whole file, so extra keys go."""
    old, new = _plain(on_disk or {}), _plain(wanted)
    return {
        key: (old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def restart_problem(world: ObservedWorld) -> tuple[str, bool] | None:
    """Why restarting the controller now is unsafe, and whether waiting can fix it.

    The vendor says to unload virtio_net/virtio_pci on the host before a restart
    (reference 10.2): a bound guest driver needs the operator (not temporary);
    a live update or a migrating device finishes by itself (temporary).
    """
    if world.controller.live_update_active:
        return "controller restart refused: live update in progress", True
    migrating = [d.vuid for d in world.devices if d.migrating]
    if migrating:
        return f"controller restart refused: {len(migrating)} device(s) migrating", True
    bound = sorted(d.vuid for d in world.devices if d.driver_bound)
    if bound:
        shown = ", ".join(bound[:3]) + (" ..." if len(bound) > 3 else "")
        return (
            f"controller restart refused: guest driver bound on {len(bound)} device(s) "
            f"({shown}): unload virtio_net/virtio_pci on the host first",
            False,
        )
    return None


def derived_mac(config: Mapping, spec: DeviceSpec) -> str | None:
    """The MAC the controller's mac_base rule gives a static PF or VF, or None (no rule)."""
    conf = _plain(config)
    if spec.type is DeviceType.STATIC_PF and spec.pf_id is not None:
        section = _section(conf, Conf.STATIC_PF)
        base = section.get(Conf.MAC_BASE) or conf.get(Conf.MAC_BASE)
        return _add(base, spec.pf_id)
    if spec.type is DeviceType.VF and spec.pf_id is not None and spec.vf_id is not None:
        section = _section(conf, Conf.VF)
        per = section.get(Conf.VFS_PER_PF)
        if not isinstance(per, int) or isinstance(per, bool):
            return None
        return _add(section.get(Conf.MAC_BASE), spec.pf_id * per + spec.vf_id)
    return None


def _section(conf: Mapping, name: str) -> Mapping:
    return conf.get(name) if isinstance(conf.get(name), dict) else {}


def _add(base: Any, offset: int) -> str | None:
    if not isinstance(base, str) or not base:
        return None
    try:
        return mac_add(base, offset)
    except ValueError:
        return None


def _mac_warnings(desired: DesiredState, world: ObservedWorld):
    """Static/VF specs whose MAC only the recovery record keeps (a restart would revert it)."""
    config = (
        desired.controller_config.content
        if desired.controller_config is not None
        else world.config_on_disk
    )
    if not config:
        return
    recorded = {
        (r.pf_id, r.vf_id if r.function_type == "vf" else None): r.mac for r in world.recovery
    }
    for spec in desired.devices:
        rule = derived_mac(config, spec)
        if rule is None or rule == spec.mac.lower():
            continue
        if recorded.get((spec.pf_id, spec.vf_id)) == spec.mac.lower():
            continue
        yield (
            f"{spec.name}: mac {spec.mac} differs from {rule} that virtnet.conf's mac_base "
            "assigns, and no recovery record holds it: a controller restart would revert it"
        )


def _plain(value: Any) -> Any:
    """JSON-comparable copy: read-only mappings become dicts, recursively."""
    if isinstance(value, Mapping | MappingProxyType):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
