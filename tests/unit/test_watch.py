"""The watch loop: level-triggered cycles, debounce, resync, backoff, signals, real file events."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from reconciler.errors import LockedError
from reconciler.model import Action, Change, ChangeStatus, CycleResult, Plan, frozen_map
from reconciler.watch import WatchOptions, WatchOptionsError, run_watch


def snapshot(root: Path) -> dict[str, str]:
    """What a loader would read: visible spec files, following the ConfigMap symlinks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            if not name.startswith((".", "_")):
                path = Path(dirpath, name)
                out[str(path.relative_to(root))] = path.read_text()
    return out


class FakeEngine:
    """Counts reconcile calls, records the ``hold`` of each and what the state dir held."""

    def __init__(self, state_dir: Path | None = None, script=None) -> None:
        self.state_dir = state_dir
        self.holds: list[frozenset[str]] = []
        self.seen: list[dict[str, str]] = []
        self._script = script or (lambda _n, _hold: CycleResult(plan=Plan()))

    @property
    def calls(self) -> int:
        return len(self.holds)

    def reconcile(self, *, hold: frozenset[str] = frozenset()) -> CycleResult:
        n = len(self.holds)
        if self.state_dir is not None:
            self.seen.append(snapshot(self.state_dir))
        self.holds.append(hold)
        return self._script(n, hold)


