"""Fixtures: run ``virtnet-emu`` as a real subprocess against a per-test emulator root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def alive(pid: int) -> bool:
    """The process runs (a zombie has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class Emu:
    """A per-test emulated DPU driven through the executable, like the vendor CLI."""

    root: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "VIRTNET_EMULATOR_ROOT": str(self.root), **extra}

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "reconciler.emulator", *argv]
        return subprocess.run(
            cmd, env=self.env(**env), capture_output=True, text=True, timeout=60, check=False
        )

    def popen(self, *argv: str, **env: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "reconciler.emulator", *argv]
        return subprocess.Popen(
            cmd, env=self.env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def alive(self, pid: int | None) -> bool:
        return pid is not None and alive(pid)

    def wait_until(self, condition, timeout: float = 20.0) -> object:
        """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"not true within {timeout} s: {condition}")

    def pid(self) -> int | None:
        """The service process serving this root, if one runs."""
        try:
            pid = int((self.root / "service.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def calls(self) -> list[dict]:
        """The controller's call ledger, read from its file."""
        path = self.root / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def journal(self) -> str:
        proc = self.run("journal")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def set_conf(self, conf: dict | str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        text = conf if isinstance(conf, str) else json.dumps(conf)
        (self.root / "virtnet.conf").write_text(text)

    def device(self, *selector: str) -> dict:
        return self.json("query", *selector, "-b")["devices"][0]

    def json(self, *argv: str) -> object:
        """Run a successful call and parse its result (skipping the params echo line)."""
        proc = self.run(*argv)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        text = proc.stdout
        if text.startswith("{'"):
            text = text.split("\n", 1)[1]
        return json.loads(text)

    def error(self, *argv: str) -> dict:
        """Run a call that must fail with a JSON-RPC error; return the error object."""
        proc = self.run(*argv)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "Got JSON-RPC error response" in proc.stdout
        return json.loads(proc.stdout.split("response:\n", 1)[1])

    def hotplug(self, mac: str, *extra: str) -> dict:
        return self.json(
            "hotplug", "-i", "mlx5_0", "-m", mac, "-t", "1500", "-n", "4", "-s", "256", *extra
        )

    def recovery(self) -> dict[str, dict]:
        rdir = self.root / "recovery"
        return {
            p.name: json.loads(p.read_text()) for p in rdir.iterdir() if not p.name.startswith(".")
        }


@pytest.fixture
def emu(tmp_path: Path) -> Emu:
    return Emu(tmp_path / "emu")
