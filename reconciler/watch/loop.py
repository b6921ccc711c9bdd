"""The watch loop: reconcile now, then on file events (debounced), resyncs, retries, SIGHUP."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from reconciler.errors import EXIT_OK, ReconcilerError
from reconciler.model import CycleResult
from reconciler.watch.backoff import Backoff

__all__ = ["WatchOptions", "WatchOptionsError", "run_watch"]

log = structlog.get_logger("virtnet.watch")

_TICK_S = 0.1  # how often a wait re-checks ``stop`` when nothing else wakes it
_MAX_DEBOUNCE_FACTOR = 10  # a write storm still reconciles every debounce_s * this
# ticks between checks that the state dir path still names the watched directory:
# a symlink swap (git-sync's `current`) changes what we read without any inotify event
_REPLACED_EVERY = 10


@dataclass(frozen=True)
class WatchOptions:
    """Timing of the loop, all in seconds.

    ``resync_s``: full reconcile this often even without events (catches drift).
    ``debounce_s``: quiet time after the last event before reconciling, while
    events keep coming (a burst that started during a cycle).
    ``settle_s``: the shorter wait for the first event after an idle spell: long
    enough to take an editor's write-temp-then-rename as one change, short enough
    that a single edit is acted on at once.
    ``min_backoff_s``/``max_backoff_s``: first and largest per-device retry delay.
    ``health_threshold_s``: /healthz fails when no cycle succeeded for this long.
    ``metrics_address``: ``HOST:PORT`` for /metrics and /healthz, ``None`` = off.
    """

    resync_s: float = 30.0
    debounce_s: float = 0.2
    settle_s: float = 0.03
    max_backoff_s: float = 300.0
    health_threshold_s: float = 300.0
    metrics_address: str | None = None
    min_backoff_s: float = 1.0

    def __post_init__(self) -> None:
        # zero or negative delays would turn the loop into a busy loop against the controller
        for name in ("resync_s", "max_backoff_s", "health_threshold_s", "min_backoff_s"):
            if not getattr(self, name) > 0:
                raise WatchOptionsError(
                    f"{name.removesuffix('_s')} must be a positive number of seconds"
                )
        if self.debounce_s < 0 or self.settle_s < 0:
            raise WatchOptionsError("debounce and settle times must not be negative")


class WatchOptionsError(ReconcilerError, ValueError):
    """The operator gave the loop an impossible timing (e.g. ``--resync 0``)."""


def run_watch(
    engine,
    state_dir: Path,
    options: WatchOptions,
    *,
    stop: threading.Event | None = None,
    wake: threading.Event | None = None,
) -> int:
    """Reconcile now, then on every file event (debounced), every resync and every retry.

    Returns 0 once ``stop`` is set (SIGTERM/SIGINT in the main thread), after the
    cycle in progress has finished. ``stop``/``wake`` are injectable for tests.
    """
    stop = stop or threading.Event()
    wake = wake or threading.Event()
    metrics, server = _start_metrics(options)
    watcher = _DirWatcher(Path(os.path.abspath(state_dir)), wake)
    loop = _Loop(engine, options, stop=stop, wake=wake, watcher=watcher, metrics=metrics)
    restore = _install_signals(stop, wake)
    log.info(
        "watch_started",
        state_dir=str(state_dir),
        resync_s=options.resync_s,
        metrics_address=options.metrics_address,
    )
    try:
        loop.run()
    finally:
        watcher.close()
        restore()
        if server is not None:
            server.close()
    log.info("watch_stopped", cycles=loop.cycles)
    return EXIT_OK


def _start_metrics(options: WatchOptions):
    if options.metrics_address is None:
        return None, None
    from reconciler.watch.metrics import Metrics, MetricsServer

    metrics = Metrics(health_threshold_s=options.health_threshold_s)
    server = MetricsServer(metrics, options.metrics_address).start()
    log.info("metrics_listening", address=options.metrics_address, port=server.port)
    return metrics, server


def _install_signals(stop: threading.Event, wake: threading.Event):
    """SIGHUP reconciles now; SIGTERM/SIGINT stop after the current cycle.

    Python only lets the main thread install handlers; elsewhere (tests, embedding)
    the caller drives ``stop``/``wake`` itself. Returns a function that restores.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def _stop(signum, _frame):
        log.info("signal", signal=signal.Signals(signum).name, action="stop")
        stop.set()
        wake.set()

    def _hup(_signum, _frame):
        log.info("signal", signal="SIGHUP", action="reconcile")
        wake.set()

    wanted = {signal.SIGTERM: _stop, signal.SIGINT: _stop, signal.SIGHUP: _hup}
    previous = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}

    def _restore():
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return _restore


