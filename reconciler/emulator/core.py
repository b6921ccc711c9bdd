"""The controller service's core: the DPU and running controller in memory, one call at a time.

Shared by the service process (``virtnet-emu serve``), the in-process host tests use
and the offline path (DPU verbs while the controller is not running). Callers hold
``lock`` around :meth:`judge` and :meth:`execute`.
"""

from __future__ import annotations

import errno as E
import json
import threading
import time
from dataclasses import dataclass, replace

from reconciler.emulator import emuverbs
from reconciler.emulator.controller import Controller, StartRefused, VendorError
from reconciler.emulator.faults import Verdict
from reconciler.emulator.handlers import MUTATING, VENDOR_METHODS, Call, ControllerDown, Params
from reconciler.emulator.persist import CorruptState, Persist
from reconciler.emulator.render import DeviceTexts, dumps_indented
from reconciler.emulator.state import ControllerState, DpuState
from reconciler.emulator.wire import error_response, error_text, result_response

__all__ = ["EMU_PREFIX", "Core", "Outcome", "default_dpu"]

EMU_PREFIX = "emu."  # emulator-only methods: "emu.guest", "emu.fault", ...
_PARSE_ERROR, _INVALID_REQUEST, _METHOD_NOT_FOUND = -32700, -32600, -32601


@dataclass(frozen=True, slots=True)
class Outcome:
    """A call's answer (``None``: none, the controller died) and what the service does next.

    ``after``: ``"exit"`` (answered, then the controller is gone), ``"crash"``.
    """

    response: bytes | None
    after: str | None = None


def default_dpu() -> DpuState:
    """A fresh emulated DPU: default firmware, the host created every VF it allows."""
    dpu = DpuState()
    dpu.sriov = [dpu.profile.num_vf] * dpu.profile.num_pf
    return dpu


