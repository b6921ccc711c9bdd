"""The controller service: a socket under the root, workers running calls on the core.

One :class:`Host` per root holds ``service.lock`` for its lifetime. It runs as its own
process (``virtnet-emu serve``: in the foreground for systemd and tests, or started on
first use by the thin client) or, for tests, inside the caller's process
(:func:`host_in_process`). Calls are served in arrival order by ``rpc_workers`` threads
(mode; default 1: one at a time). A received call always runs to its end, whether or
not its client still waits, within the ``call_deadline_s`` mode of being received.

An auto-started or in-process service exits when idle for ``$VIRTNET_EMULATOR_IDLE_S``
seconds (default 120), writing the controller's memory to ``hibernate.json`` so that
the next call resumes it unchanged; it exits at once, writing nothing, when its root
directory is deleted.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import queue
import select
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.emulator.controller import StartRefused
from reconciler.emulator.core import Core
from reconciler.emulator.modes import mode_value
from reconciler.emulator.persist import CorruptState, Persist
from reconciler.emulator.wire import address, connect, error_response

__all__ = [
    "DEFAULT_IDLE_S",
    "Busy",
    "Host",
    "host_in_process",
    "hosted",
    "serve_main",
    "stop_hosted",
]

DEFAULT_IDLE_S = 120.0
_LOCK_WAIT_S = 60.0  # a previous instance may still be writing its hibernation
_READ_TIMEOUT_S = 10.0  # a client sends its whole request at once
_MAX_REQUEST = 1 << 20
_TICK_S = 0.5


class Busy(Exception):
    """Another service holds the root (it is running, starting or exiting)."""


def idle_seconds(default: float | None = DEFAULT_IDLE_S) -> float | None:
    text = os.environ.get("VIRTNET_EMULATOR_IDLE_S")
    if not text:
        return default
    value = float(text)
    return None if value <= 0 else value


@dataclass
class _Job:
    """One call: a client connection, or a direct call from the hosting process."""

    accepted: float
    conn: socket.socket | None = None
    request: bytes | None = None
    response: bytes | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def read(self) -> bytes | None:
        if self.conn is None:
            return self.request
        chunks, size = [], 0
        try:
            self.conn.settimeout(_READ_TIMEOUT_S)
            while size <= _MAX_REQUEST:
                chunk = self.conn.recv(65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                size += len(chunk)
        except OSError:
            return None
        return None

    def answer(self, response: bytes | None) -> None:
        """Send the answer (``None``: close without one). A client that died is ignored:
        the call has landed all the same."""
        if self.conn is None:
            self.response = response
            self.done.set()
            return
        with contextlib.suppress(OSError):
            if response is not None:
                self.conn.settimeout(None)
                self.conn.sendall(response)
        with contextlib.suppress(OSError):
            self.conn.close()


class Host:
    """The service for one root: lock, core, listening socket, workers, lifecycle."""

    def __init__(self, root: Path, *, idle_s: float | None, in_process: bool) -> None:
        self.root = Path(root)
        self.persist = Persist(self.root)
        self.core = Core(self.persist)
        self.core.serving = True
        self.idle_s = idle_s
        self.in_process = in_process
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self._lock_fd: int | None = None
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._count = threading.Lock()
        self._pending = 0
        self._last = time.monotonic()
        self._exit: str | None = None
        self._closed = False  # no job is taken any more (workers are being stopped)
        self._workers: list[threading.Thread] = []
        self._identity: tuple[int, int] | None = None
        self.finished = threading.Event()

    # ---- start -------------------------------------------------------------------------
    def start(self, *, auto: bool) -> None:
        """Take the root, start the controller, listen. Raises Busy, StartRefused,
        CorruptState or OSError; on failure the root is released again."""
        self._take_lock()
        try:
            with self.core.lock:
                self.core.open()
                if auto and self.core.dpu.stopped:
                    raise StartRefused("the service was stopped (virtnet-emu start starts it)")
                self.core.start_controller()
            self._listen()
        except BaseException:
            self._release()
            raise
        st = os.stat(self.root)
        self._identity = (st.st_dev, st.st_ino)
        if not self.in_process:
            self.persist.pid_path.write_text(f"{os.getpid()}\n")
        workers = int(mode_value(self.core.dpu.modes, "rpc_workers"))
        for n in range(workers):
            thread = threading.Thread(target=self._work, name=f"virtnet-emu-worker-{n}")
            thread.daemon = True
            thread.start()
            self._workers.append(thread)

    def _take_lock(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.persist.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                probe = connect(self.root)
                if probe is not None or time.monotonic() > deadline:
                    if probe is not None:
                        probe.close()
                    os.close(fd)
                    raise Busy(f"a service already runs for {self.root}") from None
                time.sleep(0.05)
        self._lock_fd = fd

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with address(self.root) as path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # we hold the lock: any socket file left is stale
            listener.bind(path)
        listener.listen(128)
        listener.setblocking(False)  # a client gone between select and accept must not hang us
        self._listener = listener

    def _release(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- calls ---------------------------------------------------------------------------
    def direct(self, request: bytes) -> bytes | None:
        """A call from the hosting process, queued behind the calls already received.

        ``None``: the controller died without answering. Raises Busy when the service
        is winding down and takes no more calls (the caller retries on the next one).
        """
        job = _Job(time.monotonic(), request=request)
        if not self._enqueue(job):
            raise Busy("the service is exiting")
        job.done.wait()
        return job.response

    def _enqueue(self, job: _Job) -> bool:
        with self._count:  # queued under the lock: never behind the workers' stop marks
            if self._closed or self._exit in ("crash", "gone"):
                return False
            self._pending += 1
            self.jobs.put(job)
        return True

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                self._run(job)
            except Exception:  # a bug must not kill the worker: log it, close the call
                self.persist.log_line("emulator: internal error: " + traceback.format_exc())
                job.answer(error_response(-32603, "Internal error"))
            finally:
                with self._count:
                    self._pending -= 1
                    self._last = time.monotonic()

    def _run(self, job: _Job) -> None:
        data = job.read()
        if not data:
            job.answer(None)  # the client died before its request was whole: no call
            return
        try:
            request = json.loads(data)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            job.answer(error_response(-32700, "Parse error"))
            return
        core = self.core
        with core.lock:
            verdict = core.judge(request)
            core.save_dpu()  # the fault plan counted the call: visible before it lands
            deadline = float(mode_value(core.dpu.modes, "call_deadline_s"))
        if verdict.latency_ms:
            # the call lands within the deadline of being received, queue wait included
            left = deadline - (time.monotonic() - job.accepted)
            time.sleep(max(0.0, min(verdict.latency_ms / 1000, left)))
        with core.lock:
            outcome = core.execute(request, verdict)
        if outcome.after == "crash":
            self._crash(job)
            return
        job.answer(outcome.response)
        if outcome.after in ("exit", "not-running"):
            self.request_exit("exit")

    def _crash(self, job: _Job) -> None:
        """The controller dies right after the call's work: no answer to anyone."""
        if not self.in_process:
            os._exit(70)  # the process dies with every call in flight, as a crash does
        job.answer(None)
        self.request_exit("crash")

    # ---- the accept loop -------------------------------------------------------------------
    def request_exit(self, reason: str) -> None:
        with self._count:
            if self._exit is None:
                self._exit = reason
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def serve_forever(self) -> None:
        """Accept calls until idle, stopped, crashed or the root is gone; then wind down."""
        listener = self._listener
        while self._exit is None:
            ready, _, _ = select.select([listener, self._wake_r], [], [], _TICK_S)
            if listener in ready:
                self._accept_one(listener)
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            self._check_idle_and_root()
        self._wind_down()

    def _accept_one(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        job = _Job(time.monotonic(), conn=conn)
        if not self._enqueue(job):
            job.answer(None)

    def _check_idle_and_root(self) -> None:
        try:
            st = os.stat(self.root)
            gone = (st.st_dev, st.st_ino) != self._identity
        except FileNotFoundError:
            gone = True
        if gone:
            self.request_exit("gone")
            return
        if self.idle_s is None:
            return
        with self._count:
            idle = self._pending == 0 and time.monotonic() - self._last > self.idle_s
        if idle:
            self.request_exit("idle")

    def _wind_down(self) -> None:
        reason = self._exit
        listener, self._listener = self._listener, None
        if reason == "gone":  # nothing to write to: just go
            listener.close()
            self._stop_workers(drop=True)
            self._finish()
            return
        with contextlib.suppress(OSError), address(self.root) as path:
            os.unlink(path)  # new clients now start a new service (it waits for our lock)
        if reason != "crash":
            while True:  # calls that connected before the unlink are still served
                try:
                    conn, _ = listener.accept()
                except OSError:
                    break
                self._enqueue(_Job(time.monotonic(), conn=conn))
        listener.close()
        self._stop_workers(drop=reason == "crash")
        with self.core.lock, contextlib.suppress(OSError):  # the root may go meanwhile
            if reason == "idle":
                self.core.stop_controller(hibernate=True)
            elif reason in ("term", "stop"):
                self.core.stop_controller(hibernate=False)
        self._finish()

    def _stop_workers(self, *, drop: bool) -> None:
        with self._count:
            self._closed = True
            if drop:  # a crashed controller drops what it had queued, unanswered
                while True:
                    try:
                        job = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is not None:
                        self._pending -= 1
                        job.answer(None)
            for _ in self._workers:
                self.jobs.put(None)
        for thread in self._workers:
            if thread is not threading.current_thread():
                thread.join()

    def _finish(self) -> None:
        if not self.in_process:
            with contextlib.suppress(OSError):
                self.persist.pid_path.unlink()
        self._release()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        _unregister(self)
        self.finished.set()


# ---- in-process hosting (tests) -----------------------------------------------------------
_HOSTS: dict[Path, Host] = {}
_HOSTS_LOCK = threading.Lock()


def hosted(root: Path) -> Host | None:
    """The service this process hosts for ``root``, if it is still serving."""
    with _HOSTS_LOCK:
        host = _HOSTS.get(Path(root))
    return host if host is not None and not host.finished.is_set() else None


def _unregister(host: Host) -> None:
    with _HOSTS_LOCK:
        if _HOSTS.get(host.root) is host:
            del _HOSTS[host.root]


def host_in_process(root: Path) -> Host:
    """Start the service for ``root`` in a thread of this process (raises as Host.start)."""
    host = Host(Path(root), idle_s=idle_seconds(), in_process=True)
    host.start(auto=True)
    with _HOSTS_LOCK:
        _HOSTS[host.root] = host
    thread = threading.Thread(target=host.serve_forever, name=f"virtnet-emu {root}")
    thread.daemon = True
    thread.start()
    return host


@atexit.register
def _hibernate_hosted() -> None:
    """The hosting process ends: its services go idle, so their next use resumes them."""
    with _HOSTS_LOCK:
        hosts = list(_HOSTS.values())
    for host in hosts:
        host.request_exit("idle")
    for host in hosts:
        host.finished.wait(10)


# ---- the service process ------------------------------------------------------------------
def serve_main(root: Path, *, auto: bool, idle_s: float | None, ready_fd: int | None) -> int:
    """``virtnet-emu serve``: run the service here until it exits; 0 on a clean exit.

    ``ready_fd`` (auto start) gets one line, ``READY`` or ``FAIL <why>``; a foreground
    service says why it cannot start on stderr.
    """
    os.chdir("/")  # never keep a test's or user's directory busy
    host = Host(Path(root), idle_s=idle_s, in_process=False)
    try:
        host.start(auto=auto)
    except (Busy, StartRefused, CorruptState, OSError) as exc:
        why = _why(exc)
        _tell(ready_fd, f"FAIL {why}")
        if ready_fd is None:
            sys.stderr.write(f"ERR: virtio-net-controller did not start: {why}\n")
        return 1
    _tell(ready_fd, "READY")

    def terminate(_signum, _frame) -> None:  # systemctl stop, Ctrl-C
        host.request_exit("term")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    try:
        host.serve_forever()
    except Exception:
        host.persist.log_line("emulator: internal error: " + traceback.format_exc())
        raise
    return 0


def _why(exc: BaseException) -> str:
    if isinstance(exc, CorruptState):
        return (
            f"emulator state {exc.path} is corrupt: {exc.reason}; "
            "remove it or run virtnet-emu init --force"
        )
    if isinstance(exc, OSError):
        return f"emulator root is unusable: {exc.strerror or exc}"
    return str(exc)


def _tell(fd: int | None, line: str) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, (line.replace("\n", " ") + "\n").encode())
        os.close(fd)


def stop_hosted(under: Path) -> int:
    """Wind down the services this process hosts for roots under ``under`` (as when
    idle: they resume on next use); returns how many. For test teardown."""
    under = Path(under)
    with _HOSTS_LOCK:
        hosts = [h for r, h in _HOSTS.items() if r == under or under in r.parents]
    for host in hosts:
        host.request_exit("idle")
    for host in hosts:
        host.finished.wait(10)
    return len(hosts)
