"""Suite-wide: no emulator service started by a test outlives the test.

``virtnet-emu`` starts a controller service on first use (docs/vendor-cli.md). Tests
create hundreds of emulator roots under their ``tmp_path``; after each test, the
services under it are stopped: the ones this process hosts, and service processes
(found by their ``service.pid``, checked against ``/proc/PID/cmdline``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

# a safety net for roots outside tmp_path: an idle service exits after this long
os.environ.setdefault("VIRTNET_EMULATOR_IDLE_S", "20")


def _service_pids(under: Path) -> list[int]:
    pids = []
    for dirpath, dirnames, filenames in os.walk(under):
        dirnames[:] = [d for d in dirnames if d != "recovery"]  # thousands of records
        if "service.pid" not in filenames:
            continue
        with contextlib.suppress(OSError, ValueError):
            pid = int(Path(dirpath, "service.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"reconciler.emulator" in cmdline and b"serve" in cmdline:
                pids.append(pid)
    return pids


def stop_services(under: Path) -> None:
    """Stop every emulator service whose root is under ``under``."""
    from reconciler.emulator.service import stop_hosted

    stop_hosted(under)
    pids = _service_pids(under)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (a zombie has exited: its parent, init, reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture(autouse=True)
def _no_emulator_service_outlives_its_test(request):
    # taken now: at teardown the tmp_path fixture may be gone already
    path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if path is not None:
        stop_services(path)


def pytest_sessionfinish(session):
    base = session.config._tmp_path_factory.getbasetemp()
    if base.exists():
        stop_services(base)