class Core:
    """One emulated DPU. ``state`` is the running controller, ``None`` while it is not."""

    def __init__(self, persist: Persist, *, clock=time.time) -> None:
        self.persist = persist
        self.clock = clock
        self.lock = threading.RLock()
        self.dpu = default_dpu()
        self.state: ControllerState | None = None
        self.texts = DeviceTexts()
        self._saved_dpu: dict | None = None

    # ---- DPU ---------------------------------------------------------------------
    def open(self) -> None:
        """Load ``dpu.json`` (a fresh DPU when absent); raises CorruptState."""
        data = self.persist.load_dpu()
        if data is None:
            self.dpu = default_dpu()
            return
        try:
            self.dpu = DpuState.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            path = getattr(self.persist, "dpu_path", "dpu.json")
            raise CorruptState(path, f"{type(exc).__name__}: {exc}") from exc
        self._saved_dpu = data

    def save_dpu(self) -> None:
        data = self.dpu.to_json()
        if data != self._saved_dpu:
            self.persist.save_dpu(data)
            self._saved_dpu = json.loads(json.dumps(data))

    def log(self, *lines: str) -> None:
        for line in lines:
            self.persist.log_line(line)

    @property
    def running(self) -> bool:
        return self.state is not None

    # ---- controller lifecycle ----------------------------------------------------------
    def start_controller(self) -> None:
        """Start the controller: from the memory an idle service left, else a real start
        (virtnet.conf, SF pool, devices from firmware + host + records). Raises
        StartRefused with the controller's words, which also go to the log.
        """
        if not self.dpu.profile.emulation_enable:
            why = "VIRTIO_NET_EMULATION_ENABLE is False: the controller does not run"
            self.log(why)
            raise StartRefused(why)
        snapshot = self._take_hibernation()
        if snapshot is not None:
            self.state = snapshot
            self.log("emulator: service resumed (idle exit earlier): controller state kept")
        else:
            state = ControllerState()
            ctrl = Controller(state, self.dpu, self.persist, self.clock())
            try:
                self.log(*ctrl.start())
            except StartRefused as exc:
                self.log(str(exc))
                self.save_dpu()
                raise
            self.state = state
        self.dpu.stopped = False
        self.texts.clear()
        self.save_dpu()
        self._sync_netns()

    def _take_hibernation(self) -> ControllerState | None:
        try:
            data = self.persist.take_hibernation()
            return None if data is None else ControllerState.from_json(data)
        except (CorruptState, KeyError, TypeError, ValueError) as exc:
            self.log(f"emulator: hibernation snapshot unusable ({exc}): starting afresh")
            return None

    def stop_controller(self, *, hibernate: bool) -> None:
        """The controller stops. ``hibernate``: the emulator only goes idle, and the next
        start resumes this memory; otherwise it is lost (records stay).
        """
        if self.state is None:
            return
        if hibernate:
            self.persist.save_hibernation(self.state.to_json())
            self.log("emulator: service idle, exiting; the next call resumes it")
        else:
            ctrl = Controller(self.state, self.dpu, self.persist, self.clock())
            self.log(*ctrl.stop(), "controller stopped")
            self.save_dpu()
        self.state = None

    # ---- calls -------------------------------------------------------------------------
    def judge(self, request: dict) -> Verdict:
        """The fault plan's verdict on a vendor call (counted once, before its latency)."""
        method = request.get("method")
        if method not in VENDOR_METHODS or self.state is None:
            return Verdict()
        self.dpu.faults, verdict = self.dpu.faults.judge(method)
        return verdict

    def execute(self, request: dict, verdict: Verdict) -> Outcome:
        method, params = request.get("method"), request.get("params")
        context = request.get("context") or {}
        if not isinstance(method, str) or not isinstance(params, dict):
            return Outcome(error_response(_INVALID_REQUEST, "Invalid Request"))
        if method.startswith(EMU_PREFIX):
            return self._emulator(method[len(EMU_PREFIX) :], Params(params), context)
        if method not in VENDOR_METHODS:
            return Outcome(error_response(_METHOD_NOT_FOUND, "Method not found"))
        if self.state is None:
            return Outcome(None, after="not-running")
        return self._vendor(method, Params(params), context, verdict)

    def _vendor(self, method: str, p: Params, context: dict, verdict: Verdict) -> Outcome:
        ctrl = Controller(self.state, self.dpu, self.persist, self.clock())
        ctrl.tick()
        self._use_netns(context)
        seconds = context.get("update_seconds")
        call = Call(ctrl, p, self.texts, 2.0 if seconds is None else float(seconds))
        after, ok = None, False
        if verdict.fail:
            response = error_response(-E.EIO, "injected fault")
        else:
            try:
                result = VENDOR_METHODS[method](call)
                text = getattr(result, "text", None)
                response = result_response(text if text is not None else dumps_indented(result))
                ok = True
            except ControllerDown as exc:
                response, after = error_response(exc.code, exc.message), "exit"
                self.state = None
            except VendorError as exc:
                response = error_response(exc.code, exc.message)
                call.log.append(f"{method} failed: {exc.message}")
        self.log(*call.log)
        if method in MUTATING and self.state is not None:
            self._sync_netns()
        self.save_dpu()
        self._ledger(method, context, ok=ok)
        if verdict.crash and after is None:
            self.log("controller crashed (injected fault) after the call's work was done")
            self.state = None
            return Outcome(None, after="crash")
        return Outcome(response, after=after)

    def _emulator(self, verb: str, p: Params, context: dict) -> Outcome:
        handler = emuverbs.VERBS.get(verb)
        if handler is None:
            return Outcome(error_response(_METHOD_NOT_FOUND, "Method not found"))
        self._use_netns(context)
        try:
            reply = handler(self, p)
        except VendorError as exc:  # printed as the vendor client prints a refusal
            error = {"code": exc.code, "message": exc.message}
            reply = emuverbs.Reply(1, error_text(verb, None, error), "")
        code, out, err, after = reply
        if self.state is not None:
            self._sync_netns()
        self.save_dpu()
        if verb not in ("calls", "dump", "journal"):
            self._ledger(verb, context, ok=code == 0)
        body = {"code": code, "stdout": out, "stderr": err}
        return Outcome(result_response(json.dumps(body)), after=after)

    def _ledger(self, op: str, context: dict, *, ok: bool) -> None:
        argv = context.get("argv")
        self.persist.log_call({"op": op, "argv": argv, "ok": ok, "ts": self.clock()})

    # ---- representors as netdevs ----------------------------------------------------------
    def _use_netns(self, context: dict) -> None:
        netns = context.get("netns")
        if netns and netns != self.dpu.netns:
            self.dpu.netns = netns
            if self.state is not None:
                self.state.reps_changed = True

    def _sync_netns(self) -> None:
        state, netns = self.state, self.dpu.netns
        if state is None or not netns or not state.reps_changed:
            return
        from reconciler.emulator.representors import sync_representors

        index = sync_representors(netns, (d.representor for d in state.devices.values()))
        for dev in list(state.devices.values()):
            ifindex = index.get(dev.representor, 0)
            if dev.ifindex != ifindex:
                state.put(replace(dev, ifindex=ifindex))
        state.reps_changed = False
