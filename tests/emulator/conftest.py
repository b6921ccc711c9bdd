"""Fixtures: run ``virtnet-emu`` as a real subprocess against a per-test emulator root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


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
