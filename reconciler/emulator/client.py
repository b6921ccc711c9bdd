"""The thin client: vendor argv in, one JSON-RPC call to the service, vendor-style output out.

Light on purpose (argparse, json, socket): ``virtnet-emu`` starts fast. When no
service answers, it starts one on first use (unless the operator stopped it, firmware
disables emulation, or ``$VIRTNET_EMULATOR_AUTOSTART=0``), and DPU verbs (firmware,
host, faults, ledger, ...) run offline with the controller down. How a service is
reached or started is the caller's :class:`Starter`: a process of its own for the
executable, a thread of the caller for in-process tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from reconciler.emulator import wire
from reconciler.emulator.argv import ArgvExit, build_parser, parse_argv
from reconciler.keys import Fw

__all__ = ["CLI_VERSION", "Retry", "SpawnStarter", "Starter", "execute", "start_lock"]

CLI_VERSION = "v24.10.16"
Result = tuple[int, str, str]

VENDOR = frozenset(
    {"hotplug", "unplug", "list", "query", "modify", "log", "version", "update",
     "restart", "validate", "health", "stats"}
)  # fmt: skip
# vendor verbs that echo their params before the result (docs/vendor-cli.md)
_ECHO = frozenset({"hotplug", "unplug", "query", "stats", "modify", "log"})
# emulator verbs that work with the controller down (the DPU, firmware, host, files)
_OFFLINE = frozenset(
    {"init", "power-cycle", "stop", "start", "mlxconfig", "host", "fault", "calls",
     "journal", "install", "mode", "sf", "udev", "dump"}
)  # fmt: skip
_NOT_PARAMS = frozenset({"op", "version", "netns", "root"})
_NOT_ECHOED = _NOT_PARAMS | {"all", "brief", "latency_stats", "target", "action"}
_START_WAIT_S = 120.0  # a 16384-device controller start reads 16384 records
_LOCK_WAIT_S = 60.0


class Starter:
    """How the client reaches, starts, or works without a service for a root."""

    def reach(self, root: Path):
        """A channel to a running service (``call(request) -> response``), or None."""
        sock = wire.connect(root)
        return None if sock is None else _SocketChannel(sock)

    def start(self, root: Path):
        """Start a service; returns a channel, or None when the controller did not start."""
        raise NotImplementedError

    def offline(self, root: Path, request: bytes) -> bytes | None:
        """Run an emulator verb on the files with the controller down; None: busy, retry."""
        from reconciler.emulator.offline import run_offline

        return run_offline(root, request)

    def dpu_flags(self, root: Path) -> tuple[bool, bool] | None:
        """(stopped, emulation enabled) from ``dpu.json``; None for a fresh DPU.
        Raises ValueError (or OSError, KeyError, TypeError) for a corrupt one."""
        try:
            data = json.loads((root / "dpu.json").read_bytes())
        except FileNotFoundError:
            return None
        return bool(data["stopped"]), bool(data["firmware"]["current"][Fw.EMULATION_ENABLE])

    def wait_released(self, root: Path, pid: int | None = None) -> None:
        """Until a stopped service has let go of the root (its lock) and, as systemctl
        stop waits, its process ``pid`` has exited."""
        path = root / "service.lock"
        deadline = time.monotonic() + _LOCK_WAIT_S
        while pid is not None and _running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        while time.monotonic() < deadline:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            finally:
                os.close(fd)
            time.sleep(0.02)


class _SocketChannel:
    def __init__(self, sock) -> None:
        self.sock = sock

    def call(self, request: bytes) -> bytes:
        return wire.exchange(self.sock, request)


class SpawnStarter(Starter):
    """Starts the service as its own process: ``virtnet-emu serve --auto``, detached."""

    def start(self, root: Path):
        import subprocess

        with start_lock(root):
            channel = self.reach(root)  # another client may have started it meanwhile
            if channel is not None:
                return channel
            read_fd, write_fd = os.pipe()
            cmd = [sys.executable, "-m", "reconciler.emulator", "--root", str(root),
                   "serve", "--auto", "--ready-fd", str(write_fd)]  # fmt: skip
            try:
                proc = subprocess.Popen(
                    cmd, pass_fds=(write_fd,), stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True, cwd="/",
                )  # fmt: skip
            finally:
                os.close(write_fd)
            line = _read_line(read_fd, _START_WAIT_S)
            # the service runs on unwatched; it is reaped by init when it exits
            proc.returncode = 0
            if line != "READY":
                return None
            return self.reach(root)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def service_pid(root: Path) -> int | None:
    """The pid of the service process serving ``root`` (None: none, or a test hosts it)."""
    try:
        pid = int((root / "service.pid").read_text())
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().split(b"\0")
    except (OSError, ValueError):
        return None
    # a crashed service leaves its pid file: the number may be another process's now
    return pid if b"serve" in args else None


def _read_line(fd: int, timeout: float) -> str:
    import select

    data = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return data.decode(errors="replace").split("\n", 1)[0]


@contextlib.contextmanager
def start_lock(root: Path):
    """One starter at a time per root (the others then find the service running)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "start.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ---- one invocation ----------------------------------------------------------------------
