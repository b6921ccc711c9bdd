"""Issue 17, "Safety of what a pushed commit can do": adoption, guest-bound unplug, pause.

Whoever can push to the synced branch controls the DPU's host-facing devices; a commit
must not silently take over a device someone made by hand, nor hot-remove a NIC from
under a running host, and an operator must be able to hold all mutating work.
"""

from __future__ import annotations

import time

import pytest

MAC = "0c:c4:7a:00:17:01"


def _bind_guest(world, mac: str) -> str:
    (device,) = world.with_mac(mac)
    world.emu("guest", "bind", "-u", device["vuid"])
    return device["vuid"]


@pytest.mark.xfail(
    strict=True,
    reason="issue 17: a spec naming the MAC of a hand-made device adopts it silently "
    "('no changes'); removing the spec then unplugs it",
)
def test_a_spec_naming_the_mac_of_a_hand_made_device_does_not_adopt_it(world):
    """Issue 17 (adoption is silent): without ``adopt: true`` it is a conflict, blocked.

    Contract: diff exits 2, apply 3 with a reason naming the device's VUID and
    ``adopt: true``; and the device stays ours-not, so a later prune leaves it alone.
    """
    vuid = world.hand_hotplug(MAC)
    path = world.spec("web", MAC)
    diff = world.virtnet("diff")
    assert diff.returncode == 2, diff.stdout
    apply = world.virtnet("apply")
    assert apply.returncode == 3, apply.stdout + apply.stderr
    assert vuid in apply.stdout
    assert "adopt: true" in apply.stdout
    path.unlink()
    world.virtnet("apply", "--prune")
    assert [d["vuid"] for d in world.with_mac(MAC)] == [vuid]


@pytest.mark.xfail(strict=True, reason="issue 17: there is no 'adopt: true' spec field")
def test_adopt_true_takes_a_hand_made_device_over_explicitly(world):
    """Issue 17, contract: ``adopt: true`` adopts (no hotplug); the device is then owned."""
    world.hand_hotplug(MAC)
    path = world.spec("web", MAC, adopt=True)
    mark = world.mark()
    apply = world.virtnet("apply")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert world.mutations(mark, op="hotplug") == []
    path.unlink()
    prune = world.virtnet("apply", "--prune")
    assert prune.returncode == 0, prune.stdout + prune.stderr
    assert len(world.mutations(mark, op="unplug")) == 1
    assert world.with_mac(MAC) == []


@pytest.mark.xfail(
    strict=True,
    reason="issue 17: prune unplugs a hotplug device whose guest driver is bound",
)
def test_prune_does_not_unplug_a_device_whose_guest_driver_is_bound(world):
    """Issue 17 (unplug ignores the guest): blocked with the reason, exit 3."""
    path = world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    _bind_guest(world, MAC)
    path.unlink()
    mark = world.mark()
    proc = world.virtnet("apply", "--prune")
    assert world.mutations(mark, op="unplug") == [], proc.stdout
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "guest driver bound" in proc.stdout


@pytest.mark.xfail(strict=True, reason="issue 17: apply has no --force-unplug")
def test_force_unplug_overrides_the_guest_bound_block(world):
    """Issue 17, contract: ``apply --prune --force-unplug`` unplugs a guest-bound device."""
    path = world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    _bind_guest(world, MAC)
    path.unlink()
    proc = world.virtnet("apply", "--prune", "--force-unplug")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert world.with_mac(MAC) == []


def test_replace_does_not_unplug_a_device_whose_guest_driver_is_bound(world):
    """Issue 17, contract: the unplug of a replace is guest-aware too (blocked, exit 3).

    Passes on today's main (replace already checks the guest): a regression guard for the
    prune path's fix.
    """
    world.spec("web", MAC, max_queues=4)
    assert world.virtnet("apply").returncode == 0
    vuid = _bind_guest(world, MAC)
    world.spec("web", MAC, max_queues=8)  # immutable after hotplug: needs a replace
    mark = world.mark()
    proc = world.virtnet("apply", "--allow-replace")
    assert world.mutations(mark, op="unplug") == [], proc.stdout
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "guest driver bound" in proc.stdout
    assert [d["vuid"] for d in world.with_mac(MAC)] == [vuid]


@pytest.mark.xfail(
    strict=True, reason="issue 17: watch prunes a device whose guest driver is bound"
)
def test_watch_never_unplugs_a_device_whose_guest_driver_is_bound(world):
    """Issue 17, contract: watch never forces. The settle window is 0 so only the guest holds."""
    path = world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    _bind_guest(world, MAC)
    watch = world.watch("--resync", "1", env={"VIRTNET_PRUNE_SETTLE": "0"})
    path.unlink()
    world.cycle_after(watch, time.time())
    world.cycle_after(watch, time.time())
    world.stop(watch)
    assert len(world.with_mac(MAC)) == 1, world.output(watch)[-3000:]


@pytest.mark.xfail(strict=True, reason="issue 17: there is no 'virtnet pause'")
def test_pause_holds_every_mutating_call_of_apply_and_status_says_so(world):
    """Issue 17, contract: paused, apply exits 3 ("paused: TEXT"), no mutating call;
    diff still works; status says paused; resume lets the change through."""
    world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    pause = world.virtnet("pause", "--reason", "maintenance window")
    assert pause.returncode == 0, pause.stdout + pause.stderr
    world.spec("web", MAC, mtu=9000)
    mark = world.mark()
    apply = world.virtnet("apply")
    assert world.mutations(mark) == [], apply.stdout
    assert apply.returncode == 3, apply.stdout + apply.stderr
    assert "paused: maintenance window" in apply.stdout
    assert world.virtnet("diff").returncode == 2
    assert "paused" in world.virtnet("status").stdout
    assert world.virtnet("resume").returncode == 0
    assert world.virtnet("apply").returncode == 0
    assert [d["mtu"] for d in world.with_mac(MAC)] == ["9000"]


@pytest.mark.xfail(strict=True, reason="issue 17: there is no 'virtnet pause'")
def test_watch_makes_no_mutating_call_while_paused(world):
    """Issue 17, contract: a paused node's watch keeps running but changes nothing."""
    world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    assert world.virtnet("pause", "--reason", "hold").returncode == 0
    watch = world.watch("--resync", "1")
    mark = world.mark()
    world.spec("web", MAC, mtu=9000)
    world.cycle_after(watch, time.time())
    world.stop(watch)
    assert world.mutations(mark) == [], world.output(watch)[-3000:]
