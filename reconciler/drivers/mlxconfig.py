"""Reads firmware parameters from ``mlxconfig q [-e]`` text output (pure parser + one call)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

from reconciler.drivers.runner import Runner
from reconciler.errors import BackendError
from reconciler.model import frozen_map

__all__ = ["MlxconfigValues", "parse_mlxconfig", "query_mlxconfig"]

_HEADER = re.compile(r"^Configurations:\s*(?P<columns>.*)$")
_COLUMNS = ("Default", "Current", "Next Boot")
_VALUE = re.compile(r"^(?:\S*\((?P<paren>-?\d+)\)|(?P<hex>0x[0-9a-fA-F]+)|(?P<dec>-?\d+))$")
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*(?:\[\d+\])?$")


@dataclass(frozen=True, slots=True)
class MlxconfigValues:
    """Parameter name -> int per column; a column ``mlxconfig`` did not print is empty.

    ``current`` is what the running firmware uses; ``next_boot`` what a cold
    reboot will bring (they differ after an ``mlxconfig set`` without reboot).
    """

    default: MappingProxyType
    current: MappingProxyType
    next_boot: MappingProxyType

    @property
    def reboot_pending(self) -> bool:
        """Some parameter changes at the next cold reboot."""
        return bool(self.current) and any(
            self.current.get(k) != v for k, v in self.next_boot.items()
        )


_BOOLS = {"True": 1, "False": 0}


def _value(word: str) -> int | None:
    """``True(1)``, ``MODE(2)``, ``16``, ``0x1AF4`` -> int; anything else (``N/A``) -> None."""
    match = _VALUE.match(word)
    if not match:
        return _BOOLS.get(word)
    if match["paren"] is not None:
        return int(match["paren"])
    if match["hex"] is not None:
        return int(match["hex"], 16)
    return int(match["dec"])


def _columns(header: str) -> list[str]:
    found = [(header.find(name), name) for name in _COLUMNS if name in header]
    return [name for _, name in sorted(found)] or ["Next Boot"]


def parse_mlxconfig(text: str) -> MlxconfigValues:
    """Parse ``mlxconfig -d DEV q`` (Next Boot only) or ``q -e`` (Default/Current/Next Boot)."""
    tables: dict[str, dict[str, int]] = {name: {} for name in _COLUMNS}
    columns: list[str] | None = None
    for line in text.splitlines():
        header = _HEADER.match(line.strip())
        if header:
            columns = _columns(header["columns"])
            continue
        if columns is None:
            continue
        tokens = line.split()
        if tokens[:1] == ["*"]:
            tokens = tokens[1:]  # '*' marks a value that differs from the default
        if len(tokens) != len(columns) + 1 or not _NAME.match(tokens[0]):
            continue
        for column, token in zip(columns, tokens[1:], strict=True):
            value = _value(token)
            if value is not None:
                tables[column][tokens[0]] = value
    if columns is None:
        raise BackendError("mlxconfig output has no 'Configurations:' table")
    return MlxconfigValues(
        default=frozen_map(tables["Default"]),
        current=frozen_map(tables["Current"]),
        next_boot=frozen_map(tables["Next Boot"]),
    )


def query_mlxconfig(
    runner: Runner, args: Sequence[str], *, timeout: float = 60.0
) -> MlxconfigValues:
    """Run ``mlxconfig`` (``args`` after the runner's executable) and parse its table."""
    result = runner(list(args), timeout=timeout)
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
        why = next((ln for ln in lines if ln.startswith("-E-")), lines[-1] if lines else "")
        raise BackendError(
            f"mlxconfig failed (exit {result.returncode}): {why}",
            argv=result.argv,
            returncode=result.returncode,
        )
    try:
        return parse_mlxconfig(result.stdout)
    except BackendError as e:
        raise BackendError(str(e), argv=result.argv, returncode=0) from e
