"""Per-document validation: schema check with located errors, then normalisation into model specs.

The JSON Schema (``schema_defs``) decides what is structurally valid; a compiled
validator per kind is built once and reused. Rules the schema cannot say clearly
(which fields each device type needs, virtnet.conf exclusions) are checked here with
messages that tell the user what to do. ``VirtioNetDeviceSet`` documents expand here.

JSON Schema counts ``2.0`` as an integer, so a valid document may hold integral floats
in integer fields; they are normalised to ``int`` right after the schema check (the
schemas have no other number fields), so ``mtu: 1500.0`` means exactly ``mtu: 1500``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from reconciler import keys
from reconciler.features import parse_features
from reconciler.fields import CONF_SECTIONS, Conf, Spec
from reconciler.loading.fastschema import compile_schema
from reconciler.loading.parse import Document, ParsedFile, key_node, locate
from reconciler.loading.schema import schema_for
from reconciler.macs import mac_add, mac_problem, normalize_mac
from reconciler.model import (
    ControllerConfigSpec,
    DeviceSpec,
    DeviceType,
    FirmwareProfileSpec,
    RepresentorSpec,
    Source,
    SpecError,
    frozen_map,
)

__all__ = ["DocResult", "expand_vf_ids", "spec_generation", "validate_document"]

_MAX_MESSAGE = 160
_MAX_VF_IDS = 4096
_MAX_NAME = 63


@dataclass(frozen=True, slots=True)
class DocResult:
    """What one document declared (``name``) and produced, or why it could not."""

    kind: str | None
    name: str | None
    source: Source
    devices: tuple[DeviceSpec, ...] = ()
    config: ControllerConfigSpec | None = None
    firmware: FirmwareProfileSpec | None = None
    errors: tuple[SpecError, ...] = ()
    # device names a rejected set would have produced (so nothing of it is pruned)
    declared: tuple[str, ...] = field(default=())


@cache
def _validator(kind: str):
    from jsonschema import Draft202012Validator  # heavy: only when a spec is validated

    schema = schema_for(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path)


@cache
def _fast_check(kind: str):
    return compile_schema(schema_for(kind))


def _schema_errors(parsed: ParsedFile, doc: Document, kind: str) -> list[SpecError]:
    if _fast_check(kind)(doc.data):
        return []
    validator = _validator(kind)
    errors = []
    for err in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path))):
        path = list(err.absolute_path)
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})), key=str)
            for name in extra:
                where = key_node(parsed, doc, path, str(name))
                errors.append(SpecError(where, _dotted([*path, name]), "unknown field"))
            continue
        errors.append(SpecError(locate(parsed, doc, path), _dotted(path), _message(err)))
    return errors


def _message(err) -> str:
    """For anyOf, say why the branch of the right type failed ("does not match '^...'")."""
    if err.validator == "anyOf" and err.context:
        typed = [e for e in err.context if e.validator != "type" and not e.relative_path]
        if typed:
            return _short(typed[0].message)
    return _short(err.message)


def validate_document(parsed: ParsedFile, doc: Document) -> DocResult:
    """Validate one parsed document and normalise it; never raises for bad input."""
    here = Source(parsed.file, doc.line, doc.column)
    data = doc.data
    if not isinstance(data, dict):
        why = f"a document must be a mapping (apiVersion, kind, metadata...), not {_typename(data)}"
        return DocResult(None, None, here, errors=(SpecError(here, "", why),))
    kind = data.get("kind")
    name = _declared_name(data)
    if kind not in keys.KINDS:
        where = locate(parsed, doc, ["kind"])
        why = f"unknown kind {kind!r}; expected one of {', '.join(keys.KINDS)}"
        return DocResult(None, name, here, errors=(SpecError(where, "kind", _short(why)),))
    errors = _schema_errors(parsed, doc, kind)
    if errors:
        return DocResult(kind, name, here, errors=tuple(errors), declared=_set_names(data))
    doc = dataclasses.replace(doc, data=_integral(data))
    try:
        return _NORMALISERS[kind](parsed, doc, here)
    except (ValueError, TypeError) as exc:
        # a rule above missed a case: still one line about this document, never a crash
        why = _short(f"cannot be normalised: {exc}")
        return DocResult(kind, name, here, errors=(SpecError(here, "", why),),
                         declared=_set_names(data))


def _integral(value: Any) -> Any:
    """``value`` with every float made an int (only called on schema-valid documents).

    The schemas have integer fields only, and JSON Schema's "integer" admits ``2.0``;
    without this, ``count: 2.0`` would reach ``range()`` and ``mtu: 1500.0`` the CLI.
    Unchanged containers are returned as they are (no copy on the common path).
    """
    if isinstance(value, float):
        return int(value)
    if isinstance(value, dict):
        items = {k: _integral(v) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, list):
        items_list = [_integral(v) for v in value]
        return value if all(a is b for a, b in zip(items_list, value, strict=True)) else items_list
    return value


def _typename(value: Any) -> str:
    names = {list: "a list", str: "a string", type(None): "empty"}
    return names.get(type(value), type(value).__name__)


def _declared_name(data: dict) -> str | None:
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def _fail(kind, name, here, parsed, doc, *, problems) -> DocResult:
    errors = tuple(SpecError(locate(parsed, doc, p), _dotted(p), why) for p, why in problems)
    return DocResult(kind, name, here, errors=errors, declared=_set_names(doc.data))


def _device_problems(spec: dict, dtype: str, prefix: list) -> list[tuple[list, str]]:
    """Which fields each device type needs or must not have (the schema cannot say it clearly)."""
    problems = []

    def need(key, why):
        if key not in spec:
            problems.append((prefix, f"{key} is required: {why}"))

    def refuse(key, why):
        if key in spec:
            problems.append(([*prefix, key], why))

    if dtype == DeviceType.HOTPLUG:
        need(Spec.IB_DEVICE, "a hotplug device is created on an RDMA device (mlx5_0, mlx5_bond_0)")
        refuse(Spec.PF_ID, "a hotplug device gets its pf_id from the controller; remove it")
        refuse(Spec.VF_ID, "only a vf has a vf_id")
        refuse(Spec.MSIX_NUM, "msix_num applies to VFs only (the controller rejects it on a PF)")
    else:
        need(Spec.PF_ID, f"a {dtype} device is identified by its PF")
        refuse(Spec.IB_DEVICE, f"a {dtype} device is created by firmware, not on an ib_device")
        refuse(Spec.MAX_QUEUES, f"max_queues applies to hotplug devices only; a {dtype}'s queue "
               "count follows msix_num (VF) or the firmware (static PF)")
        refuse(Spec.LEGACY, "legacy applies to hotplug devices only")
    if dtype == DeviceType.VF:
        need(Spec.VF_ID, "a vf is identified by pf_id and vf_id")
    elif dtype == DeviceType.STATIC_PF:
        refuse(Spec.VF_ID, "only a vf has a vf_id")
        refuse(Spec.MSIX_NUM, "msix_num applies to VFs only (the controller rejects it on a PF)")
    return problems


def _build_device(name, dtype, mac, spec, *, labels, source) -> DeviceSpec:
    rep = spec.get(Spec.REPRESENTOR)
    features = spec.get(Spec.FEATURES)
    return DeviceSpec(
        name=name,
        type=DeviceType(dtype),
        mac=mac,
        mtu=spec.get(Spec.MTU),
        max_queues=spec.get(Spec.MAX_QUEUES),
        max_queue_size=spec.get(Spec.MAX_QUEUE_SIZE),
        features=None if features is None else parse_features(features),
        msix_num=spec.get(Spec.MSIX_NUM),
        sf_num=spec.get(Spec.SF_NUM),
        legacy=bool(spec.get(Spec.LEGACY, False)),
        ib_device=spec.get(Spec.IB_DEVICE),
        pf_id=spec.get(Spec.PF_ID),
        vf_id=spec.get(Spec.VF_ID),
        representor=None if rep is None else RepresentorSpec(rep.get("up"), rep.get("mtu")),
        labels=labels,
        source=source,
    )


def _feature_problem(spec: dict, prefix: list, key: str = Spec.FEATURES) -> list[tuple[list, str]]:
    if key not in spec:
        return []
    try:
        parse_features(spec[key])
    except (ValueError, TypeError) as exc:
        return [([*prefix, key], str(exc))]
    return []


def _normalise_device(parsed: ParsedFile, doc: Document, here: Source) -> DocResult:
    data = doc.data
    name, spec = data["metadata"]["name"], data["spec"]
    dtype = spec[Spec.TYPE]
    problems = _device_problems(spec, dtype, ["spec"]) + _feature_problem(spec, ["spec"])
    mac = normalize_mac(spec[Spec.MAC])
    if (why := mac_problem(mac)) is not None:
        problems.append((["spec", Spec.MAC], f"{mac} {why}"))
    if problems:
        return _fail(keys.KIND_DEVICE, name, here, parsed, doc, problems=problems)
    labels = frozen_map(data["metadata"].get("labels"))
    device = _build_device(name, dtype, mac, spec, labels=labels, source=here)
    return DocResult(keys.KIND_DEVICE, name, here, devices=(device,))


def expand_vf_ids(value: str | list[int]) -> list[int]:
    """``"0-3,8"`` -> ``[0, 1, 2, 3, 8]``; a list passes through.

    ValueError on a reversed range, an id above 4095 or more than 4096 ids in all: a
    PF has at most 4096 VFs, and stopping there bounds the work a hostile string causes.
    """
    if isinstance(value, list):
        return list(value)
    ids: list[int] = []
    for part in value.split(","):
        low, _, high = part.strip().partition("-")
        start, end = _vf_id(low), _vf_id(high or low)
        if end < start:
            raise ValueError(f"range {part.strip()!r} runs backwards")
        if len(ids) + end - start + 1 > _MAX_VF_IDS:
            raise ValueError(f"more than {_MAX_VF_IDS} VF ids in all")
        ids.extend(range(start, end + 1))
    return ids


def _vf_id(text: str) -> int:
    digits = text.strip()
    # compare digits first: a 5000-digit id must not reach int()'s own limit
    if len(digits.lstrip("0")) > 4 or int(digits) > _MAX_VF_IDS - 1:
        raise ValueError(f"vf id {digits[:12]!r} is above {_MAX_VF_IDS - 1}")
    return int(digits)


def _set_plan(spec: dict) -> tuple[str, list[int], list[tuple[list, str]]]:
    """(device type, indexes, problems) of a set spec."""
    has_ids, has_count = "vf_ids" in spec, "count" in spec
    if has_ids == has_count:
        return "vf", [], [(["spec"], "give vf_ids (a VF set) or count (a hotplug set), not both")]
    if has_count:
        return DeviceType.HOTPLUG, list(range(spec["count"])), []
    try:
        ids = expand_vf_ids(spec["vf_ids"])
    except (ValueError, TypeError) as exc:
        return DeviceType.VF, [], [(["spec", "vf_ids"], str(exc))]
    dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dupes:
        return DeviceType.VF, [], [(["spec", "vf_ids"], f"vf ids listed twice: {dupes[:10]}")]
    return DeviceType.VF, ids, []


def _set_names(data: Any) -> tuple[str, ...]:
    """Names a set declares even when it is invalid, so that none of its devices is pruned."""
    if not isinstance(data, dict) or data.get("kind") != keys.KIND_DEVICE_SET:
        return ()
    name, spec = _declared_name(data), data.get("spec")
    if name is None or not isinstance(spec, dict):
        return ()
    count = _whole(spec.get("count"))
    if count is not None:
        return tuple(f"{name}-{i}" for i in range(min(count, _MAX_VF_IDS)))
    try:
        ids = expand_vf_ids(spec.get("vf_ids"))
    except (ValueError, TypeError, AttributeError):
        return ()
    whole = (_whole(i) for i in ids[:_MAX_VF_IDS])
    return tuple(f"{name}-{i}" for i in whole if i is not None)


def _whole(value: Any) -> int | None:
    """``value`` as an int if it is one (``2.0`` included, ``True`` not), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _normalise_set(parsed: ParsedFile, doc: Document, here: Source) -> DocResult:
    data = doc.data
    name, spec = data["metadata"]["name"], data["spec"]
    template = dict(spec["template"])
    dtype, indexes, problems = _set_plan(spec)
    if dtype == DeviceType.VF:
        if Spec.PF_ID not in spec:
            problems.append((["spec"], "pf_id is required: a VF set names the PF of its VFs"))
        # the set supplies the identity fields, so the per-type check must not miss them
        template[Spec.PF_ID], template[Spec.VF_ID] = spec.get(Spec.PF_ID, 0), 0
    elif Spec.PF_ID in spec:
        problems.append((["spec", Spec.PF_ID], "a hotplug set gets pf_ids from the controller"))
    problems += _device_problems(template, dtype, ["spec", "template"])
    problems += _feature_problem(template, ["spec", "template"])
    macs, mac_problems = _set_macs(normalize_mac(spec["mac_base"]), indexes)
    problems += mac_problems
    if indexes and len(longest := f"{name}-{max(indexes)}") > _MAX_NAME:
        why = f"device name {longest!r} would be longer than {_MAX_NAME} characters; shorten it"
        problems.append((["metadata", "name"], _short(why)))
    if problems:
        return _fail(keys.KIND_DEVICE_SET, name, here, parsed, doc, problems=problems)
    labels = frozen_map(data["metadata"].get("labels"))
    devices = []
    for index, mac in zip(indexes, macs, strict=True):
        fields = dict(template)
        if dtype == DeviceType.VF:
            fields[Spec.VF_ID] = index
        device = _build_device(f"{name}-{index}", dtype, mac, fields, labels=labels, source=here)
        devices.append(device)
    return DocResult(keys.KIND_DEVICE_SET, name, here, devices=tuple(devices))