def execute(
    argv: list[str], *, root: Path | None, starter: Starter, env=None, netns: str | None = None
) -> Result:
    """Run one ``virtnet-emu`` invocation: (exit code, stdout, stderr)."""
    env = os.environ if env is None else env
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            args = parse_argv(list(argv))
        except ArgvExit as exc:
            return exc.status, out.getvalue(), err.getvalue()
    if args.version:
        return 0, CLI_VERSION + "\n", ""
    if args.op is None:
        return 2, "", build_parser().format_usage()
    if args.root:
        root = Path(args.root)
    if root is None:
        root = Path(env.get("VIRTNET_EMULATOR_ROOT") or ".virtnet-emulator")
    root = root.absolute()
    context = {
        "argv": list(argv),
        "netns": args.netns or netns or env.get("VIRTNET_EMULATOR_NETNS") or None,
        "update_seconds": _float(env.get("VIRTNET_EMULATOR_UPDATE_SECONDS")),
    }
    session = _Session(root, starter, context, autostart=env.get("VIRTNET_EMULATOR_AUTOSTART"))
    try:
        return session.run(args)
    except OSError as exc:
        return 1, "", f"ERR: emulator root {root} is unusable: {exc.strerror or exc}\n"


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _params(args) -> dict:
    return {
        k: v
        for k, v in vars(args).items()
        if k not in _NOT_PARAMS and v is not None and v is not False
    }


def params_echo(args) -> dict:
    """The request params the vendor client echoes (only what the user gave)."""
    out = {
        k: v
        for k, v in vars(args).items()
        if k not in _NOT_ECHOED and v is not None and v is not False
    }
    if "features" in out:
        out["features"] = hex(out["features"])
    return out


