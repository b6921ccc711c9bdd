"""Issue 12 item 6: status and metrics follow outcomes, never plans.

``applied`` is said only for a device the last observation saw with those values; a
cycle that fails rewrites what it cannot vouch for; metrics equal the controller's
call ledger; a failed rollback is named.
"""

from __future__ import annotations

import re
import signal
import urllib.request

import pytest

from .world import events, wait_for

MAC = "0c:c4:7a:00:06:01"
ENOSPC = {"code": -28, "message": "No free PCIe switch port for hotplug"}


def _unplug_by_hand(world, mac: str) -> None:
    (device,) = world.with_mac(mac)
    world.emu("unplug", "-u", device["vuid"])


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 6: with a damaged inventory every apply exits 1, yet status keeps "
    "'applied' for a device unplugged by hand",
)
def test_status_stops_saying_applied_when_the_inventory_is_damaged(world):
    """Issue 12 item 6: a cycle failing on the inventory rewrites the statuses to an error."""
    world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    assert world.spec_state("web").get("state") == "applied"
    inventory = world.data / "inventory.json"
    inventory.write_text("{ damaged")
    _unplug_by_hand(world, MAC)
    proc = world.virtnet("apply")
    assert proc.returncode == 1
    state = world.spec_state("web")
    assert state.get("state") != "applied", state
    assert "inventory" in (state.get("reason") or ""), state


def test_status_stops_saying_applied_when_the_controller_is_unreachable(world):
    """Issue 12 item 6: a cycle failing on the backend rewrites the statuses to an error.

    Passes on today's main: a regression guard for the other failure causes.
    """
    world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    world.emu("stop")
    proc = world.virtnet("apply")
    assert proc.returncode == 1
    state = world.spec_state("web")
    assert state.get("state") != "applied", state


def _metrics(port: int) -> dict[str, float]:
    """Prometheus text format -> {"name{labels}": value} (samples only)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def _sample(samples: dict[str, float], name: str, **labels: str) -> float:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        value
        for key, value in samples.items()
        if key.split("{")[0] == name and all(w in key for w in wanted)
    )


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 6: virtnet_drift_repairs_total counts a repair whose hotplug the "
    "controller refused",
)
def test_metrics_count_only_the_drift_repairs_the_controller_carried_out(vendor):
    """Issue 12 item 6: metrics equal the controller's ledger: count what happened.

    The device is unplugged by hand; every repair hotplug is refused, so the ledger holds
    no repair and the counter must say 0; the one real hotplug is counted once.
    """
    vendor.spec("web", MAC)
    watch = vendor.spawn("watch", "--resync", "1", "--metrics-address", "127.0.0.1:0")
    assert wait_for(lambda: vendor.with_mac(MAC), timeout=60), vendor.output(watch)
    listening = wait_for(lambda: events(vendor.output(watch), "metrics_listening"), timeout=30)
    assert listening, vendor.output(watch)
    port = int(listening[0]["port"])
    vendor.rules([{"op": "hotplug", "action": "refuse", "times": 1000, **ENOSPC}])
    mark = vendor.mark()
    _unplug_by_hand(vendor, MAC)
    assert wait_for(lambda: vendor.fired("refuse"), timeout=60), vendor.output(watch)
    cycles = len(events(vendor.output(watch), "reconcile"))
    assert wait_for(lambda: len(events(vendor.output(watch), "reconcile")) > cycles, timeout=60)
    samples = _metrics(port)
    watch.send_signal(signal.SIGTERM)
    watch.wait(timeout=30)
    repairs_done = len(vendor.mutations(mark, op="hotplug", ok=True))
    hotplugs_done = len(vendor.mutations(0, op="hotplug", ok=True))
    assert repairs_done == 0
    assert _sample(samples, "virtnet_drift_repairs_total") == repairs_done, samples
    assert _sample(samples, "virtnet_changes_applied_total", action="hotplug") == hotplugs_done, (
        samples
    )


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 6: --atomic whose undo fails says 'no changes' and '1 change(s) "
    "undone' while the pruned device is gone",
)
def test_atomic_apply_names_the_device_whose_rollback_failed(vendor):
    """Issue 12 item 6: a failed undo names the device, never claims it undone, exit 1.

    ``--atomic --prune`` unplugs ``old`` and hotplugs ``new``; the new hotplug is refused,
    and so is the rollback's hotplug of ``old``: ``old`` is gone.
    """
    old_mac, new_mac = MAC, "0c:c4:7a:00:06:02"
    old = vendor.spec("old", old_mac)
    assert vendor.virtnet("apply").returncode == 0
    old.unlink()
    vendor.spec("new", new_mac)
    vendor.rules(
        [
            {"op": "hotplug", "match": [new_mac], "action": "refuse", "times": 1, **ENOSPC},
            {"op": "hotplug", "match": [old_mac], "action": "refuse", "times": 1, **ENOSPC},
        ]
    )
    proc = vendor.virtnet("apply", "--atomic", "--prune")
    assert len(vendor.fired("refuse")) == 2, proc.stdout + proc.stderr
    assert vendor.with_mac(old_mac) == []
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "no changes" not in out, out
    assert any(
        re.search(r"\bold\b", line)
        for line in out.splitlines()
        if re.search(r"roll\s?back|undo", line, re.IGNORECASE)
        and re.search(r"fail", line, re.IGNORECASE)
    ), out
