"""`virtnet watch` as a real subprocess on the emulator: follows files, repairs drift, stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

POLL_S = 20.0  # upper bound for the loop to catch up; tests never assert durations


def _poll(predicate, timeout: float = POLL_S):
    """Poll until ``predicate()`` is truthy (bounded) and return its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(0.2)
        value = predicate()
    return value


class Watcher:
    """A running `virtnet watch`; its JSON log lines go to a file so no pipe can fill."""

    def __init__(self, sandbox, *extra: str) -> None:
        self.sandbox = sandbox
        self.log_path = sandbox.root / "watch.log"
        argv = [
            sys.executable,
            "-m",
            "reconciler",
            "--backend",
            "emulator",
            "watch",
            "-f",
            str(sandbox.state),
            "--resync",
            "1",
            *extra,
        ]
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                argv, env=sandbox.env, stdout=subprocess.DEVNULL, stderr=log
            )

    def events(self, name: str) -> list[dict]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") == name:
                out.append(record)
        return out

    def cycles(self) -> int:
        return len(self.events("reconcile"))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def log_text(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def watcher(sandbox):
    started: list[Watcher] = []

    def _start(*extra: str) -> Watcher:
        w = Watcher(sandbox, *extra)
        started.append(w)
        assert _poll(lambda: w.cycles() >= 1 or w.proc.poll() is not None), "no first cycle"
        assert w.proc.poll() is None, w.log_text()
        return w

    yield _start
    for w in started:
        if w.proc.poll() is None:
            w.stop()
        assert "Traceback" not in w.log_text(), w.log_text()


def _macs(sandbox) -> set[str]:
    return {d["mac"].lower() for d in sandbox.hotplugs() if "mac" in d}


class TestFollowsTheStateDir:
    """Creating, editing and deleting spec files makes the devices follow."""

    def test_create_edit_delete(self, sandbox, watcher):
        watcher()
        sandbox.hotplug("web", "0c:c4:7a:00:05:01", mtu=1500)
        assert _poll(lambda: "0c:c4:7a:00:05:01" in _macs(sandbox))
        sandbox.hotplug("web", "0c:c4:7a:00:05:01", mtu=9000)
        assert _poll(lambda: sandbox.device_by_mac("0c:c4:7a:00:05:01").get("mtu") == "9000")
        (sandbox.state / "web.yaml").unlink()
        assert _poll(lambda: "0c:c4:7a:00:05:01" not in _macs(sandbox))

    def test_editor_atomic_save_is_picked_up(self, sandbox, watcher):
        sandbox.hotplug("db", "0c:c4:7a:00:05:02", mtu=1500)
        watcher()
        assert _poll(lambda: "0c:c4:7a:00:05:02" in _macs(sandbox))
        text = (sandbox.state / "db.yaml").read_text().replace("1500", "4000")
        tmp = sandbox.state / ".db.yaml.swp.tmp"
        tmp.write_text(text)
        os.replace(tmp, sandbox.state / "db.yaml")
        assert _poll(lambda: sandbox.device_by_mac("0c:c4:7a:00:05:02").get("mtu") == "4000")

    def test_status_file_reports_applied_specs(self, sandbox, watcher):
        watcher()
        sandbox.hotplug("web", "0c:c4:7a:00:05:03")
        status_file = sandbox.root / "status" / "status.json"

        def applied():
            try:
                specs = json.loads(status_file.read_text())["specs"]
            except (OSError, ValueError, KeyError):
                return False
            return specs.get("web", {}).get("state") == "applied"

        assert _poll(applied)
        proc = sandbox.virtnet("status", check=0)
        assert "web" in proc.stdout
        assert "applied" in proc.stdout


class TestDrift:
    """The periodic resync repairs what someone changed behind the loop's back."""

    def test_unplug_behind_its_back_is_repaired_by_resync(self, sandbox, watcher):
        sandbox.hotplug("web", "0c:c4:7a:00:05:11")
        w = watcher()
        assert _poll(lambda: "0c:c4:7a:00:05:11" in _macs(sandbox))
        vuid = sandbox.device_by_mac("0c:c4:7a:00:05:11")["vuid"]
        sandbox.emu("unplug", "-u", vuid)
        # no file changed: only the resync can notice
        assert _poll(lambda: "0c:c4:7a:00:05:11" in _macs(sandbox))
        # the cycle summary is logged after verify: poll for it too
        assert _poll(lambda: any(e["applied"] >= 1 for e in w.events("reconcile")[1:]))

    def test_a_converged_loop_makes_no_mutating_calls(self, sandbox, watcher):
        sandbox.hotplug("web", "0c:c4:7a:00:05:12")
        w = watcher()
        assert _poll(lambda: "0c:c4:7a:00:05:12" in _macs(sandbox))
        sandbox.clear_calls()
        before = w.cycles()
        assert _poll(lambda: w.cycles() >= before + 3)  # three resyncs
        assert sandbox.mutating_calls() == 0


class TestSignals:
    """SIGHUP reconciles now; SIGTERM and SIGINT stop cleanly with exit code 0."""

    def test_sighup_triggers_a_cycle(self, sandbox, watcher):
        w = watcher("--resync", "3600")  # the last --resync wins: no periodic cycles
        before = w.cycles()
        w.signal(signal.SIGHUP)
        assert _poll(lambda: w.cycles() > before)

    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
    def test_stop_signals_exit_zero(self, sandbox, watcher, sig):
        w = watcher()
        w.signal(sig)
        assert w.proc.wait(timeout=30) == 0
        assert w.events("watch_stopped")


class TestConfigMapVolume:
    """A Kubernetes ConfigMap update (the `..data` symlink swap) is followed."""

    def _project(self, sandbox, stamp: str, mtu: int) -> None:
        """Do what kubelet's atomic writer does, for one key `web.yaml`."""
        data_dir = sandbox.state / f"..2026_11_25_{stamp}"
        data_dir.mkdir()
        spec = (
            "apiVersion: virtnet/v1\nkind: VirtioNetDevice\nmetadata:\n  name: web\n"
            'spec:\n  type: hotplug\n  ib_device: mlx5_0\n  mac: "0c:c4:7a:00:05:21"\n'
            f"  mtu: {mtu}\n  max_queues: 4\n  max_queue_size: 256\n"
        )
        (data_dir / "web.yaml").write_text(spec)
        os.symlink(data_dir.name, sandbox.state / "..data_tmp")
        old = (sandbox.state / "..data").resolve() if (sandbox.state / "..data").exists() else None
        os.replace(sandbox.state / "..data_tmp", sandbox.state / "..data")
        if not (sandbox.state / "web.yaml").is_symlink():
            os.symlink("..data/web.yaml", sandbox.state / "web.yaml")
        if old is not None:
            for f in old.iterdir():
                f.unlink()
            old.rmdir()

    def test_configmap_swap_is_followed(self, sandbox, watcher):
        self._project(sandbox, "12_00_00.1", 1500)
        watcher("--resync", "3600")  # only the file events can wake it
        assert _poll(lambda: "0c:c4:7a:00:05:21" in _macs(sandbox))
        self._project(sandbox, "12_05_00.2", 9000)
        assert _poll(lambda: sandbox.device_by_mac("0c:c4:7a:00:05:21").get("mtu") == "9000")


class TestMetricsEndpoint:
    """--metrics-address serves Prometheus metrics and a health check while watching."""

    def test_metrics_and_healthz(self, sandbox, watcher):
        w = watcher("--metrics-address", "127.0.0.1:0")
        listening = _poll(lambda: w.events("metrics_listening"))
        port = listening[0]["port"]
        assert _poll(lambda: w.cycles() >= 2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        assert 'virtnet_reconcile_total{result="converged"}' in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200


def _git(*args: str, cwd) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _hotplug_doc(name: str, mac: str) -> str:
    return (
        f"apiVersion: virtnet/v1\nkind: VirtioNetDevice\nmetadata:\n  name: {name}\n"
        f'spec:\n  type: hotplug\n  ib_device: mlx5_0\n  mac: "{mac}"\n'
    )


@pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True, check=False).returncode != 0,
    reason="needs git",
)
class TestGitCheckout:
    """The state dir is a git checkout: `git pull` and `git checkout` are followed for real."""

    def test_pull_adds_and_checkout_of_an_older_commit_prunes(self, sandbox, watcher, tmp_path):
        origin = tmp_path / "origin"
        origin.mkdir()
        _git("init", "-q", "-b", "main", cwd=origin)
        (origin / "a.yaml").write_text(_hotplug_doc("a", "0c:c4:7a:00:06:01"))
        _git("add", ".", cwd=origin)
        _git("commit", "-q", "-m", "a", cwd=origin)
        _git("clone", "-q", str(origin), str(sandbox.state), cwd=tmp_path)
        watcher("--resync", "3600")  # only the file events can wake it
        assert _poll(lambda: "0c:c4:7a:00:06:01" in _macs(sandbox))

        (origin / "b.yaml").write_text(_hotplug_doc("b", "0c:c4:7a:00:06:02"))
        _git("add", ".", cwd=origin)
        _git("commit", "-q", "-m", "b", cwd=origin)
        _git("pull", "-q", "--ff-only", cwd=sandbox.state)
        assert _poll(lambda: "0c:c4:7a:00:06:02" in _macs(sandbox))

        _git("checkout", "-q", "HEAD~1", cwd=sandbox.state)
        assert _poll(lambda: "0c:c4:7a:00:06:02" not in _macs(sandbox))
        assert "0c:c4:7a:00:06:01" in _macs(sandbox)


class TestDetectOnly:
    """`virtnet watch --dry-run` reports drift in the status file and never changes anything."""

    def test_dry_run_watch_reports_drift_without_repairing_it(self, sandbox, watcher):
        sandbox.hotplug("web", "0c:c4:7a:00:07:01")
        sandbox.virtnet("apply", check=0)
        vuid = sandbox.device_by_mac("0c:c4:7a:00:07:01")["vuid"]
        sandbox.emu("unplug", "-u", vuid)
        sandbox.clear_calls()
        w = watcher("--dry-run")

        def pending():
            path = sandbox.root / "status" / "status.json"
            if not path.exists():
                return False
            spec = json.loads(path.read_text())["specs"].get("web", {})
            return spec.get("state") == "pending"

        assert _poll(pending)
        assert _poll(lambda: w.cycles() >= 3)  # several cycles: resync is 1 s
        assert sandbox.mutating_calls() == 0
        assert "0c:c4:7a:00:07:01" not in _macs(sandbox)
