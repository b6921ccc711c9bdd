"""Emulator modes: controller builds and behaviours a reconciler must survive, switched by name.

``virtnet-emu mode set NAME=VALUE ...`` persists them in ``dpu.json``; each is listed
with its default and meaning in docs/vendor-cli.md ("Modes").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["MODES", "Mode", "mode_value", "parse_mode"]


@dataclass(frozen=True, slots=True)
class Mode:
    default: object
    parse: Callable[[str], object]
    meaning: str


def _choice(*words: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in words:
            raise ValueError(f"must be one of {', '.join(words)}")
        return text

    return parse


def _flag(text: str) -> int:
    if text not in ("0", "1"):
        raise ValueError("must be 0 or 1")
    return int(text)


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise ValueError("must be 1-64")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0.1 <= value <= 3600:
        raise ValueError("must be 0.1-3600 seconds")
    return value


MODES: dict[str, Mode] = {
    "hotplug_vuid": Mode(1, _flag, "0: hotplug answers without vuid (controllers before 24.x)"),
    "dev_status": Mode(1, _flag, "0: list/query devices have no dev_status (older controllers)"),
    "update": Mode(
        "supported",
        _choice("supported", "unsupported"),
        "unsupported: every update call is refused as unknown (page: controller too old)",
    ),
    "update_hotplug": Mode(
        "allow",
        _choice("allow", "refuse"),
        "refuse: hotplug/unplug get EBUSY during a live update (v24.07 page; the page allows)",
    ),
    "conf_invalid": Mode(
        "refuse",
        _choice("refuse", "ignore"),
        "what an invalid virtnet.conf does at start: refuse to start, or boot with defaults",
    ),
    "rpc_workers": Mode(1, _count, "calls served at once (1: one at a time, in arrival order)"),
    "call_deadline_s": Mode(
        30.0, _seconds, "a received call lands within this many seconds, latency faults included"
    ),
}


def mode_value(modes: Mapping[str, object], name: str):
    return modes.get(name, MODES[name].default)


def parse_mode(item: str) -> tuple[str, object]:
    """``NAME=VALUE`` -> (name, typed value); ValueError with a one-line reason."""
    name, sep, text = item.partition("=")
    name = name.strip()
    if not sep or name not in MODES:
        raise ValueError(f"unknown mode {name!r}: known are {', '.join(MODES)}")
    try:
        return name, MODES[name].parse(text.strip())
    except ValueError as exc:
        raise ValueError(f"mode {name}: {exc}") from None
