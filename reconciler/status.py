"""The status file: the last reconcile result per spec, written by apply/watch, read by status."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.fsutil import atomic_write_json
from reconciler.model import CycleResult, SpecState, SpecStatus

__all__ = [
    "STATUS_FILE",
    "STATUS_VERSION",
    "StatusUnavailableError",
    "default_status_dir",
    "read_status",
    "render_status",
    "write_status",
]

STATUS_FILE = "status.json"
STATUS_VERSION = 1
_DEFAULT_DIR = "/var/lib/virtnet-reconciler"
_NO_STATUS = "no status yet: run virtnet apply or virtnet watch"

_COLOURS = {
    SpecState.APPLIED.value: "\033[32m",  # green
    SpecState.PENDING.value: "\033[33m",  # yellow
    SpecState.BLOCKED.value: "\033[35m",  # magenta: waiting on someone else, not broken
    SpecState.ERROR.value: "\033[31m",  # red
}
_RESET = "\033[0m"


class StatusUnavailableError(ReconcilerError, FileNotFoundError):
    """Nothing has reconciled on this DPU yet (or the file was damaged): not the user's spec."""


def default_status_dir() -> Path:
    """``$VIRTNET_STATUS_DIR``, else the FHS place for a daemon's state."""
    return Path(os.environ.get("VIRTNET_STATUS_DIR") or _DEFAULT_DIR)


def write_status(status_dir: Path, result: CycleResult, *, now: float | None = None) -> None:
    """Write ``status.json`` atomically, keeping each spec's ``since`` while its state holds.

    ``since`` answers "how long has this been blocked?", so it must survive the
    many cycles in which nothing changes; that needs the previous file. A
    missing or damaged previous file just means every state starts now.
    """
    now = time.time() if now is None else now
    previous = _previous_specs(Path(status_dir))
    touched = {c.name for c in result.applied}
    specs = {
        s.name: _spec_entry(s, previous.get(s.name), now, s.name in touched)
        for s in result.statuses
    }
    data = {
        "version": STATUS_VERSION,
        "updated": now,
        "cycle": {
            "exit_code": result.exit_code,
            "duration_ms": round(result.duration_s * 1000, 1),
            "mutating_calls": result.mutating_calls,
            "errors": [*result.errors, *(f"{n}: {m}" for n, m, _ in result.failed)],
        },
        "specs": specs,
    }
    status_dir = Path(status_dir)
    # readable by monitoring agents, writable only by us: the status is public, not secret.
    # Only a directory we create gets our mode; an existing one (even /tmp) is left as is.
    status_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
    # compact: at 4096 specs indenting costs more than the rest of the write;
    # people read it through `virtnet status` (or `-o json`, which indents)
    atomic_write_json(status_dir / STATUS_FILE, data, mode=0o644, indent=None)


def _spec_entry(status: SpecStatus, prev: dict | None, now: float, touched: bool) -> dict:
    state = status.state.value
    same = prev is not None and prev.get("state") == state
    since = prev.get("since") if same else None
    if since is None:
        since = status.since if status.since is not None else now
    last_change = now if touched else status.last_change
    if last_change is None and prev is not None:
        last_change = prev.get("last_change")
    return {
        "state": state,
        "reason": status.reason,
        "since": since,
        "last_change": last_change,
        "generation": status.generation,
        "temporary": status.temporary,
    }


def _previous_specs(status_dir: Path) -> dict[str, dict]:
    try:
        data = read_status(status_dir)
    except StatusUnavailableError:
        return {}
    specs = data.get("specs")
    return (
        {k: v for k, v in specs.items() if isinstance(v, dict)} if isinstance(specs, dict) else {}
    )


def read_status(status_dir: Path) -> dict[str, Any]:
    """The parsed status file; a one-line :class:`StatusUnavailableError` if absent or damaged."""
    path = Path(status_dir) / STATUS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StatusUnavailableError(f"{_NO_STATUS} (no {path})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StatusUnavailableError(f"{_NO_STATUS} ({path} is unreadable: {exc})") from exc
    if not isinstance(data, dict) or data.get("version") != STATUS_VERSION:
        raise StatusUnavailableError(f"{_NO_STATUS} ({path} has an unknown format)")
    return data


def render_status(data: dict[str, Any], *, color: bool, now: float | None = None) -> str:
    """A NAME STATE SINCE REASON table, then the last cycle's errors; colour only on request."""
    now = time.time() if now is None else now
    rows = [("NAME", "STATE", "SINCE", "REASON")]
    for name, entry in sorted(data.get("specs", {}).items()):
        since = entry.get("since")
        age = _age(now - since) if isinstance(since, int | float) else "-"
        rows.append((name, str(entry.get("state", "?")), age, entry.get("reason") or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [_row(r, widths, color and i > 0) for i, r in enumerate(rows)]
    lines.extend(_footer(data, now))
    return "\n".join(lines)  # no trailing newline: callers print() it


def _row(row: tuple[str, str, str, str], widths: list[int], color: bool) -> str:
    name, state, since, reason = row
    padded = state.ljust(widths[1])
    if color and state in _COLOURS:
        padded = f"{_COLOURS[state]}{padded}{_RESET}"  # pad first so colour codes keep columns
    return f"{name.ljust(widths[0])}  {padded}  {since.ljust(widths[2])}  {reason}".rstrip()


def _footer(data: dict[str, Any], now: float) -> list[str]:
    updated = data.get("updated")
    cycle = data.get("cycle") or {}
    out = []
    if isinstance(updated, int | float):
        stamp = datetime.fromtimestamp(updated, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        out.append(
            f"\nlast reconcile: {stamp} ({_age(now - updated)} ago), "
            f"exit code {cycle.get('exit_code', '?')}"
        )
    out.extend(f"error: {e}" for e in cycle.get("errors") or ())
    return out


def _age(seconds: float) -> str:
    """kubectl-style age: 45s, 12m, 3h, 2d."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
