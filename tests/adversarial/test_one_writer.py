"""Issue 18: one controller, one writer, whatever ``VIRTNET_DATA_DIR`` says.

Two processes that differ only in their data dir are two writers of one controller;
the lock and the inventory belong to the controller, not to a data dir.
"""

from __future__ import annotations

import os
import stat

import pytest

from .world import wait_for

MAC = "0c:c4:7a:00:18:01"


@pytest.mark.xfail(
    strict=True,
    reason="issue 18: a second data dir for one controller silently adopts the first one's "
    "device and then prunes it",
)
def test_a_second_data_dir_for_one_controller_is_refused(world):
    """Issue 18: ``VIRTNET_DATA_DIR=B`` after A owns the controller: one line, exit 1."""
    path = world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    other = {"VIRTNET_DATA_DIR": str(world.base / "data-b")}
    mark = world.mark()
    again = world.virtnet("apply", env=other)
    assert again.returncode == 1, again.stdout + again.stderr
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    path.unlink()
    prune = world.virtnet("apply", "--prune", env=other)
    assert prune.returncode == 1, prune.stdout + prune.stderr
    assert world.mutations(mark) == []
    assert len(world.with_mac(MAC)) == 1


@pytest.mark.xfail(
    strict=True,
    reason="issue 18: the data dir does not record its controller (no controller.json) and "
    "is used with another controller",
)
def test_a_data_dir_refuses_a_controller_other_than_its_own(world):
    """Issue 18, contract: the data dir records its controller and refuses another, exit 1."""
    world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    assert (world.data / "controller.json").exists()
    other_root = world.base / "emu-2"
    other = {
        "VIRTNET_EMULATOR_ROOT": str(other_root),
        "VIRTNET_RECOVERY_DIR": str(other_root / "recovery"),
        "VIRTNET_CONF": str(other_root / "virtnet.conf"),
    }
    world.emu_at(other_root, "init", "--num-pf", "1", "--num-vf", "2", "--switch-ports", "8")
    proc = world.virtnet("apply", env=other)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert [c for c in world.ledger_at(other_root) if c["op"] == "hotplug"] == []


def _slow_first_hotplug(vendor) -> None:
    vendor.rules([{"op": "hotplug", "action": "delay", "seconds": 4, "times": 1}])


@pytest.mark.xfail(
    strict=True,
    reason="issue 18: the lock is per data dir, so two data dirs hotplug one spec twice",
)
def test_two_data_dirs_never_both_hotplug_one_spec(vendor):
    """Issue 18: an apply with another data dir cannot mutate while the first is mid-call.

    A's hotplug is slowed by the stand-in; B (same spec, other data dir) starts while
    A's call is in flight. Whatever B does (wait, or refuse), the controller must end
    with one device holding the MAC.
    """
    vendor.spec("web", MAC)
    _slow_first_hotplug(vendor)
    first = vendor.spawn("apply")
    assert wait_for(lambda: vendor.fired("delay"), timeout=60), vendor.output(first)
    vendor.virtnet("apply", env={"VIRTNET_DATA_DIR": str(vendor.base / "data-b")})
    first.wait(timeout=120)
    assert len(vendor.with_mac(MAC)) == 1, vendor.output(first)


@pytest.mark.xfail(
    strict=True,
    reason="issue 18: no controller lock under VIRTNET_RUN_DIR, and a waiter says nothing "
    "about who holds the lock",
)
def test_a_second_writer_waits_on_the_controller_lock_and_names_its_holder(vendor):
    """Issue 18, contract: ``$VIRTNET_RUN_DIR/controller.lock`` (0600), and a waiter prints
    at once ``waiting for the lock held by pid N``."""
    vendor.spec("web", MAC)
    _slow_first_hotplug(vendor)
    first = vendor.spawn("apply")
    assert wait_for(lambda: vendor.fired("delay"), timeout=60), vendor.output(first)
    lock = vendor.run_dir / "controller.lock"
    assert lock.exists()
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600
    second = vendor.virtnet("apply")
    first.wait(timeout=120)
    assert f"waiting for the lock held by pid {first.pid}" in second.stderr, second.stderr
