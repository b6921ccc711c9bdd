"""Find and wait for processes by their argv (a crashed run's vendor-CLI child)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

__all__ = ["running_calls", "wait_for_calls"]


def running_calls(markers: Iterable[str], *, proc: str = "/proc") -> list[int]:
    """PIDs of other processes whose argv holds every marker as a whole element.

    Case-insensitive (MACs are printed either way). Processes that vanish or cannot
    be read while scanning are skipped: a scan is a best effort, never an error.
    """
    wanted = {m.lower() for m in markers if m}
    if not wanted:
        return []
    me = os.getpid()
    found = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"{proc}/{entry}/cmdline", "rb") as fh:
                raw = fh.read(65536)
        except OSError:
            continue
        argv = {part.decode(errors="replace").lower() for part in raw.split(b"\0") if part}
        if wanted <= argv:
            found.append(int(entry))
    return found


def wait_for_calls(markers: Iterable[str], *, timeout: float, poll: float = 0.05) -> int:
    """Wait (at most ``timeout`` s) until no process matches; returns how many were seen."""
    markers = list(markers)
    seen = set(running_calls(markers))
    deadline = time.monotonic() + timeout
    while seen and time.monotonic() < deadline:
        time.sleep(poll)
        still = set(running_calls(markers))
        if not still:
            break
        seen |= still
    return len(seen)
