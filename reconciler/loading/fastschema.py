"""Compile the subset of JSON Schema our spec schemas use into a fast yes/no predicate.

jsonschema's validator is thorough but costs ~100 us per document; loading thousands of
devices must stay well under a second. The predicate is generated from the same schema
(so the schema stays the single source of truth) and answers only "valid?"; a document
it rejects is validated again by jsonschema to get the messages. A test checks with
random documents that both always agree. Unsupported keywords fail at compile time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["compile_schema"]

Check = Callable[[Any], bool]
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description"})


def _is_integer(value: Any) -> bool:
    # JSON Schema (and jsonschema): 3.0 is an integer, True is not
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": _is_integer,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compile_schema(schema: dict[str, Any]) -> Check:
    """A predicate equivalent to ``Draft202012Validator(schema).is_valid``."""
    unknown = set(schema) - _ANNOTATIONS - set(_KEYWORDS)
    if unknown:
        raise ValueError(f"fastschema does not support {sorted(unknown)}")
    special = _specialised(schema, set(schema) - _ANNOTATIONS)
    if special is not None:
        return special
    checks = [_KEYWORDS[k](schema[k], schema) for k in _KEYWORD_ORDER if k in schema]
    return _all_of([c for c in checks if c is not None])


def _specialised(schema: dict[str, Any], words: set[str]) -> Check | None:
    """One closure for the two commonest shapes (bounded integer, patterned string)."""
    if words == {"type", "minimum", "maximum"} and schema["type"] == "integer":
        low, high = schema["minimum"], schema["maximum"]
        return lambda v: _is_integer(v) and low <= v <= high
    if words == {"type", "pattern"} and schema["type"] == "string":
        search = re.compile(schema["pattern"]).search
        return lambda v: isinstance(v, str) and search(v) is not None
    return None


def _all_of(checks: list[Check]) -> Check:
    """Conjunction without a generator per call (this is the hot loop of loading)."""
    if not checks:
        return lambda _value: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)

    def check(value):
        for one in checks:  # noqa: SIM110 (all() with a generator is slower here)
            if not one(value):
                return False
        return True

    return check


def _type(name: str, _schema) -> Check:
    return _TYPES[name]


def _enum_key(value: Any) -> tuple[str, Any]:
    """Hashable identity with JSON Schema equality: 1 == 1.0, but True is not 1."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return ("other", value)


def _enum(options: list, _schema) -> Check:
    if any(isinstance(o, (list, dict)) for o in options):
        raise ValueError("fastschema enum supports scalars only")
    allowed = frozenset(_enum_key(o) for o in options)
    return lambda v: not isinstance(v, (list, dict)) and _enum_key(v) in allowed


def _const(value: Any, schema) -> Check:
    return _enum([value], schema)


def _minimum(bound, _schema) -> Check:
    return lambda v: not _number(v) or v >= bound


def _maximum(bound, _schema) -> Check:
    return lambda v: not _number(v) or v <= bound


def _pattern(text: str, _schema) -> Check:
    search = re.compile(text).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _min_length(n: int, _schema) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= n


def _max_length(n: int, _schema) -> Check:
    return lambda v: not isinstance(v, str) or len(v) <= n


def _min_items(n: int, _schema) -> Check:
    return lambda v: not isinstance(v, list) or len(v) >= n


def _items(sub: dict, _schema) -> Check:
    check = compile_schema(sub)
    return lambda v: not isinstance(v, list) or all(check(item) for item in v)


def _any_of(subs: list, _schema) -> Check:
    checks = [compile_schema(s) for s in subs]
    return lambda v: any(check(v) for check in checks)


def _required(names: list, _schema) -> Check:
    return lambda v: not isinstance(v, dict) or all(n in v for n in names)


def _dependent_required(deps: dict, _schema) -> Check:
    def check(v):
        if not isinstance(v, dict):
            return True
        return all(all(n in v for n in needs) for key, needs in deps.items() if key in v)

    return check


def _property_names(sub: dict, _schema) -> Check:
    check = compile_schema(sub)
    return lambda v: not isinstance(v, dict) or all(check(k) for k in v)


def _properties(props: dict, schema) -> Check:
    """``properties`` and ``additionalProperties`` together: one pass over the items."""
    checks = {name: compile_schema(sub) for name, sub in props.items()}
    extra = schema.get("additionalProperties", True)
    extra_check = compile_schema(extra) if isinstance(extra, dict) else None

    def check(v):
        if not isinstance(v, dict):
            return True
        for key, item in v.items():
            sub = checks.get(key)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra is False or (extra_check is not None and not extra_check(item)):
                return False
        return True

    return check


def _additional(extra, schema) -> Check | None:
    if "properties" in schema:
        return None  # handled together with properties
    return _properties({}, schema)


_KEYWORDS: dict[str, Callable[[Any, dict], Check | None]] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "minimum": _minimum,
    "maximum": _maximum,
    "pattern": _pattern,
    "minLength": _min_length,
    "maxLength": _max_length,
    "minItems": _min_items,
    "items": _items,
    "anyOf": _any_of,
    "required": _required,
    "dependentRequired": _dependent_required,
    "propertyNames": _property_names,
    "properties": _properties,
    "additionalProperties": _additional,
}
# cheap checks first
_KEYWORD_ORDER = tuple(_KEYWORDS)