def _set_macs(base: str, indexes: list[int]) -> tuple[list[str], list[tuple[list, str]]]:
    """(MAC per index, problems): the first expanded MAC that overflows, is multicast or
    is all zeros is reported at mac_base (base + index can cross into an odd first octet).
    """
    value = int(base.replace(":", ""), 16)
    macs = []
    for index in indexes:
        if value + index >= 1 << 48:
            return [], [(["spec", "mac_base"], f"{base} + {index} overflows 48 bits")]
        mac = mac_add(base, index)
        if (why := mac_problem(mac)) is not None:
            return [], [(["spec", "mac_base"], f"{base} + {index} = {mac} {why}")]
        macs.append(mac)
    return macs, []


def _config_problems(conf: dict) -> list[tuple[list, str]]:
    problems = []
    ports = (Conf.IB_DEV_P0, Conf.IB_DEV_P1)
    if conf.get(Conf.IB_DEV_LAG) is not None:
        for key in ports:
            if key in conf:
                problems.append((["spec", key], f"must not be set together with {Conf.IB_DEV_LAG}"))
    if conf.get(Conf.IS_LAG) == 1 and conf.get(Conf.SINGLE_PORT) == 1:
        why = f"{Conf.IS_LAG} and {Conf.SINGLE_PORT} are mutually exclusive"
        problems.append((["spec", Conf.SINGLE_PORT], why))
    if conf.get(Conf.IS_LAG) == 1 and any(k in conf for k in ports):
        why = f"with {Conf.IS_LAG}, set {Conf.IB_DEV_LAG}, not {'/'.join(ports)}"
        problems.append((["spec", Conf.IS_LAG], why))
    start, end = conf.get(Conf.DPA_CORE_START), conf.get(Conf.DPA_CORE_END)
    if start is not None and end is not None and end < start:
        why = f"must not be below {Conf.DPA_CORE_START}"
        problems.append((["spec", Conf.DPA_CORE_END], why))
    for prefix in ([], *([s] for s in CONF_SECTIONS)):
        section = (conf.get(prefix[0]) or {}) if prefix else conf
        problems += _feature_problem(section, ["spec", *prefix], Conf.FEATURES)
        base = section.get(Conf.MAC_BASE)
        if base is not None and (why := mac_problem(normalize_mac(base))) is not None:
            problems.append((["spec", *prefix, Conf.MAC_BASE], f"{base} {why}"))
    return problems