class _Session:
    """One invocation against one root: routing, lifecycle verbs, rendering."""

    def __init__(self, root: Path, starter: Starter, context: dict, autostart) -> None:
        self.root = root
        self.starter = starter
        self.context = context
        self.autostart = autostart not in ("0", "no", "false")

    def run(self, args) -> Result:
        op = args.op
        if op == "serve":
            return 1, "", "ERR: serve runs only as the virtnet-emu executable\n"
        if op == "service":
            return self._service(args.action)
        if op in ("start", "stop"):
            return self._service(op)
        method = op if op in VENDOR else "emu." + op
        request = wire.request_bytes(method, _params(args), self.context)
        response = self._route(op, request)
        if isinstance(response, tuple):
            return response
        if op in VENDOR:
            echo = params_echo(args)
            if response.startswith(wire.RESULT_HEAD) and op not in _ECHO:
                echo = None
            return wire.render_vendor(op, echo, response)
        result = wire.render_emulator(response)
        if op in ("init", "power-cycle") and result[0] == 0:
            self._ensure_running()  # as before the service existed: the DPU boots now
        return result

    # ---- routing ---------------------------------------------------------------------------
    def _route(self, op: str, request: bytes):
        """The service's answer (bytes), or a finished Result when there is none."""
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            channel = self.starter.reach(self.root)
            if channel is None and op not in ("init", "power-cycle"):
                blocked = self._cannot_run()
                if isinstance(blocked, tuple):
                    return blocked
                if not blocked:
                    channel = self.starter.start(self.root)
            if channel is not None:
                return self._call(channel, request)
            if op not in _OFFLINE:
                return 1, "", wire.CONNECT_ERROR + "\n"
            response = self.starter.offline(self.root, request)
            if response is not None:
                return response
            if time.monotonic() > deadline:  # pragma: no cover - a stuck service
                return 1, "", f"ERR: emulator root {self.root} is held by another process\n"
            time.sleep(0.05)  # a service is starting or exiting: ask it, or wait

    def _call(self, channel, request: bytes):
        try:
            return channel.call(request)
        except wire.NoReply:
            return 1, "", wire.NO_REPLY + "\n"
        except Retry:
            return self._route(json.loads(request)["method"].removeprefix("emu."), request)

    def _cannot_run(self):
        """Why no service may be started: True (stopped, disabled, no autostart), False,
        or a finished Result for a corrupt ``dpu.json``."""
        if not self.autostart:
            return True
        try:
            flags = self.starter.dpu_flags(self.root)
        except OSError as exc:
            return 1, "", f"ERR: emulator root {self.root} is unusable: {exc.strerror or exc}\n"
        except (ValueError, KeyError, TypeError) as exc:
            return (
                1,
                "",
                (
                    f"ERR: emulator state {self.root / 'dpu.json'} is corrupt: {exc}; "
                    "remove it or run virtnet-emu init --force\n"
                ),
            )
        return flags is not None and (flags[0] or not flags[1])

    def _ensure_running(self):
        channel = self.starter.reach(self.root)
        if channel is None and self._cannot_run() is False:
            channel = self.starter.start(self.root)
        return channel

    # ---- lifecycle (as systemctl) -----------------------------------------------------------
    def _service(self, action: str) -> Result:
        if action == "status":
            return 0, self._status(), ""
        if action in ("stop", "restart"):
            result = self._stop()
            if result[0] != 0 or action == "stop":
                return result
        return self._start()

    def _start(self) -> Result:
        """systemctl start: the service may run again, and is started now."""
        if self.starter.reach(self.root) is not None:
            return 0, wire.OK_TEXT, ""
        response = self._offline_retrying(wire.request_bytes("emu.start", {}, self.context))
        if isinstance(response, tuple):
            return response
        blocked = self._cannot_run()
        if blocked is True:
            return 1, "", f"ERR: virtio-net-controller not started: {self._blocked_why()}\n"
        if blocked is False and self.starter.start(self.root) is None:
            why = "failed to start; see virtnet-emu journal"
            blocked = (1, "", f"ERR: virtio-net-controller {why}\n")
        return blocked or (0, wire.OK_TEXT, "")

    def _stop(self) -> Result:
        request = wire.request_bytes("emu.stop", {}, self.context)
        channel = self.starter.reach(self.root)
        if channel is None:
            response = self._offline_retrying(request)
            return response if isinstance(response, tuple) else (0, wire.OK_TEXT, "")
        pid = service_pid(self.root)
        with contextlib.suppress(wire.NoReply, Retry):
            channel.call(request)
        self.starter.wait_released(self.root, pid)
        return 0, wire.OK_TEXT, ""

    def _offline_retrying(self, request: bytes):
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            response = self.starter.offline(self.root, request)
            if response is not None:
                return response
            channel = self.starter.reach(self.root)
            if channel is not None:
                return self._call(channel, request)
            if time.monotonic() > deadline:  # pragma: no cover - a stuck service
                return 1, "", f"ERR: emulator root {self.root} is held by another process\n"
            time.sleep(0.05)

    def _blocked_why(self) -> str:
        if not self.autostart:
            return "VIRTNET_EMULATOR_AUTOSTART=0"
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            flags = self.starter.dpu_flags(self.root)
            if flags is not None and not flags[1]:
                return f"{Fw.EMULATION_ENABLE} is False (mlxconfig)"
        return "the service is stopped"

    def _status(self) -> str:
        if self.starter.reach(self.root) is not None:
            pid = service_pid(self.root)
            return f"active (running){'' if pid is None else f' pid {pid}'}\n"
        blocked = self._cannot_run()
        if blocked is True:
            return f"inactive (dead): {self._blocked_why()}\n"
        return "inactive (dead): starts on first use\n"


class Retry(Exception):
    """The service took no more calls (it was winding down): route the call again."""
