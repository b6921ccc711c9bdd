"""Emulator verbs with the controller down: the DPU's files changed under the service lock."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from reconciler.emulator.core import EMU_PREFIX, Core
from reconciler.emulator.faults import Verdict
from reconciler.emulator.persist import CorruptState, Persist
from reconciler.emulator.wire import error_response

__all__ = ["run_offline"]


def run_offline(root: Path, request: bytes) -> bytes | None:
    """The answer of an emulator verb run here; ``None`` when a service holds the root
    (it is starting or exiting: the caller asks it instead, or retries)."""
    persist = Persist(root)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(persist.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        req = json.loads(request)
        core = Core(persist)
        core.serving = False
        try:
            core.open()
        except CorruptState as exc:
            if req["method"] != EMU_PREFIX + "init":  # init starts over: it needs no old state
                return error_response(
                    -32000,
                    f"emulator state {exc.path} is corrupt: {exc.reason}; "
                    "remove it or run virtnet-emu init --force",
                )
        with core.lock:
            return core.execute(req, Verdict()).response
    finally:
        os.close(fd)
