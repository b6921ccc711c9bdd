"""The systemd unit: verifies, exposure <= 2.5 offline, its syscall filter admits what we call."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from deploy_helpers import EXAMPLES, UNIT, run, tool

MAX_EXPOSURE = 2.5
_EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d)")


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def _exposure(unit: Path) -> float:
    proc = run(
        [tool("systemd-analyze"), "security", "--offline=yes", "--no-pager", str(unit)], timeout=120
    )
    match = _EXPOSURE.search(proc.stdout + proc.stderr)
    assert match, proc.stdout + proc.stderr
    return float(match.group(1))


def _copy(tmp_path: Path, text: str | None = None) -> Path:
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text() if text is None else text)
    return unit


class TestUnit:
    """`systemd-analyze` accepts the unit and rates it OK."""

    def test_verify_is_clean(self, tmp_path):
        # verify also checks that ExecStart exists: point it at one that does, keep the rest
        unit = _copy(tmp_path, UNIT.read_text().replace("/usr/local/bin/virtnet", "/bin/true"))
        proc = run([tool("systemd-analyze"), "verify", "--man=no", str(unit)], timeout=120)
        problems = [line for line in proc.stderr.splitlines() if UNIT.name in line]
        assert proc.returncode == 0, proc.stderr
        assert problems == [], "\n".join(problems)

    def test_exposure_is_at_most_2_5(self, tmp_path):
        assert _exposure(_copy(tmp_path)) <= MAX_EXPOSURE

    def test_the_score_would_catch_a_loosened_unit(self, tmp_path):
        """The check can fail: without the capability and syscall limits the score rises."""
        loose = "\n".join(
            line
            for line in UNIT.read_text().splitlines()
            if not line.startswith(
                (
                    "CapabilityBoundingSet=",
                    "SystemCallFilter=",
                    "PrivateDevices=",
                    "ProtectKernelTunables=",
                )
            )
        )
        assert _exposure(_copy(tmp_path, loose)) > MAX_EXPOSURE

    def test_keeps_what_the_loop_needs(self):
        d = _directives(UNIT.read_text())
        assert d["ExecStart"] == ["/usr/local/bin/virtnet watch -f /etc/virtnet/state"]
        assert d["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"]
        assert "AF_NETLINK" in d["RestrictAddressFamilies"][0].split()
        assert d["ReadWritePaths"] == ["-/opt/mellanox/mlnx_virtnet/recovery"]
        assert d["StateDirectory"] == ["virtnet-reconciler"]
        assert "PrivateNetwork" not in d  # representors live in the host's namespace
        for key in ("PrivateDevices", "PrivateTmp", "ProtectKernelTunables", "NoNewPrivileges"):
            assert d[key] == ["yes"], key
        assert d["ProtectProc"] == ["invisible"]


def _syscall_groups() -> dict[str, list[str]]:
    out = run([tool("systemd-analyze"), "syscall-filter", "--no-pager"], timeout=60).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        word = line.strip().split(" ")[0] if line.strip() else ""
        if not word or word.startswith("#"):
            continue
        if not line.startswith(" ") and word.startswith("@"):
            current = groups.setdefault(word, [])
        elif current is not None:
            current.append(word)
    return groups


def _expand(groups: dict[str, list[str]], names: list[str], seen: set | None = None) -> set[str]:
    seen = set() if seen is None else seen
    out: set[str] = set()
    for name in names:
        if name.startswith("@"):
            if name not in seen:
                seen.add(name)
                out |= _expand(groups, groups[name], seen)
        else:
            out.add(name)
    return out


def _unit_allows() -> set[str]:
    """The unit's SystemCallFilter= lines, applied in order as systemd does (allow, then ~deny)."""
    groups = _syscall_groups()
    allowed: set[str] = set()
    for value in _directives(UNIT.read_text())["SystemCallFilter"]:
        if value.startswith("~"):
            allowed -= _expand(groups, value[1:].split())
        else:
            allowed |= _expand(groups, value.split())
    return allowed


