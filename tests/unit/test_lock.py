"""The one-writer lock: a second writer waits, then gives up with who holds it; death frees it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from reconciler.errors import LockedError
from reconciler.store.lock import writer_lock

HOLDER = """
import sys, time
from pathlib import Path
from reconciler.store.lock import writer_lock
with writer_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def _hold_in_child(path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


class TestWriterLock:
    """apply and watch serialise on one lock file per DPU."""

    def test_second_writer_is_refused_with_the_holders_pid(self, tmp_path):
        path = tmp_path / "lock"
        child = _hold_in_child(path)
        try:
            with (
                pytest.raises(LockedError, match=f"pid {child.pid}"),
                writer_lock(path, timeout=0.2),
            ):
                pass
        finally:
            child.kill()
            child.wait()

    def test_kill_9_of_the_holder_frees_the_lock_at_once(self, tmp_path):
        path = tmp_path / "lock"
        child = _hold_in_child(path)
        child.kill()
        child.wait()
        with writer_lock(path, timeout=0.0):
            assert path.read_text().strip() == str(os.getpid())

    def test_lock_file_is_private(self, tmp_path):
        path = tmp_path / "data" / "lock"
        with writer_lock(path):
            pass
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_a_waiting_writer_gets_the_lock_when_it_is_released(self, tmp_path):
        path = tmp_path / "lock"
        child = _hold_in_child(path)
        killer = subprocess.Popen(
            [sys.executable, "-c", f"import os, time; time.sleep(0.3); os.kill({child.pid}, 9)"]
        )
        try:
            with writer_lock(path, timeout=30):
                # we only got it because the holder died (it would have held it 60 s)
                assert child.wait(timeout=5) == -9
        finally:
            killer.wait()
            child.wait()
