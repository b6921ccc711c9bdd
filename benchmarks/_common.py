"""Shared helpers for the benchmarks: a throw-away emulated DPU, spec writers, process timing."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "REPO",
    "VFS_PER_PF",
    "ProcResult",
    "Sandbox",
    "median",
    "pct",
    "vf_mac",
    "write_vf_fleet",
]

REPO = Path(__file__).resolve().parents[1]
VFS_PER_PF = 512
# the emulator's default VF MAC base (no mac_base in virtnet.conf): VF n of PF p gets
# base + p * num_vf + n, so a fleet spec written from it matches a fresh emulator
_EMU_VF_MAC_BASE = 0x025B00000000


def median(values: list[float]) -> float:
    return statistics.median(values)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank): honest for the ~20 samples the benchmarks take."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _mac(value: int) -> str:
    return ":".join(f"{(value >> s) & 0xFF:02x}" for s in range(40, -8, -8))


def write_vf_fleet(state: Path, n: int, *, skip_last: bool = False) -> list[Path]:
    """VirtioNetDeviceSets covering ``n`` VFs, 512 per PF, matching a fresh emulator.

    The specs state the MAC of every VF and its MTU, exactly what the emulator booted
    with, so the first apply already finds a converged world: the no-op benchmarks then
    measure a no-op, not the set-up. ``skip_last`` leaves the last VF to a standalone
    VirtioNetDevice (the watch benchmark edits it).
    """
    paths = []
    for pf in range((n + VFS_PER_PF - 1) // VFS_PER_PF):
        count = min(VFS_PER_PF, n - pf * VFS_PER_PF)
        last = count - 1 - (1 if skip_last and (pf + 1) * VFS_PER_PF >= n else 0)
        base = _mac(_EMU_VF_MAC_BASE + pf * VFS_PER_PF)
        path = state / f"fleet-pf{pf}.yaml"
        path.write_text(
            "apiVersion: virtnet/v1\nkind: VirtioNetDeviceSet\n"
            f'metadata:\n  name: pf{pf}\nspec:\n  pf_id: {pf}\n  vf_ids: "0-{last}"\n'
            f'  mac_base: "{base}"\n  template:\n    mtu: 1500\n'
        )
        paths.append(path)
    return paths


def vf_mac(pf: int, vf: int) -> str:
    """The MAC a fresh emulator gives VF ``vf`` of PF ``pf`` (see :func:`write_vf_fleet`)."""
    return _mac(_EMU_VF_MAC_BASE + pf * VFS_PER_PF + vf)


@dataclass
class ProcResult:
    """One finished child: wall time, exit code, peak RSS of it or its largest descendant."""

    wall_s: float
    returncode: int
    maxrss_kb: int
    stdout: str


class Sandbox:
    """One emulated DPU in a temp dir (emulator root, state, data, status), removed on exit."""

    def __init__(self, prefix: str = "virtnet-bench-"):
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.state = self.root / "state"
        self.state.mkdir()
        self.emu_root = self.root / "emu"
        self.env = {
            **os.environ,
            "VIRTNET_BACKEND": "emulator",
            "VIRTNET_EMULATOR_ROOT": str(self.emu_root),
            "VIRTNET_STATUS_DIR": str(self.root / "status"),
            "VIRTNET_STATE_DIR": str(self.state),
        }
        for var in ("VIRTNET_EMULATOR_NETNS", "VIRTNET_DATA_DIR", "VIRTNET_VENDOR_CLI"):
            self.env.pop(var, None)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # -- processes -------------------------------------------------------------
    def run(self, argv: list[str], *, timeout: float = 170) -> ProcResult:
        """Run to completion; ``wait4`` gives the child's peak RSS (max over its own children)."""
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            out = proc.stdout.read()
            proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        return ProcResult(wall, proc.returncode, usage.ru_maxrss, out)

    def virtnet(self, *args: str) -> ProcResult:
        return self.run([sys.executable, "-m", "reconciler", *args])

    def emu(self, *args: str) -> ProcResult:
        return self.run([sys.executable, "-m", "reconciler.emulator", *args])

    def emu_json(self, *args: str):
        out = self.emu(*args).stdout
        start = min(i for i in (out.find("{"), out.find("[")) if i >= 0)
        return json.JSONDecoder().raw_decode(out[start:])[0]

    def init(self, n_vfs: int, *, hotplug_ports: int | None = None) -> None:
        """A DPU with enough PFs of 512 VFs for ``n_vfs`` and an SF budget to match.

        Below 512 VFs one PF is used, ``n_vfs`` of its VFs created by the host.
        """
        num_pf = max(1, (n_vfs + VFS_PER_PF - 1) // VFS_PER_PF)
        # the host creates exactly the VFs needed (sriov_numvfs), as an operator would
        args = [
            "init",
            "--num-pf",
            str(num_pf),
            "--num-vf",
            str(VFS_PER_PF),
            "--sriov-numvfs",
            str(min(n_vfs, VFS_PER_PF)),
            "--total-sf",
            str(num_pf * (VFS_PER_PF + 1) + 64),
        ]
        if hotplug_ports is not None:
            args += ["--switch-ports", str(hotplug_ports)]
        done = self.emu(*args)
        assert done.returncode == 0, "virtnet-emu init failed"

    def mutating_calls(self) -> int:
        counts = self.emu_json("calls")
        return sum(counts.get(op, 0) for op in ("hotplug", "unplug", "modify"))

    def engine(self, *, in_process: bool = False, prune: bool = False):
        """An Engine against this DPU, as ``virtnet watch`` builds one (subprocess by default)."""
        from reconciler.backend import resolve_backend
        from reconciler.emulator.inprocess import in_process_backend
        from reconciler.engine import Engine, EngineOptions

        if in_process:
            backend = in_process_backend(self.env)
        else:
            backend = resolve_backend("emulator", env=self.env)
        return Engine(
            EngineOptions(state_dir=self.state, prune=prune, status_dir=self.root / "status"),
            backend,
        )
