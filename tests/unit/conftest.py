"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """An empty, safely-moded state dir (a test module may define its own, fuller one)."""
    root = tmp_path / "state"
    root.mkdir(mode=0o755)
    return root
