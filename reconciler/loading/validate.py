"""Per-document validation: the schema check with located errors, then the kind's normalisation.

The JSON Schema (:mod:`reconciler.loading.schema`) decides what is structurally valid; a
compiled validator per kind is built once and reused. Rules the schema cannot say
clearly (which fields each device type needs, virtnet.conf exclusions) are the kinds'
(``normalise`` in :mod:`reconciler.resources`): they return ``(path, message)``
problems, which are located here as ``file:line:col`` errors.

JSON Schema counts ``2.0`` as an integer, so a valid document may hold integral floats
in integer fields; they are normalised to ``int`` right after the schema check (the
schemas have no other number fields), so ``mtu: 1500.0`` means exactly ``mtu: 1500``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from reconciler import keys
from reconciler.loading.fastschema import compile_schema
from reconciler.loading.parse import Document, ParsedFile, key_node, locate
from reconciler.loading.schema import schema_for
from reconciler.model import (
    ControllerConfigSpec,
    DeviceSpec,
    FirmwareProfileSpec,
    Source,
    SpecError,
)
from reconciler.resources.registry import BY_SPEC_KIND, Kind

__all__ = ["DocResult", "validate_document"]

_MAX_MESSAGE = 160


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
    kind_name = data.get("kind")
    name = _declared_name(data)
    kind = BY_SPEC_KIND.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None or kind.normalise is None:
        where = locate(parsed, doc, ["kind"])
        why = f"unknown kind {kind_name!r}; expected one of {', '.join(keys.KINDS)}"
        return DocResult(None, name, here, errors=(SpecError(where, "kind", _short(why)),))
    errors = _schema_errors(parsed, doc, kind_name)
    if errors:
        declared = _declared(kind, data)
        return DocResult(kind_name, name, here, errors=tuple(errors), declared=declared)
    doc = dataclasses.replace(doc, data=_integral(data))
    try:
        done = kind.normalise(doc.data, here)
    except (ValueError, TypeError) as exc:
        # a rule the kind checks missed a case: still one line about this document, never a crash
        why = _short(f"cannot be normalised: {exc}")
        return DocResult(
            kind_name,
            name,
            here,
            errors=(SpecError(here, "", why),),
            declared=_declared(kind, data),
        )
    if done.problems:
        errors = tuple(
            SpecError(locate(parsed, doc, list(p)), _dotted(p), why) for p, why in done.problems
        )
        return DocResult(kind_name, name, here, errors=errors, declared=_declared(kind, doc.data))
    return DocResult(
        kind_name, name, here, devices=done.devices, config=done.config, firmware=done.firmware
    )


def _declared(kind: Kind, data: Any) -> tuple[str, ...]:
    """Names an invalid document still claims (a set's devices), so none of them is pruned."""
    return kind.declared(data) if kind.declared is not None else ()


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
