"""The intent journal: written before each mutating call so a crash mid-call can be resolved."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from reconciler.fsutil import atomic_write_json

__all__ = ["Intent", "Journal"]


@dataclass(frozen=True, slots=True)
class Intent:
    """One mutating call about to be made: enough to tell afterwards whether it happened.

    For a hotplug the MAC identifies the device that may or may not exist now;
    for an unplug or modify, the VUID.
    """

    op: str
    name: str
    mac: str | None = None
    vuid: str | None = None
    device_type: str | None = None
    pf_id: int | None = None
    vf_id: int | None = None


class Journal:
    """A one-entry write-ahead journal (we make one mutating call at a time)."""

    def __init__(self, path: Path):
        self.path = path

    def begin(self, intent: Intent) -> None:
        atomic_write_json(self.path, {"pending": asdict(intent)}, mode=0o600)

    def done(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def pending(self) -> Intent | None:
        """The intent left by a run that died mid-call, if any (a corrupt file counts as none)."""
        try:
            data = json.loads(self.path.read_text())["pending"]
            return Intent(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # a torn journal cannot happen (atomic writes); an edited one is unusable:
            # the level-triggered plan still converges, so drop it.
            return None