def wait_until(predicate, timeout: float = 10.0) -> bool:
    """Poll ``predicate`` (bounded); the tests assert on what happened, never on durations."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def settle(engine: FakeEngine, quiet: float = 0.6, timeout: float = 10.0) -> int:
    """Wait until no reconcile happened for ``quiet`` seconds; return the call count."""
    deadline = time.monotonic() + timeout
    last = engine.calls
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if engine.calls != last:
            last, last_change = engine.calls, time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            break
    return engine.calls


@contextlib.contextmanager
def running(engine, state_dir: Path, **opts):
    """run_watch on a background thread (so no signal handlers); stops it on exit."""
    opts.setdefault("resync_s", 3600.0)
    opts.setdefault("debounce_s", 0.1)
    stop, wake = threading.Event(), threading.Event()
    box: dict[str, int] = {}

    def _target():
        box["rc"] = run_watch(engine, state_dir, WatchOptions(**opts), stop=stop, wake=wake)

    thread = threading.Thread(target=_target, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: engine.calls >= 1), "the loop never ran its first cycle"
        yield stop, wake
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive(), "run_watch did not return after stop"
    assert box.get("rc") == 0


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _result(*, failed=(), blocked=(), applied=(), errors=()) -> CycleResult:
    return CycleResult(
        plan=Plan(changes=(*applied, *blocked)), failed=failed, applied=applied, errors=errors
    )


class TestLevelTriggeredLoop:
    """Events only wake the loop; each cycle reconciles the whole state."""

    def test_reconciles_once_at_start_and_returns_zero_on_stop(self, tmp_path):
        engine = FakeEngine()
        with running(engine, tmp_path):
            pass
        assert engine.calls == 1
        assert engine.holds == [frozenset()]

    def test_a_wake_causes_exactly_one_more_cycle(self, tmp_path):
        engine = FakeEngine()
        with running(engine, tmp_path) as (_stop, wake):
            wake.set()
            assert wait_until(lambda: engine.calls == 2)
            assert settle(engine) == 2

    def test_resync_reconciles_without_any_event(self, tmp_path):
        engine = FakeEngine()
        with running(engine, tmp_path, resync_s=0.05):
            assert wait_until(lambda: engine.calls >= 4)

    def test_its_own_reads_of_the_specs_do_not_wake_it(self, tmp_path):
        """Opening a file raises inotify events; reacting to them would loop forever."""
        for i in range(5):
            _write(tmp_path / f"d{i}.yaml", f"n: {i}\n")
        engine = FakeEngine(tmp_path)
        with running(engine, tmp_path):
            assert settle(engine, quiet=1.0) == 1

    def test_stop_set_during_a_cycle_finishes_that_cycle_then_returns(self, tmp_path):
        stop_box: list[threading.Event] = []

        def script(_n, _hold):
            stop_box[0].set()  # as SIGTERM would, in the middle of the cycle
            return CycleResult(plan=Plan())

        engine = FakeEngine(script=script)
        stop = threading.Event()
        stop_box.append(stop)
        rc = run_watch(
            engine, tmp_path, WatchOptions(resync_s=0.01), stop=stop, wake=threading.Event()
        )
        assert rc == 0
        assert engine.calls == 1

    def test_an_engine_error_loses_one_cycle_not_the_loop(self, tmp_path):
        def script(n, _hold):
            if n == 0:
                raise LockedError("another apply holds /run/virtnet.lock")
            return CycleResult(plan=Plan())

        engine = FakeEngine(script=script)
        with running(engine, tmp_path, resync_s=0.05):
            assert wait_until(lambda: engine.calls >= 3)


class TestDebounce:
    """A burst of writes costs a small, bounded number of reconciles and the last sees it all."""

    def test_a_burst_of_100_writes_causes_few_reconciles(self, tmp_path):
        engine = FakeEngine(tmp_path)
        with running(engine, tmp_path, debounce_s=0.2):
            for i in range(100):
                _write(tmp_path / f"dev-{i % 10}.yaml", f"mtu: {1500 + i}\n")
            total = settle(engine)
        assert 2 <= total <= 6, f"{total} reconciles for one burst"
        assert engine.seen[-1]["dev-9.yaml"] == "mtu: 1599\n"

    def test_a_write_storm_still_reconciles_before_it_ends(self, tmp_path):
        """Debounce is capped: continuous writes cannot starve the loop forever."""
        engine = FakeEngine(tmp_path)
        with running(engine, tmp_path, debounce_s=0.05):
            i = 0
            while engine.calls < 2 and i < 2000:
                _write(tmp_path / "busy.yaml", f"i: {i}\n")
                i += 1
                time.sleep(0.005)
            assert engine.calls >= 2, "writes every 5 ms starved the loop"


class TestRealFileEvents:
    """The watchdog observer notices what editors, git and Kubernetes do to the state dir."""

    def test_editor_atomic_save_wakes_the_loop(self, tmp_path):
        _write(tmp_path / "web.yaml", "mtu: 1500\n")
        engine = FakeEngine(tmp_path)
        with running(engine, tmp_path):
            tmp = tmp_path / ".web.yaml.tmp"
            _write(tmp, "mtu: 9000\n")
            os.replace(tmp, tmp_path / "web.yaml")
            assert wait_until(lambda: engine.seen[-1].get("web.yaml") == "mtu: 9000\n")

    def test_editor_swap_files_alone_do_not_wake_it(self, tmp_path):
        engine = FakeEngine(tmp_path)
        with running(engine, tmp_path):
            for name in (".web.yaml.swp", "web.yaml~", "_draft.yaml", "notes.txt"):
                _write(tmp_path / name, "x\n")
            assert settle(engine, quiet=0.8) == 1

    def test_git_like_replacement_of_many_files_converges_on_the_new_tree(self, tmp_path):
        for i in range(20):
            _write(tmp_path / f"old-{i}.yaml", "old\n")
        (tmp_path / ".git").mkdir()
        engine = FakeEngine(tmp_path)
        with running(engine, tmp_path):
            _write(tmp_path / ".git" / "index.lock", "lock\n")
            for i in range(20):
                (tmp_path / f"old-{i}.yaml").unlink()
            (tmp_path / "fleet").mkdir()
            for i in range(20):
                _write(tmp_path / "fleet" / f"new-{i}.yaml", "new\n")
            os.replace(tmp_path / ".git" / "index.lock", tmp_path / ".git" / "index")
            total = settle(engine)
            final = engine.seen[-1]
        assert sorted(final) == sorted(f"fleet/new-{i}.yaml" for i in range(20))
        assert total <= 6

    def test_configmap_data_symlink_swap_wakes_the_loop(self, tmp_path):
        """kubelet: new ..<timestamp> dir, ..data_tmp symlink renamed over ..data."""
        first = tmp_path / "..2026_11_25_12_00_00.000000001"
        first.mkdir()
        _write(first / "web.yaml", "mtu: 1500\n")
        os.symlink(first.name, tmp_path / "..data")
        os.symlink("..data/web.yaml", tmp_path / "web.yaml")
        engine = FakeEngine(tmp_path)
        with running(engine, tmp_path):
            second = tmp_path / "..2026_11_25_12_05_00.000000002"
            second.mkdir()
            _write(second / "web.yaml", "mtu: 9000\n")
            os.symlink(second.name, tmp_path / "..data_tmp")
            os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
            shutil.rmtree(first)
            assert wait_until(lambda: engine.seen[-1].get("web.yaml") == "mtu: 9000\n")

    def test_a_replaced_state_dir_is_watched_again(self, tmp_path):
        state = tmp_path / "state"
        state.mkdir()
        engine = FakeEngine(state)
        with running(engine, state) as (_stop, wake):
            new = tmp_path / "state.new"
            new.mkdir()
            _write(new / "a.yaml", "a\n")
            os.rename(state, tmp_path / "state.old")
            os.rename(new, state)
            wake.set()  # like SIGHUP after a deploy script swapped the directory
            assert wait_until(lambda: engine.seen[-1].get("a.yaml") == "a\n")
            _write(state / "b.yaml", "b\n")
            assert wait_until(lambda: "b.yaml" in engine.seen[-1])

    def test_a_git_sync_style_symlink_swap_is_noticed_without_events(self, tmp_path):
        """git-sync checks out a new worktree and swaps the `current` symlink to it."""
        old, new = tmp_path / "wt-1", tmp_path / "wt-2"
        old.mkdir()
        new.mkdir()
        _write(old / "web.yaml", "mtu: 1500\n")
        _write(new / "web.yaml", "mtu: 9000\n")
        current = tmp_path / "current"
        os.symlink(old.name, current)
        engine = FakeEngine(current)
        with running(engine, current):
            os.symlink(new.name, tmp_path / "current.tmp")
            os.replace(tmp_path / "current.tmp", current)
            assert wait_until(lambda: engine.seen[-1].get("web.yaml") == "mtu: 9000\n")


class TestBackoffInTheLoop:
    """A failing device is held out of later cycles; the others proceed; it is retried."""

    def test_a_failed_device_is_held_then_retried_after_its_backoff(self, tmp_path):
        def script(n, _hold):
            if n == 0:
                return _result(failed=(("bad", "EBUSY: device migrating", True),))
            return _result()

        engine = FakeEngine(script=script)
        with running(engine, tmp_path, min_backoff_s=0.3) as (_stop, wake):
            wake.set()
            assert wait_until(lambda: engine.calls >= 2)
            assert engine.holds[1] == frozenset({"bad"})
            # nobody wakes it: the backoff expiry itself triggers the retry
            assert wait_until(lambda: engine.calls >= 3)
            assert engine.holds[2] == frozenset()
            assert settle(engine) == 3

    def test_a_device_that_keeps_failing_does_not_hot_loop(self, tmp_path):
        def script(_n, hold):
            if "bad" in hold:
                return _result()
            return _result(failed=(("bad", "EBUSY", True),))

        engine = FakeEngine(script=script)
        with running(engine, tmp_path, min_backoff_s=0.1, max_backoff_s=0.4):
            time.sleep(1.5)
        attempts = [h for h in engine.holds if "bad" not in h]
        # delays 0.1, 0.2, 0.4, 0.4 ...: a handful of attempts, not hundreds
        assert 2 <= len(attempts) <= 7

    def test_editing_files_releases_a_permanent_failure_at_once(self, tmp_path):
        def script(n, _hold):
            if n == 0:
                return _result(failed=(("bad", "EINVAL: bad MAC length", False),))
            return _result()

        engine = FakeEngine(script=script)
        with running(engine, tmp_path, min_backoff_s=3600.0) as (_stop, wake):
            wake.set()
            assert wait_until(lambda: engine.calls >= 2)
        assert engine.holds[1] == frozenset()


class TestCycleLogging:
    """Each cycle and each applied change is one key-value event."""

    def test_each_cycle_is_one_summary_event(self, tmp_path):
        change = Change(Action.MODIFY, "web", fields=frozen_map({"mtu": (1500, 9000)}))
        blocked = Change(Action.MODIFY, "db", status=ChangeStatus.BLOCKED, reason="guest bound")
        engine = FakeEngine(
            script=lambda _n, _h: CycleResult(
                plan=Plan(changes=(change, blocked)),
                applied=(change,),
                duration_s=0.5,
                failed=(("vf-3", "EBUSY", True),),
            )
        )
        with capture_logs() as logs, running(engine, tmp_path):
            pass
        cycle = next(e for e in logs if e["event"] == "reconcile")
        assert {
            "changes": 2,
            "applied": 1,
            "blocked": 1,
            "errors": 1,
            "duration_ms": 500.0,
        }.items() <= cycle.items()
        backoff = next(e for e in logs if e["event"] == "backoff")
        assert backoff["device"] == "vf-3"
        assert backoff["attempts"] == 1

    def test_the_same_spec_error_is_logged_once_not_every_resync(self, tmp_path):
        engine = FakeEngine(script=lambda _n, _h: _result(errors=("a.yaml:3:5: spec.mtu: bad",)))
        with capture_logs() as logs, running(engine, tmp_path, resync_s=0.05):
            assert wait_until(lambda: engine.calls >= 4)
        assert len([e for e in logs if e["event"] == "spec_error"]) == 1


class TestSignals:
    """In the main thread SIGHUP reconciles now and SIGTERM stops cleanly with 0."""

    def test_sighup_reconciles_and_sigterm_returns_zero(self, tmp_path):
        if threading.current_thread() is not threading.main_thread():
            pytest.skip("signal handlers can only be installed from the main thread")
        engine = FakeEngine()
        before = signal.getsignal(signal.SIGTERM)

        def _drive():
            wait_until(lambda: engine.calls >= 1)
            os.kill(os.getpid(), signal.SIGHUP)
            wait_until(lambda: engine.calls >= 2)
            os.kill(os.getpid(), signal.SIGTERM)

        driver = threading.Thread(target=_drive, daemon=True)
        driver.start()
        rc = run_watch(engine, tmp_path, WatchOptions(resync_s=3600.0, debounce_s=0.05))
        driver.join(timeout=10)
        assert rc == 0
        assert engine.calls == 2
        assert signal.getsignal(signal.SIGTERM) == before


class TestOptions:
    """Impossible timings are a one-line operator error, not a busy loop."""

    @pytest.mark.parametrize("field", ["resync_s", "max_backoff_s", "min_backoff_s"])
    def test_non_positive_delays_are_refused(self, field):
        with pytest.raises(WatchOptionsError, match=field.removesuffix("_s")):
            WatchOptions(**{field: 0})
