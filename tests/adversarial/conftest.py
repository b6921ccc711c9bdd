"""Fixtures of the adversarial suite: a fresh emulated DPU per test, torn down with it."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from .world import World


@pytest.fixture
def public_tmp():
    """A private dir that a second local user can traverse (pytest's tmp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="virtnet-adv-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def _make_world(base: Path, backend: str):
    world = World(base, backend)
    try:
        yield world
    finally:
        world.close()


@pytest.fixture
def world(public_tmp: Path):
    """The emulator backend (the embedded default)."""
    yield from _make_world(public_tmp, "emulator")


@pytest.fixture
def vendor(public_tmp: Path):
    """The vendor backend, through the vendor-style stand-in in front of the emulator."""
    yield from _make_world(public_tmp, "vendor")
