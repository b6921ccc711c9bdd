"""Apply-loop detection (DESIGN 8): the same change applied and undone again and again stops.

A small JSON file in the engine's data dir counts, per ``(spec, field, new
value)``, how often that modify was applied, and the controller start times
seen at each application. When the plan asks for it again after ``limit``
applications, the device drifted back every time (a controller that keeps
restarting, firmware that ignores the value), so the change is not retried and
the spec reports an error instead. An entry is forgotten once the change has
stayed applied for ``quiet_s`` seconds, or the spec asks for another value.

Only reverts the spec did not ask for count: the guard remembers the spec's
generation at each application, and an operator who edits the spec (even back
to an earlier value: 1500 -> 9000 -> 1500) starts that device's counts afresh.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reconciler.fsutil import atomic_write_json
from reconciler.model import Action, Change
from reconciler.resources.device import generation

__all__ = ["LoopGuard", "LoopVerdict", "change_keys"]

LOOP_LIMIT = 3
QUIET_S = 600.0


def change_keys(change: Change) -> list[str]:
    """One key per field a modify sets: ``name|field|new``."""
    if change.action is not Action.MODIFY:
        return []
    return [f"{change.name}|{field}|{new}" for field, (_old, new) in change.fields.items()]


@dataclass(frozen=True, slots=True)
class LoopVerdict:
    """A change that must not be retried, and the one-line reason the operator reads."""

    name: str
    message: str


class LoopGuard:
    """Per-key application counts, loaded from and saved to one atomic JSON file."""

    def __init__(
        self, path: Path, *, limit: int = LOOP_LIMIT, quiet_s: float = QUIET_S, clock=time.time
    ):
        self.path = Path(path)
        self.limit = limit
        self.quiet_s = quiet_s
        self.clock = clock
        self.entries, self.generations = self._load()

    def _load(self) -> tuple[dict[str, dict], dict[str, str | None]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}, {}  # a lost counter only delays detection by a few rounds
        if not isinstance(data, dict):
            return {}, {}
        keys, gens = data.get("keys"), data.get("generations")
        return (keys if isinstance(keys, dict) else {}), (gens if isinstance(gens, dict) else {})

    def _spec_changed(self, change: Change) -> bool:
        """The spec was edited since this device's last application (not a revert)."""
        return change.name in self.generations and self.generations[change.name] != _gen(change)

    def seen_before(self, changes: Iterable[Change]) -> bool:
        """Some change was applied before: the caller re-reads the controller's start time."""
        return any(k in self.entries for c in changes for k in change_keys(c))

    def verdict(self, change: Change, started_at: float | None) -> LoopVerdict | None:
        """Refuse a change whose field was applied ``limit`` times and reverted each time."""
        if self._spec_changed(change):
            return None
        for key in change_keys(change):
            entry = self.entries.get(key)
            if entry is None or entry["count"] < self.limit:
                continue
            starts = sorted({s for s in entry["starts"] if s is not None})
            if started_at is not None and started_at not in starts:
                starts.append(started_at)
            since = _when(starts[0]) if starts else "unknown"
            restarts = f", {len(starts) - 1} controller restart(s) in between" if starts else ""
            _name, field, new = key.split("|", 2)
            message = (
                f"apply loop: {change.name} {field} -> {new} reverted {entry['count']} times "
                f"since controller start {since}{restarts}; not retrying "
                f"(fix the cause, then remove {self.path} to retry)"
            )
            return LoopVerdict(change.name, message)
        return None

    def applied(self, change: Change, started_at: float | None) -> None:
        now = self.clock()
        if self._spec_changed(change):
            prefix = f"{change.name}|"
            for key in [k for k in self.entries if k.startswith(prefix)]:
                del self.entries[key]
        if change_keys(change):
            self.generations[change.name] = _gen(change)
        for key in change_keys(change):
            entry = self.entries.setdefault(key, {"count": 0, "starts": [], "last": now})
            entry["count"] += 1
            entry["starts"].append(started_at)
            entry["last"] = now

    def settle(self, wanted: Iterable[Change]) -> None:
        """Forget keys the plan no longer wants once they stayed applied for ``quiet_s``."""
        still = {k for c in wanted for k in change_keys(c)}
        now = self.clock()
        for key in list(self.entries):
            if key not in still and now - self.entries[key]["last"] >= self.quiet_s:
                del self.entries[key]
        names = {key.split("|", 1)[0] for key in self.entries}
        self.generations = {n: g for n, g in self.generations.items() if n in names}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        atomic_write_json(self.path, {"keys": self.entries, "generations": self.generations})


def _gen(change: Change) -> str | None:
    return generation(change.spec) if change.spec is not None else None


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
