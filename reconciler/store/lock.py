"""The one-writer lock: ``apply`` and ``watch`` on one DPU never run their cycles at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from reconciler.errors import LockedError

__all__ = ["writer_lock"]


@contextlib.contextmanager
def writer_lock(path: Path, *, timeout: float = 10.0, poll: float = 0.05) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` for the duration of the block.

    flock (not a pid file) so that a reconciler killed with -9 releases it at once:
    a crash can never leave a stale lock behind. The file is created 0600 and holds
    the holder's pid, for the error message of whoever waits.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise LockedError(
                        f"another virtnet apply/watch (pid {holder}) holds {path}; "
                        f"waited {timeout:g} s"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
