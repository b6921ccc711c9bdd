"""The chaos run at a small, seeded size, and the invariant checker it relies on."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import time
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "chaos.py"


def _load_chaos():
    spec = importlib.util.spec_from_file_location("virtnet_chaos", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


chaos = _load_chaos()


def _world(tmp_path: Path):
    """A sandbox like the chaos run's, with an in-process engine."""
    world = chaos._World(tmp_path, chaos.ChaosConfig())
    world.call("init", "--num-vf", "8", "--sriov-numvfs", "8", "--force")
    world.engine = chaos._make_engine(world)
    return world


def _declare_hotplug(world, name: str) -> str:
    """Declare a hotplug device with a MAC from the world's counter (never an unowned one's)."""
    mac = world.fresh_mac()
    world.specs[name] = {
        "type": "hotplug",
        "ib_device": "mlx5_0",
        "mac": mac,
        "mtu": 1500,
        "max_queues": 4,
        "max_queue_size": 256,
    }
    world.write_spec(name)
    return mac


class TestChaosRun:
    """Random edits, faults, kills, restarts and drift never break an invariant."""

    def test_fifteen_seeded_rounds_converge_without_violations(self, tmp_path):
        # the kill takes the apply's process group, so no orphaned CLI call lands later:
        # that race is timing-dependent here and has its own test (TestOrphanedCall)
        config = chaos.ChaosConfig(
            rounds=15, seed=3, subprocess_fraction=0.15, workdir=tmp_path, kill_group=True
        )
        report = chaos.run_chaos(config)
        assert report.rounds == 15
        assert report.violations == []
        # the run really disturbed things (a schedule of no-ops would prove nothing)
        assert report.events["faults"] > 0
        assert report.events["kill_9"] + report.events["apply_finished_before_kill"] > 0
        assert sum(v for k, v in report.events.items() if k.startswith("spec_")) >= 15
        assert sum(report.cycles.values()) == 15


class TestInvariantChecker:
    """The checker sees each kind of damage it exists to catch."""

    def test_clean_converged_world_has_no_violations(self, tmp_path):
        world = _world(tmp_path)
        _declare_hotplug(world, "web")
        assert world.engine.reconcile().exit_code == 0
        assert chaos.check_invariants(world) == []

    def test_orphaned_recovery_record_is_reported(self, tmp_path):
        world = _world(tmp_path)
        world.emu.store.write_record("MT0000X00000VNETS1D9F0", {"mac": "0c:c4:7a:00:00:09"})
        assert any("orphaned recovery record" in v for v in chaos.check_invariants(world))

    def test_unplugged_unowned_device_is_reported(self, tmp_path):
        world = _world(tmp_path)
        chaos._hotplug_unowned(world)
        (mac,) = world.unowned
        vuid = next(d.vuid for d in world.emu.devices() if d.mac == mac)
        world.call("unplug", "-u", vuid)
        assert f"unowned device {mac} was unplugged" in chaos.check_invariants(world)

    def test_missing_desired_device_is_reported(self, tmp_path):
        world = _world(tmp_path)
        _declare_hotplug(world, "web")
        assert any("web" in v for v in chaos.check_invariants(world))


class TestRecycledVuid:
    """The controller reuses a freed switch port, and with it the VUID, for the next hotplug.

    Found by this chaos run: ownership matched by VUID alone took a device hotplugged by
    hand into a recycled VUID for ours and replaced (unplugged) it.
    """

    def test_device_hotplugged_by_hand_into_a_recycled_vuid_is_never_unplugged(self, tmp_path):
        world = _world(tmp_path)
        mac = _declare_hotplug(world, "web")
        assert world.engine.reconcile().exit_code == 0
        (ours,) = [d for d in world.emu.devices() if d.mac == mac]
        world.call("unplug", "-u", ours.vuid)
        chaos._hotplug_unowned(world)  # takes the lowest free port: the same VUID
        world.engine.reconcile()
        assert chaos.check_invariants(world) == []
        assert [d.mac for d in world.emu.devices() if d.mac == mac] == [mac]


class _LateHotplug:
    """Wraps the backend runner: right after the first observation, an orphaned hotplug lands.

    This is what a `virtnet apply` killed -9 (alone, not its process group) leaves: its
    vendor-CLI child still runs, and its call reaches the controller after the next run
    has already looked.
    """

    def __init__(self, inner, world, mac: str):
        self.inner, self.world, self.mac = inner, world, mac
        self.calls = inner.calls
        self.landed = False

    def __call__(self, argv, *, timeout):
        result = self.inner(argv, timeout=timeout)
        if argv[0] == "query" and not self.landed:
            self.landed = True
            self.world.call(
                "hotplug", "-i", "mlx5_0", "-m", self.mac, "-t", "1500", "-n", "4", "-s", "256"
            )
        return result


class TestOrphanedCall:
    """A hotplug still in flight from a killed run must not make a second device."""

    def test_hotplug_landing_after_the_crash_is_adopted_not_duplicated(self, tmp_path):
        from reconciler.store.journal import Intent

        world = _world(tmp_path)
        # a vendor-like controller: a call whose client died may land within the grace
        world.engine.options = dataclasses.replace(world.engine.options, interrupted_grace_s=30.0)
        mac = _declare_hotplug(world, "web")
        world.engine.journal.begin(Intent("hotplug", "web", mac=mac, device_type="hotplug"))
        cli = world.engine.backend.cli
        cli.runner = _LateHotplug(cli.runner, world, mac)
        first = world.engine.reconcile()
        assert "may still reach the controller" in first.statuses[0].reason
        for _ in range(2):
            world.engine.reconcile()
        assert cli.runner.landed
        assert [d.mac for d in world.emu.devices()].count(mac) == 1
        assert world.engine.journal.interrupted() == []

    def test_an_interrupted_hotplug_that_never_lands_is_made_after_the_grace(self, tmp_path):
        from reconciler.store.journal import Intent

        world = _world(tmp_path)
        world.engine.options = dataclasses.replace(world.engine.options, interrupted_grace_s=30.0)
        mac = _declare_hotplug(world, "web")
        long_ago = time.time() - 60
        world.engine.journal.begin(
            Intent("hotplug", "web", mac=mac, device_type="hotplug", started=long_ago)
        )
        world.engine.reconcile()
        assert [d.mac for d in world.emu.devices()].count(mac) == 1
        assert world.engine.journal.interrupted() == []
