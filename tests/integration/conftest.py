"""Fixtures that run the real `virtnet` and `virtnet-emu` as subprocesses in a private sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


class Sandbox:
    """One emulated DPU (its own emulator root, data and status dirs) plus a state dir."""

    def __init__(self, root: Path):
        self.root = root
        self.state = root / "state"
        self.state.mkdir(mode=0o755)
        self.env = {
            **os.environ,
            "VIRTNET_BACKEND": "emulator",
            "VIRTNET_EMULATOR_ROOT": str(root / "emu"),
            "VIRTNET_STATUS_DIR": str(root / "status"),
            "VIRTNET_STATE_DIR": str(self.state),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("VIRTNET_EMULATOR_NETNS", None)
        self.env.pop("VIRTNET_DATA_DIR", None)

    def virtnet(self, *args: str, check: int | None = None, timeout: float = 120):
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
        return proc

    def emu(self, *args: str, check: bool = True):
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler.emulator", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def emu_json(self, *args: str):
        out = self.emu(*args).stdout
        start = out.index("{") if "{" in out else out.index("[")
        return json.JSONDecoder().raw_decode(out[start:])[0]

    def devices(self) -> list[dict]:
        return self.emu_json("query", "-a", "-b")["devices"]

    def hotplugs(self) -> list[dict]:
        return [d for d in self.devices() if d.get("function_type") == "hotplug PF"]

    def device_by_mac(self, mac: str) -> dict:
        found = [d for d in self.devices() if d.get("mac", "").lower() == mac.lower()]
        assert len(found) == 1, found
        return found[0]

    def mutating_calls(self) -> int:
        counts = self.emu_json("calls")
        return sum(counts.get(op, 0) for op in ("hotplug", "unplug", "modify"))

    def clear_calls(self) -> None:
        self.emu("calls", "--clear")

    def write(self, name: str, text: str) -> Path:
        path = self.state / name
        path.write_text(text)
        return path

    def copy_example(self, example: str) -> None:
        for src in (REPO / "examples" / example).iterdir():
            if src.is_file():
                shutil.copy(src, self.state / src.name)

    def hotplug(self, name: str, mac: str, **spec) -> Path:
        """Write ``<name>.yaml``: a VirtioNetDevice for a hotplug device on mlx5_0."""
        fields = {
            "type": "hotplug",
            "ib_device": "mlx5_0",
            "mac": mac,
            "mtu": 1500,
            "max_queues": 4,
            "max_queue_size": 256,
            **spec,
        }
        body = "\n".join(f"  {k}: {json.dumps(v)}" for k, v in fields.items())
        return self.write(
            f"{name}.yaml",
            f"apiVersion: virtnet/v1\nkind: VirtioNetDevice\nmetadata:\n  name: {name}\n"
            f"spec:\n{body}\n",
        )


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)