class _DirWatcher:
    """A watchdog observer on the state dir that re-arms itself when the dir is replaced.

    ``mv new state``, a volume remount or a swapped symlink (git-sync's ``current``)
    gives a new inode that inotify does not follow; comparing inodes is cheap.
    """

    def __init__(self, root: Path, wake: threading.Event) -> None:
        self._root = root
        self._wake = wake
        self._observer = None
        self._inode: tuple[int, int] | None = None
        self.ensure()

    def ensure(self) -> None:
        inode = _inode_of(self._root)
        alive = self._observer is not None and self._observer.is_alive()
        if alive and inode == self._inode:
            return
        self.close()
        if inode is None:
            self._inode = None
            return  # not there (yet): the engine reports it; retried every cycle
        from watchdog.observers import Observer

        from reconciler.watch.events import WakeHandler

        self._inode = inode  # even if arming fails: retried each cycle, not each second
        observer = Observer()
        observer.schedule(WakeHandler(self._root, self._wake), str(self._root), recursive=True)
        try:
            observer.start()
        except OSError as exc:
            log.warning("watch_unavailable", path=str(self._root), error=str(exc))
            return
        self._observer = observer
        log.debug("watching", path=str(self._root))

    @property
    def root(self) -> Path:
        return self._root

    def replaced(self) -> bool:
        """The path now names another directory (or none) than the one being watched."""
        return _inode_of(self._root) != self._inode

    def close(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None


def _inode_of(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


class _Loop:
    """The main-thread loop: cycle, then wait for an event, the resync or a backoff expiry."""

    def __init__(self, engine, options: WatchOptions, *, stop, wake, watcher, metrics) -> None:
        self._engine = engine
        self._options = options
        self._stop = stop
        self._wake = wake
        self._watcher = watcher
        self._metrics = metrics
        self._backoff = Backoff(initial=options.min_backoff_s, maximum=options.max_backoff_s)
        self._clock = time.monotonic
        self._last_errors: tuple[str, ...] = ()
        self.cycles = 0

    def run(self) -> None:
        while not self._stop.is_set():
            self._cycle()
            cycle_end = self._clock()
            next_resync = cycle_end + self._options.resync_s
            if self._wait(next_resync):
                released = self._backoff.release_permanent()
                if released:
                    log.info("backoff_released", devices=sorted(released), why="files changed")
                # leading edge: after an idle spell, act on the first change almost at
                # once; events that keep coming right after a cycle get the full debounce
                idle = self._clock() - cycle_end >= self._options.debounce_s
                self._debounce(self._options.settle_s if idle else self._options.debounce_s)

    def _wait(self, next_resync: float) -> bool:
        """Sleep until an event (True), or the resync / a retry is due or stop is set (False)."""
        retry = self._backoff.next_expiry(self._clock())
        deadline = next_resync if retry is None else min(next_resync, retry)
        ticks = 0
        while not self._stop.is_set():
            now = self._clock()
            if now >= deadline:
                return False
            if self._wake.wait(timeout=min(_TICK_S, deadline - now)):
                return True
            ticks += 1
            if ticks % _REPLACED_EVERY == 0 and self._watcher.replaced():
                log.info("state_dir_replaced", path=str(self._watcher.root))
                return True
        return False

    def _debounce(self, quiet: float) -> None:
        """Wait until ``quiet`` passes without events, but never unboundedly (a write storm)."""
        limit = self._clock() + self._options.debounce_s * _MAX_DEBOUNCE_FACTOR
        while not self._stop.is_set():
            self._wake.clear()
            until = min(self._clock() + quiet, limit)
            woke = False
            while not self._stop.is_set() and (left := until - self._clock()) > 0:
                if self._wake.wait(timeout=min(_TICK_S, left)):
                    woke = True
                    break
            if not woke or self._clock() >= limit:
                return

    def _cycle(self) -> None:
        # re-arm before reading, so a write just after our read is never missed
        self._watcher.ensure()
        hold = self._backoff.held(self._clock())
        started = self._clock()
        try:
            result = self._engine.reconcile(hold=hold)
        except ReconcilerError as exc:
            # e.g. an `apply` holds the lock: this cycle is lost, the next wake retries
            log.error("reconcile_failed", error=str(exc))
            if self._metrics is not None:
                self._metrics.record_crash()
            return
        except Exception:  # a bug: keep the daemon (and every other device) alive, loudly
            log.exception("reconcile_crashed", hint="a bug in virtnet-reconciler: report it")
            if self._metrics is not None:
                self._metrics.record_crash()
            return
        self.cycles += 1
        self._log_cycle(result, hold, result.duration_s or self._clock() - started)
        now = self._clock()
        for name, held in sorted(self._backoff.update(result, hold, now).items()):
            log.warning(
                "backoff",
                device=name,
                attempts=held.attempts,
                reason=held.reason,
                temporary=held.temporary,
                retry_in_s=round(held.until - now, 3),
            )
        if self._metrics is not None:
            self._metrics.record(result)

    def _log_cycle(self, result: CycleResult, hold: frozenset[str], duration_s: float) -> None:
        """One summary per cycle. The executor logs each change as it lands or fails
        (event="applied"/"change_failed", device, action, field, old, new): not repeated."""
        log.info(
            "reconcile",
            changes=len(result.plan.changes),
            applied=len(result.applied),
            blocked=len(result.plan.blocked),
            errors=len(result.errors) + len(result.failed),
            held=sorted(hold),
            exit_code=result.exit_code,
            duration_ms=round(duration_s * 1000, 1),
        )
        if result.errors != self._last_errors:
            # said once per distinct set, not every resync: the status file keeps them
            for error in result.errors:
                log.error("spec_error", error=error)
            self._last_errors = result.errors
