"""Issue 12 item 2: an empty or half-written spec file never means "declare nothing".

A shell's ``gen > state/app.yaml`` truncates first and writes later; a file can vanish
and come back (a checkout); everything can be deleted by mistake. None of these may
unplug a device from under its guest.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from .world import events, wait_for

MACS = [f"0c:c4:7a:00:02:0{i}" for i in range(4)]


def _two_devices_text(world) -> str:
    """The text of one file declaring two devices (what a generator would print)."""
    a = world.spec("app-a", MACS[0], file="tmp-a.yaml").read_text()
    b = world.spec("app-b", MACS[1], file="tmp-b.yaml").read_text()
    (world.state / "tmp-a.yaml").unlink()
    (world.state / "tmp-b.yaml").unlink()
    return a + "---\n" + b


@pytest.mark.xfail(
    strict=True, reason="issue 12 item 2: an empty spec file validates as 'ok: 0 devices'"
)
@pytest.mark.parametrize("content", ["", " \n\n   \n"], ids=["zero-bytes", "whitespace"])
def test_an_empty_spec_file_is_a_load_error_at_line_one(world, content):
    """Issue 12 item 2, contract: ``<file>:1:1: empty spec file``; validate exits 1."""
    (world.state / "app.yaml").write_text(content)
    proc = world.virtnet("validate", "-f", str(world.state))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "app.yaml:1:1: empty spec file" in proc.stdout + proc.stderr


@pytest.mark.xfail(
    strict=True, reason="issue 12 item 2: apply --prune unplugs what a 0-byte file declared"
)
def test_apply_prune_keeps_the_devices_of_a_spec_file_truncated_to_zero_bytes(world):
    """Issue 12 item 2: a 0-byte file is a load error, and a load error blocks every unplug."""
    (world.state / "app.yaml").write_text(_two_devices_text(world))
    assert world.virtnet("apply").returncode == 0
    (world.state / "app.yaml").write_text("")
    mark = world.mark()
    proc = world.virtnet("apply", "--prune")
    assert world.mutations(mark, op="unplug") == [], proc.stdout
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(world.hotplugs()) == 2


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 2: watch unplugs and re-hotplugs the devices of a file being "
    "rewritten non-atomically (truncate, then slow write)",
)
def test_watch_makes_no_mutating_call_when_a_spec_file_is_rewritten_in_place_slowly(world):
    """Issue 12 item 2: a non-atomic rewrite of unchanged content causes zero mutating calls.

    The writer truncates (as ``gen > app.yaml`` does) and writes the same text in two
    pieces, letting the watch run a whole cycle at each stage.
    """
    text = _two_devices_text(world)
    path = world.state / "app.yaml"
    path.write_text(text)
    assert world.virtnet("apply").returncode == 0
    watch = world.watch("--resync", "1")
    mark = world.mark()
    half = len(text) // 2
    with open(path, "w") as fh:  # truncates: the empty file is what the watch sees first
        fh.flush()
        world.cycle_after(watch, time.time())
        for piece in (text[:half], text[half:]):
            fh.write(piece)
            fh.flush()
            world.cycle_after(watch, time.time())
    world.cycle_after(watch, time.time())
    world.stop(watch)
    assert world.mutations(mark) == [], world.output(watch)[-4000:]
    assert len(world.hotplugs()) == 2


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 2: watch prunes on one read; a spec that vanished "
    "for a moment gets its device unplugged and hotplugged again",
)
def test_watch_keeps_a_device_whose_spec_vanished_and_came_back_within_the_settle_window(world):
    """Issue 12 item 2: watch never unplugs a device whose spec it saw within the settle window."""
    path = world.spec("web", MACS[0])
    text = path.read_text()
    assert world.virtnet("apply").returncode == 0
    watch = world.watch("--resync", "1")
    mark = world.mark()
    path.unlink()
    world.cycle_after(watch, time.time())
    path.write_text(text)
    world.cycle_after(watch, time.time())
    world.stop(watch)
    assert world.mutations(mark) == [], world.output(watch)[-4000:]


def _four_owned(world) -> list:
    paths = [world.spec(f"hp-{i}", mac) for i, mac in enumerate(MACS)]
    assert world.virtnet("apply").returncode == 0
    assert len(world.hotplugs()) == 4
    return paths


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 2: no mass-prune guard; one watch cycle unplugs every owned device",
)
def test_one_watch_cycle_unplugs_at_most_half_of_the_owned_devices(world):
    """Issue 12 item 2, contract: watch's ``--max-prune`` defaults to 50 % of owned devices.

    All four spec files are removed at once; the settle window is set to 0 so that the
    guard, not the window, is what holds. Unplugs are attributed to the first cycle that
    saw the removal by the ledger's timestamps.
    """
    paths = _four_owned(world)
    watch = world.watch("--resync", "30", env={"VIRTNET_PRUNE_SETTLE": "0"})
    before = len(events(world.output(watch), "reconcile"))
    mark = world.mark()
    for path in paths:
        path.unlink()
    assert wait_for(lambda: len(events(world.output(watch), "reconcile")) > before, timeout=30)
    first = events(world.output(watch), "reconcile")[before]
    end = datetime.fromisoformat(first["timestamp"]).timestamp()
    world.stop(watch)
    unplugs = [c for c in world.mutations(mark, op="unplug") if c["ts"] <= end]
    assert len(unplugs) <= 2, world.output(watch)[-4000:]
    assert "mass prune" in world.output(watch) + json.dumps(world.status())


@pytest.mark.xfail(strict=True, reason="issue 12 item 2: apply has no --max-prune")
def test_apply_max_prune_unplugs_half_and_blocks_the_rest(world):
    """Issue 12 item 2, contract: ``apply --prune --max-prune 50`` unplugs 2 of 4, exit 3."""
    for path in _four_owned(world):
        path.unlink()
    mark = world.mark()
    proc = world.virtnet("apply", "--prune", "--max-prune", "50")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert len(world.mutations(mark, op="unplug")) == 2
    assert "mass prune" in proc.stdout
    assert len(world.hotplugs()) == 2
