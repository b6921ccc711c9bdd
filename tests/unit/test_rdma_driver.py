"""Specs of the RDMA inventory: pyverbs' absence or an absent RDMA subsystem is a problem line."""

from __future__ import annotations

import builtins
import importlib
import os
import sys

import pytest

from reconciler.drivers.rdma import list_rdma_devices

DEBIAN_DIST = "/usr/lib/python3/dist-packages"


@pytest.fixture
def pyverbs(monkeypatch):
    """Debian's python3-pyverbs, reached by path only inside this test (same 3.11 ABI)."""
    try:
        return importlib.import_module("pyverbs.device")
    except ImportError:
        pass
    if not os.path.isdir(os.path.join(DEBIAN_DIST, "pyverbs")):
        pytest.skip("pyverbs not installed (apt-get install python3-pyverbs)")
    # appended, not prepended: Debian's older copies of our dependencies must not win
    monkeypatch.setattr(sys, "path", [*sys.path, DEBIAN_DIST])
    try:
        return importlib.import_module("pyverbs.device")
    except ImportError as e:
        pytest.skip(f"pyverbs cannot be loaded by this interpreter: {e}")


class TestWithoutPyverbs:
    """An import failure is reported with the package to install."""

    def test_missing_module_is_a_problem_not_an_exception(self, monkeypatch):
        real_import = builtins.__import__

        def no_pyverbs(name, *args, **kwargs):
            if name.startswith("pyverbs"):
                raise ImportError("No module named 'pyverbs'")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_pyverbs)
        inventory = list_rdma_devices()
        assert inventory.devices is None
        assert inventory.problem == "pyverbs not installed (apt-get install python3-pyverbs)"


class TestWithPyverbs:
    """With the real pyverbs, a machine without RDMA hardware is reported cleanly."""

    def test_absent_subsystem_is_reported(self, pyverbs, tmp_path):
        inventory = list_rdma_devices(sysfs=str(tmp_path / "infiniband"))
        assert inventory.devices is None
        assert inventory.problem == f"no RDMA subsystem: {tmp_path / 'infiniband'} is missing"

    def test_this_machine_gives_devices_or_a_problem(self, pyverbs):
        inventory = list_rdma_devices()
        if os.path.isdir("/sys/class/infiniband"):
            assert inventory.devices is not None or "cannot list" in inventory.problem
        else:
            assert inventory.devices is None
            assert "no RDMA subsystem" in inventory.problem

    def test_pyverbs_failure_with_a_present_sysfs_dir_is_a_problem(self, pyverbs, tmp_path):
        """An empty sysfs class dir: libibverbs finds no device and pyverbs raises."""
        (tmp_path / "infiniband").mkdir()
        inventory = list_rdma_devices(sysfs=str(tmp_path / "infiniband"))
        if inventory.devices is None:
            assert inventory.problem.startswith("cannot list RDMA devices")
        else:
            assert all(isinstance(name, str) for name in inventory.devices)
