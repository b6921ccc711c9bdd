"""The import contracts (pyproject.toml) forbid what they claim: each planted violation breaks one.

Every case copies the package, adds one import the architecture forbids to one module
of the copy, and runs ``lint-imports`` on it: the named contract must be broken. So a
contract that is loosened, or a module renamed out of its reach, fails here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The planner's modules and what none of them may import (the "planner-pure" contract).
PLANNER = [
    "plan/merge.py",
    "plan/order.py",
    "plan/limits.py",
    "plan/holds.py",
    "render.py",
    "engine/outcome.py",
    "resources/base.py",
    "resources/registry.py",
    "resources/device.py",
    "resources/device_set.py",
    "resources/controller_config.py",
    "resources/recovery_records.py",
    "resources/firmware_profile.py",
]
PLANNER_FORBIDDEN = [
    "os",
    "pathlib",
    "threading",
    "time",
    "subprocess",
    "socket",
    "pyroute2",
    "pyverbs",
    "watchdog",
    "reconciler.loading",
    "reconciler.drivers.virtnet_cli",
    "reconciler.backend",
    "reconciler.store.journal",
    "reconciler.resources.device_apply",
    "reconciler.resources.handlers",
    "reconciler.emulator",
]

CASES = [
    # (module of the copy, what it imports, the contract that must break)
    *(
        (PLANNER[i % len(PLANNER)], forbidden, "planner-pure")
        for i, forbidden in enumerate(PLANNER_FORBIDDEN)
    ),
    # layers, top to bottom: a lower layer never imports a higher one
    ("model.py", "reconciler.loading", "layers"),
    ("errors.py", "reconciler.model", "layers"),
    ("fields.py", "reconciler.drivers.runner", "layers"),
    ("drivers/runner.py", "reconciler.resources.registry", "layers"),
    ("resources/device.py", "reconciler.plan", "layers"),
    ("plan/merge.py", "reconciler.apply", "layers"),
    ("apply.py", "reconciler.engine", "layers"),
    ("engine/cycle.py", "reconciler.watch", "layers"),
    ("watch/loop.py", "reconciler.cli", "layers"),
    # siblings of one layer stay apart
    ("apply.py", "reconciler.observe", "layers"),
    ("observe.py", "reconciler.loading", "layers"),
    ("loading/state.py", "reconciler.apply", "layers"),
    ("plan/merge.py", "reconciler.store.inventory", "layers"),
    ("backend.py", "reconciler.store.lock", "layers"),
    # drivers: independent of each other, no policy
    ("drivers/virtnet_cli.py", "reconciler.drivers.netlink", "drivers-independent"),
    ("drivers/recovery.py", "reconciler.drivers.mlxconfig", "drivers-independent"),
    ("drivers/procs.py", "reconciler.drivers.rdma", "drivers-independent"),
    ("drivers/netlink.py", "reconciler.plan", "drivers-no-policy"),
    ("drivers/rdma.py", "reconciler.engine", "drivers-no-policy"),
    ("drivers/mlxconfig.py", "reconciler.apply", "drivers-no-policy"),
    # the emulator: nobody outside imports it, it imports none of the reconciler's logic
    ("engine/cycle.py", "reconciler.emulator", "emulator-private"),
    ("apply.py", "reconciler.emulator", "emulator-private"),
    ("backend.py", "reconciler.emulator", "emulator-private"),
    ("cli.py", "reconciler.emulator", "emulator-private"),
    ("emulator/__init__.py", "reconciler.engine", "emulator-device"),
    ("emulator/__init__.py", "reconciler.plan", "emulator-device"),
]


def _lint(root: Path, *contracts: str) -> subprocess.CompletedProcess:
    argv = [
        sys.executable,
        "-c",
        "from importlinter.cli import lint_imports_command as c; c()",
        "--no-cache",
        "--no-logo",
        *(f"--contract={c}" for c in contracts),
        str(root / "pyproject.toml"),
    ]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        argv, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package and its contracts, in a directory of their own."""
    shutil.copytree(
        ROOT / "reconciler", tmp_path / "reconciler", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(copy: Path, module: str, imported: str) -> None:
    path = copy / "reconciler" / module
    assert path.exists(), f"{module} moved: update the planted-import cases"
    with path.open("a") as fh:
        fh.write(f"\nimport {imported}  # planted by test_import_contracts\n")


class TestContractsHold:
    """The package as it is keeps every contract."""

    def test_the_unchanged_copy_keeps_every_contract(self, copy):
        done = _lint(copy)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 broken" in done.stdout


class TestPlantedViolationsBreakTheirContract:
    """Each forbidden import, planted in a copy, is caught by the contract that forbids it."""

    @pytest.mark.parametrize(
        ("module", "imported", "contract"), CASES, ids=[f"{c}:{m}->{i}" for m, i, c in CASES]
    )
    def test_planted_import_breaks_the_contract(self, copy, module, imported, contract):
        _plant(copy, module, imported)
        done = _lint(copy, contract)
        assert done.returncode != 0, f"{module} importing {imported} passed:\n{done.stdout}"
        assert "BROKEN" in done.stdout, done.stdout + done.stderr

    def test_a_new_top_level_module_must_be_given_a_layer(self, copy):
        (copy / "reconciler" / "stray.py").write_text('"""Nobody placed me."""\n')
        done = _lint(copy, "layers")
        assert done.returncode != 0
        assert "reconciler.stray" in done.stdout
