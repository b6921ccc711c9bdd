"""The intent journal: written before each mutating call so a crash mid-call can be resolved."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
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
    started: float | None = None  # epoch seconds, stamped by Journal.begin


class Journal:
    """A one-entry write-ahead journal (we make one mutating call at a time).

    Beside it, ``interrupted.json`` keeps calls a crashed run left in flight that
    may still reach the controller (a vendor CLI outlives its killed parent, and a
    controller finishes an RPC whose client died), until they are seen or time out.
    """

    def __init__(self, path: Path):
        self.path = path
        self.interrupted_path = path.with_name("interrupted.json")
        self.restart_path = path.with_name("restart-owed.json")

    def owe_restart(self, config_name: str) -> None:
        """virtnet.conf is about to change: a controller restart is owed until done."""
        atomic_write_json(
            self.restart_path, {"config": config_name, "since": time.time()}, mode=0o600
        )

    def restart_done(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.restart_path)

    def restart_owed(self) -> bool:
        return self.restart_path.exists()

    def begin(self, intent: Intent) -> None:
        if intent.started is None:
            intent = dataclasses.replace(intent, started=time.time())
        atomic_write_json(self.path, {"pending": asdict(intent)}, mode=0o600)

    def interrupted(self) -> list[Intent]:
        try:
            data = json.loads(self.interrupted_path.read_text())
            return [Intent(**item) for item in data["interrupted"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def set_interrupted(self, intents: list[Intent]) -> None:
        if intents:
            data = {"interrupted": [asdict(i) for i in intents]}
            atomic_write_json(self.interrupted_path, data, mode=0o600)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.interrupted_path)

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
