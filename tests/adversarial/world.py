"""A black-box world for the adversarial suite: one emulated DPU, the product as subprocesses.

Nothing here imports ``reconciler``: the product is driven as its users and an attacker
drive it, through the ``virtnet`` and ``virtnet-emu`` executables, files, environment
variables and file modes. The controller is observed through ``virtnet-emu query -a -b``
and its call ledger (``calls.jsonl`` under the emulator root, docs/vendor-cli.md), the
reconciler through exit codes, output, ``virtnet status -o json`` and its files.

``backend="vendor"`` puts ``vendorish.py`` (a vendor-style CLI stand-in with its own,
file-driven faults) in front of the emulator as ``VIRTNET_VENDOR_CLI``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
VENDORISH = HERE / "vendorish.py"
MUTATING = ("hotplug", "unplug", "modify")
ATTACKER_UID = 54_321  # a uid with no passwd entry: nobody on this host has it


def _tool(script: str, module: str) -> list[str]:
    """The installed console script beside this interpreter, else ``python -m``."""
    exe = Path(sys.executable).parent / script
    return [str(exe)] if exe.exists() else [sys.executable, "-m", module]


VIRTNET = _tool("virtnet", "reconciler")
VIRTNET_EMU = _tool("virtnet-emu", "reconciler.emulator")


class World:
    """One emulated DPU with every reconciler path pointed into a private directory."""

    def __init__(self, base: Path, backend: str = "emulator"):
        self.base = base
        self.backend = backend
        self.emu_root = base / "emu"
        self.state = base / "state"
        self.data = base / "data"
        self.status_dir = base / "status"
        self.run_dir = base / "run"
        self.control = base / "vendorish.json"
        self.state.mkdir(mode=0o755)
        self.run_dir.mkdir(mode=0o755)
        self.procs: list[subprocess.Popen] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTNET_", "VENDORISH_"))}
        env.update(
            {
                "VIRTNET_BACKEND": backend,
                "VIRTNET_EMULATOR_ROOT": str(self.emu_root),
                "VIRTNET_STATE_DIR": str(self.state),
                "VIRTNET_STATUS_DIR": str(self.status_dir),
                "VIRTNET_DATA_DIR": str(self.data),
                "VIRTNET_RUN_DIR": str(self.run_dir),
                "VIRTNET_RECOVERY_DIR": str(self.emu_root / "recovery"),
                "VIRTNET_CONF": str(self.emu_root / "virtnet.conf"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if backend == "vendor":
            # a launcher with this interpreter: no dependence on what python3 is on PATH
            launcher = base / "bin" / "virtnet"
            launcher.parent.mkdir(mode=0o755)
            launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{VENDORISH}" "$@"\n')
            launcher.chmod(0o755)
            env["VIRTNET_VENDOR_CLI"] = str(launcher)
            env["VENDORISH_CONTROL"] = str(self.control)
            env["VENDORISH_EMU"] = VIRTNET_EMU[0] if len(VIRTNET_EMU) == 1 else ""
            if len(VIRTNET_EMU) > 1:  # no console script: let the stand-in find it on PATH
                env.pop("VENDORISH_EMU")
        self.env = env
        self.rules([])
        self.emu("init", "--num-pf", "1", "--num-vf", "2", "--switch-ports", "8")

    # ---- running the product ---------------------------------------------------------
    def virtnet(
        self, *args: str, timeout: float = 120, env: dict | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*VIRTNET, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input,
        )

    def emu(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A controller-side call made by hand (an operator with the vendor CLI)."""
        proc = subprocess.run(
            [*VIRTNET_EMU, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def emu_at(self, root: Path, *args: str) -> subprocess.CompletedProcess:
        """A call to another emulated controller (its own root), e.g. a second DPU."""
        proc = subprocess.run(
            [*VIRTNET_EMU, *args],
            env={**self.env, "VIRTNET_EMULATOR_ROOT": str(root)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def spawn(
        self, *args: str, env: dict | None = None, tool: list[str] = VIRTNET
    ) -> subprocess.Popen:
        """A long-running ``virtnet`` (watch, a slow apply); killed at teardown."""
        log = open(self.base / f"proc-{len(self.procs)}.log", "w+")  # noqa: SIM115
        proc = subprocess.Popen(
            [*tool, *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        proc.log = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def spawn_emu(self, *args: str) -> subprocess.Popen:
        """A controller-side call left running (to be killed mid-call)."""
        return self.spawn(*args, tool=VIRTNET_EMU)

    def cycle_after(self, watch: subprocess.Popen, moment: float, timeout: float = 30) -> None:
        """Wait for a watch cycle that *started* after ``moment`` (epoch s) and finished."""

        def started_after() -> bool:
            for event in events(self.output(watch), "reconcile"):
                end = datetime.fromisoformat(event["timestamp"]).timestamp()
                if end - event.get("duration_ms", 0) / 1000 > moment:
                    return True
            return False

        assert wait_for(started_after, timeout=timeout), self.output(watch)[-3000:]

    def watch(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        """``virtnet watch`` that has finished its first cycle."""
        proc = self.spawn("watch", *args, env=env)
        assert wait_for(lambda: events(self.output(proc), "reconcile"), timeout=60), self.output(
            proc
        )
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen) -> None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    @staticmethod
    def output(proc: subprocess.Popen) -> str:
        proc.log.flush()  # type: ignore[attr-defined]
        return Path(proc.log.name).read_text()  # type: ignore[attr-defined]

    # ---- observing the controller ----------------------------------------------------
    def devices(self) -> list[dict]:
        return first_json(self.emu("query", "-a", "-b").stdout)["devices"]

    def hotplugs(self) -> list[dict]:
        return [d for d in self.devices() if d.get("function_type") == "hotplug PF"]

    def with_mac(self, mac: str) -> list[dict]:
        return [d for d in self.devices() if d.get("mac", "").lower() == mac.lower()]

    def ledger(self) -> list[dict]:
        return self.ledger_at(self.emu_root)

    @staticmethod
    def ledger_at(root: Path) -> list[dict]:
        path = root / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def mark(self) -> int:
        """A position in the ledger; ``mutations(since=mark)`` counts from there."""
        return len(self.ledger())

    def mutations(self, since: int = 0, op: str | None = None, ok: bool | None = None) -> list:
        calls = [c for c in self.ledger()[since:] if c["op"] in MUTATING]
        if op is not None:
            calls = [c for c in calls if c["op"] == op]
        if ok is not None:
            calls = [c for c in calls if c["ok"] is ok]
        return calls

    def recovery_records(self) -> list[str]:
        return sorted(p.name for p in (self.emu_root / "recovery").iterdir())

    def hand_hotplug(self, mac: str) -> str:
        """A device made by hand with the vendor CLI; returns its VUID."""
        out = self.emu(
            "hotplug", "-i", "mlx5_0", "-m", mac, "-t", "1500", "-n", "4", "-s", "256"
        ).stdout
        return first_json(out)["vuid"]

    # ---- the reconciler's side ---------------------------------------------------------
    def spec(
        self, name: str, mac: str, file: str | None = None, state: Path | None = None, **fields
    ) -> Path:
        """Write a hotplug VirtioNetDevice spec (atomically, as a careful operator does)."""
        spec = {
            "type": "hotplug",
            "ib_device": "mlx5_0",
            "mac": mac,
            "mtu": 1500,
            "max_queues": 4,
            "max_queue_size": 256,
            **fields,
        }
        body = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in spec.items())
        text = (
            f"apiVersion: virtnet/v1\nkind: VirtioNetDevice\nmetadata:\n  name: {name}\n"
            f"spec:\n{body}"
        )
        path = (state or self.state) / (file or f"{name}.yaml")
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, path)
        return path

    def status(self) -> dict:
        """The status file (what ``virtnet status -o json`` prints), read directly: faster."""
        path = self.status_dir / "status.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def spec_state(self, name: str) -> dict:
        return self.status().get("specs", {}).get(name, {})

    # ---- the stand-in's faults ---------------------------------------------------------
    def rules(self, rules: list[dict]) -> None:
        tmp = self.control.with_name("vendorish.tmp")
        tmp.write_text(json.dumps({"rules": rules}))
        os.replace(tmp, self.control)

    def fired(self, action: str | None = None) -> list[dict]:
        log = self.control.with_name(self.control.name + ".log")
        if not log.exists():
            return []
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        return [x for x in lines if action is None or x["action"] == action]

    def landers_done(self, timeout: float = 60) -> None:
        """Wait for every detached lander of the stand-in to deliver its call."""
        pids = self.control.with_name(self.control.name + ".pids")
        deadline = time.monotonic() + timeout
        for pid in (int(p) for p in (pids.read_text().split() if pids.exists() else [])):
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(pid), f"lander {pid} did not finish"

    # ---- teardown ------------------------------------------------------------------------
    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            proc.log.close()  # type: ignore[attr-defined]
        pids = self.control.with_name(self.control.name + ".pids")
        for pid in (int(p) for p in (pids.read_text().split() if pids.exists() else [])):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # landers lead their own session
        for pid in _service_pids(self.base, self.emu_root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # an emulator service started for this world


def first_json(text: str):
    """The first JSON value in vendor output (after the params echo line, if any)."""
    decoder = json.JSONDecoder()
    for pos, char in enumerate(text):
        if char in "{[":
            try:
                return decoder.raw_decode(text, pos)[0]
            except ValueError:
                continue
    raise AssertionError(f"no JSON in {text[:200]!r}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _service_pids(base: Path, emu_root: Path) -> list[int]:
    """Processes left behind for this world: an emulator service started on first use.

    Found by this world's private path in their command line, or by a pid file under the
    emulator root; the environment of other processes is not read.
    """
    me = os.getpid()
    found = set()
    for pidfile in emu_root.glob("**/*.pid"):
        with contextlib.suppress(OSError, ValueError):
            found.add(int(pidfile.read_text().split()[0]))
    marker = str(base).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if marker in fh.read():
                    found.add(int(entry))
        except OSError:
            continue
    return sorted(pid for pid in found if pid != me and _alive(pid))


def wait_for(predicate, timeout: float = 20.0, poll: float = 0.1):
    """Poll until ``predicate()`` is truthy; returns its last value (a bound, not a claim)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(poll)
        value = predicate()
    return value


def events(text: str, event: str | None = None) -> list[dict]:
    """The JSON log lines of a watch (it logs one JSON object per line off a terminal)."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if event is None or obj.get("event") == event:
            found.append(obj)
    return found


def as_attacker(func: str, *args: str) -> None:
    """Run a small file-system action as a second local user (uid/gid 54321, no groups)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as a second local user")
    code = {
        "swap_for_symlink": (
            "import os,sys; p,t=sys.argv[1],sys.argv[2]; os.rename(p,p+'.old'); os.symlink(t,p)"
        ),
        "write": "import sys; open(sys.argv[1],'w').write(sys.argv[2])",
    }[func]
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    proc = subprocess.run(
        [python, "-c", code, *args],
        user=ATTACKER_UID,
        group=ATTACKER_UID,
        extra_groups=[],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