_CALL = re.compile(r"^(?:\d+\s+)?(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")


def _traced_syscalls(trace: Path) -> set[str]:
    names = set()
    for line in trace.read_text().splitlines():
        match = _CALL.match(line)
        if match:
            names.add(match.group(1))
    return names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestSyscallFilter:
    """Every system call `virtnet apply` and `virtnet watch` make is allowed by the unit.

    Traced with strace on the emulator backend (which also runs the emulator's own calls,
    a superset); the vendor CLI's calls cannot be traced here (docs/deploy.md lists it).
    """

    @pytest.fixture
    def sandbox(self, tmp_path):
        state = tmp_path / "state"
        state.mkdir(mode=0o755)
        for spec in (EXAMPLES / "quickstart").iterdir():
            (state / spec.name).write_text(spec.read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTNET_")}
        env.update(
            VIRTNET_EMULATOR_ROOT=str(tmp_path / "emu"),
            VIRTNET_STATUS_DIR=str(tmp_path / "status"),
            VIRTNET_DATA_DIR=str(tmp_path / "data"),
            # strace -f also follows the emulator service the first call starts, and
            # returns only once it has exited: let it go idle quickly
            VIRTNET_EMULATOR_IDLE_S="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        return tmp_path, state, env

    def test_apply_calls_only_allowed_syscalls(self, sandbox):
        tmp_path, state, env = sandbox
        trace = tmp_path / "trace"
        proc = run(
            [
                tool("strace"),
                "-f",
                "-qq",
                "-o",
                str(trace),
                sys.executable,
                "-m",
                "reconciler",
                "--backend",
                "emulator",
                "apply",
                "-f",
                str(state),
            ],
            env=env,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        used = _traced_syscalls(trace)
        assert {"openat", "rename", "fsync", "flock", "execve"} <= used  # the trace is real
        assert used - _unit_allows() == set()

    def test_watch_with_metrics_calls_only_allowed_syscalls(self, sandbox):
        tmp_path, state, env = sandbox
        trace, port = tmp_path / "trace", _free_port()
        argv = [
            tool("strace"),
            "-f",
            "-qq",
            "-o",
            str(trace),
            sys.executable,
            "-m",
            "reconciler",
            "--backend",
            "emulator",
            "watch",
            "-f",
            str(state),
            "--metrics-address",
            f"127.0.0.1:{port}",
        ]
        strace = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            status = tmp_path / "status" / "status.json"
            for _ in range(600):  # a cycle ends with the status file; bounded, not timed
                if status.exists() and json.loads(status.read_text()).get("specs"):
                    break
                assert strace.poll() is None, strace.stderr.read()
                time.sleep(0.1)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                assert b"virtnet_" in r.read()
            (state / "hotplug.yaml").write_text((state / "hotplug.yaml").read_text())  # inotify
            children = Path(f"/proc/{strace.pid}/task/{strace.pid}/children").read_text().split()
            os.kill(int(children[0]), signal.SIGTERM)
            assert strace.wait(timeout=120) == 0
        finally:
            if strace.poll() is None:
                strace.kill()
                strace.wait()
        used = _traced_syscalls(trace)
        assert {"inotify_add_watch", "bind", "listen", "accept4"} <= used, sorted(used)
        assert used - _unit_allows() == set()

    def test_a_call_outside_the_filter_is_reported(self, tmp_path):
        """The check can fail: a trace with a privileged call is not admitted."""
        trace = tmp_path / "trace"
        trace.write_text(
            '123 openat(AT_FDCWD, "/x", O_RDONLY) = 3\n'
            "123 setuid(0) = 0\n"
            "124 <... sethostname resumed>) = 0\n"
        )
        assert _traced_syscalls(trace) - _unit_allows() == {"setuid", "sethostname"}
