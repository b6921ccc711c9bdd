"""Render a plan for people (``terraform plan``-like text) and machines (the contract's JSON)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from reconciler.fields import Spec
from reconciler.model import Action, Change, DeviceType, ObservedDevice, Plan

__all__ = ["render_json", "render_text"]

_SYMBOL = {
    Action.HOTPLUG: "+",
    Action.UNPLUG: "-",
    Action.REPLACE: "-/+",
    Action.MODIFY: "~",
    Action.REPRESENTOR: "~",
    Action.CONFIG: "~",
    Action.RECOVERY_CLEANUP: "-",
}
_COLOR = {"+": "32", "-": "31", "-/+": "35", "~": "33", "!": "1;31", "warn": "33"}
_NO_CHANGES = "No changes. Devices match the desired state."


def render_text(plan: Plan, *, color: bool) -> str:
    """One line per change, then what we leave alone, then a summary line."""

    def paint(key: str, text: str) -> str:
        return f"\x1b[{_COLOR[key]}m{text}\x1b[0m" if color else text

    lines = [_line(change, paint) for change in plan.changes]
    lines += _unmanaged_lines(plan)
    lines += [paint("warn", f"Warning: {text}") for text in plan.warnings]
    lines += [paint("!", f"Error: {text}") for text in plan.errors]
    if plan.errors and plan.changes:
        lines.append("Nothing will be changed until the errors above are fixed.")
    lines.append(_summary(plan) if plan.changes else _NO_CHANGES)
    return "\n".join(lines) + "\n"


def _unmanaged_lines(plan: Plan) -> list[str]:
    """Undeclared hotplug devices one per line (they are what an operator may have
    forgotten); undeclared static PFs and VFs, which firmware creates by the hundred,
    as one count."""
    lines = [
        f"  unmanaged: {_device(dev)} (left alone)"
        for dev in plan.unmanaged
        if dev.type is DeviceType.HOTPLUG
    ]
    others = Counter(dev.type.value for dev in plan.unmanaged if dev.type is not DeviceType.HOTPLUG)
    if others:
        what = ", ".join(f"{n} {kind}" for kind, n in sorted(others.items()))
        lines.append(f"  unmanaged: {what} not declared in any spec (left alone)")
    return lines


def render_json(plan: Plan) -> dict[str, Any]:
    """The ``-o json`` shape of ``virtnet diff`` (DESIGN.md section 4)."""
    return {
        "changes": [change.to_json() for change in plan.changes],
        "unmanaged": [_device_json(dev) for dev in plan.unmanaged],
        "errors": list(plan.errors),
        "warnings": list(plan.warnings),
    }


def _line(change: Change, paint) -> str:
    if not change.ready:
        retry = " (will retry)" if change.temporary else ""
        line = f"! blocked {change.action.value} {change.name}: {change.reason}{retry}"
        if change.action is Action.CONFIG:
            line += "".join(f"\n    {_config_diff(k, o, n)}" for k, (o, n) in change.fields.items())
        return paint("!", line)
    if change.action is Action.CONFIG:
        head = f"~ config {change.name} (controller restart)"
        lines = [head, *(f"    {_config_diff(k, o, n)}" for k, (o, n) in change.fields.items())]
        return paint("~", "\n".join(lines))
    symbol = _SYMBOL.get(change.action, "~")
    head = f"{symbol} {change.action.value} {change.name}"
    if change.action is Action.HOTPLUG:
        values = ", ".join(f"{k} {_value(k, new)}" for k, (_old, new) in change.fields.items())
        return paint(symbol, f"{head} ({values})")
    if change.action is Action.UNPLUG:
        return paint(symbol, f"{head} ({change.vuid})" if change.vuid else head)
    diffs = ", ".join(
        f"{k}: {_value(k, old)} -> {_value(k, new)}"
        for k, (old, new) in change.fields.items()
        if old != new
    )
    return paint(symbol, f"{head}  {diffs}" if diffs else head)


def _config_diff(key: str, old: Any, new: Any) -> str:
    """One virtnet.conf key as exact JSON: ``"is_lag": 0 -> 1`` (absent shows as ``-``)."""

    def show(value: Any) -> str:
        return "-" if value is None else json.dumps(value, sort_keys=True)

    return f"{json.dumps(key)}: {show(old)} -> {show(new)}"


def _value(key: str, value: Any) -> str:
    if key == Spec.FEATURES and isinstance(value, int):
        return hex(value)
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _summary(plan: Plan) -> str:
    ready = plan.ready
    count = {action: sum(c.action is action for c in ready) for action in Action}
    others = (Action.HOTPLUG, Action.UNPLUG, Action.REPLACE, Action.CONFIG, Action.RECOVERY_CLEANUP)
    modify = len(ready) - sum(count[a] for a in others)
    extra = ""
    if count[Action.REPLACE]:
        extra += f", {count[Action.REPLACE]} to replace"
    if count[Action.CONFIG]:
        extra += ", controller config to write (restart)"
    if count[Action.RECOVERY_CLEANUP]:
        extra += f", {count[Action.RECOVERY_CLEANUP]} recovery record(s) to remove"
    return (
        f"Plan: {count[Action.HOTPLUG]} to hotplug, {modify} to modify, "
        f"{count[Action.UNPLUG]} to unplug{extra}, {len(plan.blocked)} blocked."
    )


def _device(dev: ObservedDevice) -> str:
    where = f"pf{dev.pf_id}/vf{dev.vf_id}" if dev.vf_id is not None else f"pf{dev.pf_id}"
    return f"{dev.type.value} {where} {dev.vuid} mac {dev.mac or '-'}"


def _device_json(dev: ObservedDevice) -> dict[str, Any]:
    return {
        "vuid": dev.vuid,
        "type": dev.type.value,
        "pf_id": dev.pf_id,
        "vf_id": dev.vf_id,
        "mac": dev.mac,
    }
