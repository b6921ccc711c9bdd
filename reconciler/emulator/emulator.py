"""The embedded controller's front door: ``Emulator(root).run(argv)`` -> (code, stdout, stderr)."""

from __future__ import annotations

import errno as E
import io
import os
import time
from contextlib import ExitStack, redirect_stderr, redirect_stdout
from dataclasses import replace
from pathlib import Path

from reconciler.emulator import handlers
from reconciler.emulator.argv import ArgvExit, build_parser
from reconciler.emulator.controller import Controller, VendorError
from reconciler.emulator.faults import FaultConfig
from reconciler.emulator.firmware import FirmwareProfile
from reconciler.emulator.render import connect_error, error_text
from reconciler.emulator.state import ControllerState, Device
from reconciler.emulator.store import CorruptState, FileStore, MemoryStore

__all__ = ["CLI_VERSION", "Emulator"]

CLI_VERSION = "v24.10.16"
Result = tuple[int, str, str]


class Emulator:
    """One emulated DPU. ``root=None`` keeps everything in memory (no files at all).

    ``run`` is what the ``virtnet-emu`` executable does, so the in-process driver and
    the subprocess driver see byte-identical output. The typed helpers below are for
    tests that want values rather than text.
    """

    def __init__(self, root: Path | str | None = None, *, netns: str | None = None) -> None:
        self.store = FileStore(Path(root)) if root is not None else MemoryStore()
        self.netns = netns

    # ---- the CLI -------------------------------------------------------------------
    def run(self, argv: list[str]) -> Result:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                args = build_parser().parse_args(argv)
            except ArgvExit as exc:
                return exc.status, out.getvalue(), err.getvalue()
        if args.version:
            return 0, CLI_VERSION + "\n", ""
        if args.op is None:
            return 2, "", build_parser().format_usage()
        with ExitStack() as stack:
            try:
                stack.enter_context(self.store.lock())
            except OSError as exc:
                root = getattr(self.store, "root", "?")
                return 1, "", f"ERR: emulator root {root} is unusable: {exc.strerror or exc}\n"
            try:
                return self._locked(args, list(argv))
            except CorruptState as exc:
                return 1, "", _corrupt_text(exc)

    def _locked(self, args, argv: list[str]) -> Result:
        now = time.time()
        # init replaces the state wholesale, so it must work even when state.json is corrupt
        state = None if args.op == "init" else self._load()
        if args.op == "init" or state is None:
            state = handlers.init_state(self.store, args if args.op == "init" else None, now)
            if args.op == "init":
                return self._finish(state, args, argv, (0, handlers.ok_text(), ""), True)
        netns = args.netns or self.netns or os.environ.get("VIRTNET_EMULATOR_NETNS")
        if netns:
            state.netns = netns
        ctrl = Controller(state, self.store, now)
        if args.op in handlers.EMULATOR_OPS:
            try:
                result, mutated = handlers.EMULATOR_OPS[args.op](ctrl, args)
            except VendorError as exc:
                result, mutated = (1, error_text(args.op, None, exc.errno, exc.message), ""), False
            return self._finish(state, args, argv, result, mutated)
        return self._vendor_call(ctrl, args, argv)

    def _vendor_call(self, ctrl: Controller, args, argv: list[str]) -> Result:
        state = ctrl.state
        if not state.running:
            return self._finish(state, args, argv, (1, "", connect_error()), False)
        faults, verdict = state.faults.judge(args.op)
        state.faults = faults
        if verdict.latency_ms:
            time.sleep(verdict.latency_ms / 1000)
        if verdict.fail:
            text = error_text(args.op, handlers.params_of(args), E.EIO, "injected fault")
            return self._finish(state, args, argv, (1, text, ""), True)
        try:
            result, mutated = handlers.VENDOR_OPS[args.op](ctrl, args)
        except VendorError as exc:
            text = error_text(args.op, handlers.params_of(args), exc.errno, exc.message)
            result, mutated = (1, text, ""), False
        if verdict.crash:
            # the work is done, the reply is lost: the controller dies and recovers
            ctrl.boot()
            return self._finish(state, args, argv, (1, "", connect_error()), True)
        return self._finish(state, args, argv, result, mutated or faults.armed)

    def _finish(self, state, args, argv, result: Result, mutated: bool) -> Result:
        if mutated:
            if state.netns:
                _sync_netns(state)
            self.store.save(state.to_json(), _mlx_json(state))
        if args.op != "calls":
            entry = {"op": args.op, "argv": argv, "ok": result[0] == 0, "ts": time.time()}
            self.store.log_call(entry)
        return result

    def _load(self) -> ControllerState | None:
        """The saved state; one that parses but does not fit the schema is CorruptState too."""
        data = self.store.load()
        if data is None:
            return None
        try:
            return ControllerState.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            path = getattr(self.store, "state_path", "state")
            raise CorruptState(path, f"{type(exc).__name__}: {exc}") from exc

    # ---- typed helpers for tests -----------------------------------------------------
    def state(self) -> ControllerState:
        """A snapshot of the controller state (auto-initialised like any first call)."""
        with self.store.lock():
            state = self._load()
            if state is None:
                state = handlers.init_state(self.store, None, time.time())
                self.store.save(state.to_json(), _mlx_json(state))
            return state

    def devices(self) -> list[Device]:
        return handlers.ordered(self.state().devices.values())

    def device(self, vuid: str) -> Device:
        return self.state().devices[vuid]

    def profile(self) -> FirmwareProfile:
        return self.state().profile

    def records(self) -> dict[str, dict]:
        return self.store.records()

    def calls(self) -> list[dict]:
        return self.store.calls()

    def faults(self) -> FaultConfig:
        return self.state().faults

    def set_conf(self, conf: dict) -> None:
        """Write ``virtnet.conf`` (read at the next init/start/restart)."""
        if isinstance(self.store, MemoryStore):
            self.store.conf = dict(conf)
        else:
            import json

            self.store.root.mkdir(parents=True, exist_ok=True)
            self.store.conf_path.write_text(json.dumps(conf, indent=2))


def _corrupt_text(exc: CorruptState) -> str:
    """The one stderr line for an unusable state.json, with the way out."""
    return (
        f"ERR: emulator state {exc.path} is corrupt: {exc.reason}; "
        "remove it or run virtnet-emu init --force\n"
    )


def _mlx_json(state: ControllerState) -> dict:
    return {"current": state.profile.to_params(), "next_boot": state.next_profile.to_params()}


def _sync_netns(state: ControllerState) -> None:
    from reconciler.emulator.representors import sync_representors

    index = sync_representors(state.netns, (d.representor for d in state.devices.values()))
    for vuid, dev in list(state.devices.items()):
        if dev.ifindex != index.get(dev.representor, 0):
            state.devices[vuid] = replace(dev, ifindex=index.get(dev.representor, 0))
