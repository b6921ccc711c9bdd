"""The embedded controller in process, for tests: ``Emulator(root).run(argv)`` -> (code, out, err).

Same client, same core, same bytes as the ``virtnet-emu`` executable. With a root, the
service for it runs in a thread of this process (subprocess clients of the same root
reach it through its socket) unless another process already serves that root; with
``root=None`` everything lives in memory and nothing is served.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from reconciler.emulator.client import Retry, Starter, execute, start_lock
from reconciler.emulator.controller import StartRefused
from reconciler.emulator.core import Core
from reconciler.emulator.faults import FaultConfig, Verdict
from reconciler.emulator.firmware import FirmwareProfile
from reconciler.emulator.modes import mode_value
from reconciler.emulator.persist import CorruptState, MemoryPersist, Persist
from reconciler.emulator.service import Busy, host_in_process, hosted
from reconciler.emulator.state import Device, DpuState
from reconciler.emulator.wire import NoReply

__all__ = ["Emulator"]

Result = tuple[int, str, str]


class Emulator:
    """One emulated DPU. ``run`` is what the ``virtnet-emu`` executable does; the typed
    helpers below are for tests that want values rather than text."""

    def __init__(self, root: Path | str | None = None, *, netns: str | None = None) -> None:
        self.root = None if root is None else Path(root).absolute()
        self.netns = netns
        if self.root is None:
            self.store = MemoryPersist()
            self._starter: Starter = _MemoryStarter(self.store)
        else:
            self.store = Persist(self.root)
            self._starter = _InProcessStarter()

    def run(self, argv: list[str]) -> Result:
        return execute(list(argv), root=self.root, starter=self._starter, netns=self.netns)

    # ---- typed helpers for tests -----------------------------------------------------
    def dump(self) -> dict:
        code, out, err = self.run(["dump"])
        if code != 0:
            raise RuntimeError(f"virtnet-emu dump failed: {(out + err).strip()}")
        return json.loads(out)

    def devices(self) -> list[Device]:
        """The running controller's devices, in list order (started on first use)."""
        return [Device.from_row(row) for row in self.dump()["devices"]]

    def device(self, vuid: str) -> Device:
        return next(d for d in self.devices() if d.vuid == vuid)

    def dpu(self) -> DpuState:
        return DpuState.from_json(self.dump()["dpu"])

    def profile(self) -> FirmwareProfile:
        return self.dpu().profile

    def faults(self) -> FaultConfig:
        return self.dpu().faults

    def records(self) -> dict[str, dict]:
        return self.store.records()

    def calls(self) -> list[dict]:
        return self.store.calls()

    def set_conf(self, conf: object) -> None:
        """Write ``virtnet.conf`` (read at the next start/restart)."""
        self.store.write_conf(conf)


class _DirectChannel:
    """Calls into a service this process hosts, queued with its socket calls."""

    def __init__(self, host) -> None:
        self.host = host

    def call(self, request: bytes) -> bytes:
        try:
            response = self.host.direct(request)
        except Busy:
            self.host.finished.wait(60)
            raise Retry from None
        if response is None:
            raise NoReply("the controller died mid-call")
        return response


class _InProcessStarter(Starter):
    """A root's service runs in a thread here, unless another process serves it."""

    def reach(self, root: Path):
        host = hosted(root)
        return _DirectChannel(host) if host is not None else super().reach(root)

    def start(self, root: Path):
        with start_lock(root):
            channel = self.reach(root)
            if channel is not None:
                return channel
            try:
                return _DirectChannel(host_in_process(root))
            except (Busy, StartRefused, CorruptState, OSError):
                return None


class _MemoryStarter(Starter):
    """No files, no threads: the core is called directly; 'running' is its controller."""

    def __init__(self, persist: MemoryPersist) -> None:
        self.core = Core(persist)
        self.core.serving = False

    def reach(self, root):
        return _MemoryChannel(self.core) if self.core.running else None

    def start(self, root):
        try:
            with self.core.lock:
                self.core.start_controller()
        except StartRefused:
            return None
        return _MemoryChannel(self.core)

    def offline(self, root, request: bytes) -> bytes | None:
        with self.core.lock:
            return self.core.execute(json.loads(request), Verdict()).response

    def dpu_flags(self, root):
        dpu = self.core.dpu
        return dpu.stopped, bool(dpu.profile.emulation_enable)

    def wait_released(self, root, pid=None) -> None:
        return None


class _MemoryChannel:
    def __init__(self, core: Core) -> None:
        self.core = core

    def call(self, request: bytes) -> bytes:
        core, req = self.core, json.loads(request)
        with core.lock:
            verdict = core.judge(req)
            deadline = float(mode_value(core.dpu.modes, "call_deadline_s"))
        if verdict.latency_ms:
            time.sleep(min(verdict.latency_ms / 1000, deadline))
        with core.lock:
            outcome = core.execute(req, verdict)
        if outcome.response is None:
            raise NoReply("the controller died mid-call")
        return outcome.response