def _normalise_config(parsed: ParsedFile, doc: Document, here: Source) -> DocResult:
    name, conf = doc.data["metadata"]["name"], doc.data["spec"]
    problems = _config_problems(conf)
    if problems:
        return _fail(keys.KIND_CONTROLLER_CONFIG, name, here, parsed, doc, problems=problems)
    config = ControllerConfigSpec(name, frozen_map(conf), here)
    return DocResult(keys.KIND_CONTROLLER_CONFIG, name, here, config=config)


def _normalise_firmware(parsed: ParsedFile, doc: Document, here: Source) -> DocResult:
    name, values = doc.data["metadata"]["name"], doc.data["spec"]["values"]
    as_ints = {key: int(value) for key, value in values.items()}  # True/False -> 1/0
    firmware = FirmwareProfileSpec(name, frozen_map(as_ints), here)
    return DocResult(keys.KIND_FIRMWARE_PROFILE, name, here, firmware=firmware)


_NORMALISERS: dict[str, Callable[[ParsedFile, Document, Source], DocResult]] = {
    keys.KIND_DEVICE: _normalise_device,
    keys.KIND_DEVICE_SET: _normalise_set,
    keys.KIND_CONTROLLER_CONFIG: _normalise_config,
    keys.KIND_FIRMWARE_PROFILE: _normalise_firmware,
}


def spec_generation(spec: DeviceSpec) -> str:
    """A short digest of what the device spec asks for (not where it came from).

    Status records carry it so that a reader can tell which version of a spec a
    result refers to; labels and the source position are not part of it.
    """
    rep = spec.representor
    parts = [
        spec.name, spec.type.value, spec.mac, spec.mtu, spec.max_queues, spec.max_queue_size,
        spec.features, spec.msix_num, spec.sf_num, spec.legacy, spec.ib_device, spec.pf_id,
        spec.vf_id, None if rep is None else (rep.up, rep.mtu),
    ]
    return hashlib.blake2s(repr(parts).encode(), digest_size=6).hexdigest()
