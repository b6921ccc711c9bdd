"""`virtnet diff` / `virtnet apply` end to end, through `virtnet-emu` as a real subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest


def _macs(devices):
    return [d["mac"].lower() for d in devices if "mac" in d]


class TestIdempotency:
    """After a successful apply, diff is empty and a second apply makes no mutating call."""

    def test_second_apply_issues_zero_mutating_calls(self, sandbox):
        sandbox.copy_example("quickstart")
        sandbox.virtnet("apply", check=0)
        sandbox.clear_calls()
        sandbox.virtnet("apply", check=0)
        assert sandbox.mutating_calls() == 0
        sandbox.virtnet("diff", check=0)

    def test_first_apply_makes_one_call_per_device_change(self, sandbox):
        for i in range(3):
            sandbox.hotplug(f"hp-{i}", f"0c:c4:7a:00:00:1{i}")
        sandbox.virtnet("apply", check=0)
        counts = sandbox.emu_json("calls")
        assert counts.get("hotplug") == 3
        assert counts.get("unplug", 0) == 0

    def test_diff_json_lists_changes_and_exits_2(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:21")
        proc = sandbox.virtnet("diff", "-o", "json", check=2)
        changes = json.loads(proc.stdout)["changes"]
        assert [(c["action"], c["name"], c["status"]) for c in changes] == [
            ("hotplug", "web", "ready")
        ]


class TestDrift:
    """Changes made behind the reconciler's back are repaired; what it does not own is left."""

    def test_unplugged_device_is_hotplugged_again(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:31")
        sandbox.virtnet("apply", check=0)
        vuid = sandbox.device_by_mac("0c:c4:7a:00:00:31")["vuid"]
        sandbox.emu("unplug", "-u", vuid)
        sandbox.virtnet("diff", check=2)
        sandbox.clear_calls()
        sandbox.virtnet("apply", check=0)
        assert sandbox.mutating_calls() == 1 == sandbox.emu_json("calls")["hotplug"]
        assert sandbox.device_by_mac("0c:c4:7a:00:00:31")["function_type"] == "hotplug PF"
        sandbox.virtnet("diff", check=0)

    def test_modified_mtu_is_put_back(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:32", mtu=1500)
        sandbox.virtnet("apply", check=0)
        vuid = sandbox.device_by_mac("0c:c4:7a:00:00:32")["vuid"]
        sandbox.emu("modify", "-u", vuid, "device", "-t", "9000")
        sandbox.virtnet("apply", check=0)
        assert int(sandbox.device_by_mac("0c:c4:7a:00:00:32")["mtu"]) == 1500

    def test_unowned_devices_are_never_unplugged(self, sandbox):
        sandbox.emu(
            "hotplug",
            "-i",
            "mlx5_0",
            "-m",
            "0C:C4:7A:00:00:99",
            "-t",
            "1500",
            "-n",
            "2",
            "-s",
            "256",
        )
        sandbox.hotplug("web", "0c:c4:7a:00:00:33")
        sandbox.virtnet("apply", "--prune", check=0)
        proc = sandbox.virtnet("diff", "--prune", "-o", "json", check=0)
        assert "0c:c4:7a:00:00:99" in _macs(sandbox.hotplugs())
        assert len(json.loads(proc.stdout)["unmanaged"]) >= 1

    def test_existing_device_with_the_spec_mac_is_adopted_not_duplicated(self, sandbox):
        sandbox.emu(
            "hotplug",
            "-i",
            "mlx5_0",
            "-m",
            "0C:C4:7A:00:00:34",
            "-t",
            "1500",
            "-n",
            "4",
            "-s",
            "256",
        )
        sandbox.hotplug("web", "0c:c4:7a:00:00:34")
        sandbox.clear_calls()
        sandbox.virtnet("apply", check=0)
        assert sandbox.emu_json("calls").get("hotplug", 0) == 0
        assert _macs(sandbox.hotplugs()).count("0c:c4:7a:00:00:34") == 1


class TestPrune:
    """Pruning only removes owned hotplug devices, and never on a partial read."""

    def test_removed_spec_is_unplugged_with_prune(self, sandbox):
        sandbox.hotplug("a", "0c:c4:7a:00:00:41")
        path = sandbox.hotplug("b", "0c:c4:7a:00:00:42")
        sandbox.virtnet("apply", check=0)
        path.unlink()
        sandbox.virtnet("apply", check=0)  # no --prune: b stays
        assert "0c:c4:7a:00:00:42" in _macs(sandbox.hotplugs())
        sandbox.virtnet("apply", "--prune", check=0)
        assert "0c:c4:7a:00:00:42" not in _macs(sandbox.hotplugs())
        sandbox.virtnet("diff", "--prune", check=0)

    def test_invalid_file_prevents_all_unplugs_but_valid_specs_still_apply(self, sandbox):
        sandbox.hotplug("a", "0c:c4:7a:00:00:43")
        path = sandbox.hotplug("b", "0c:c4:7a:00:00:44")
        sandbox.virtnet("apply", check=0)
        path.unlink()
        sandbox.write(
            "broken.yaml",
            "apiVersion: virtnet/v1\nkind: VirtioNetDevice\n"
            "metadata: {name: c}\nspec: {type: hotplug, mtu: [oops\n",
        )
        sandbox.hotplug("d", "0c:c4:7a:00:00:45")
        proc = sandbox.virtnet("apply", "--prune", check=1)
        assert "broken.yaml" in proc.stderr
        macs = _macs(sandbox.hotplugs())
        assert "0c:c4:7a:00:00:44" in macs  # not pruned on a partial read
        assert "0c:c4:7a:00:00:45" in macs  # the valid new spec was applied


class TestGuestAndBusy:
    """Changes that need the guest to let go wait for it; busy devices are retried."""

    def test_modify_is_blocked_while_guest_driver_bound_then_goes_through(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:51", mtu=1500)
        sandbox.virtnet("apply", check=0)
        vuid = sandbox.device_by_mac("0c:c4:7a:00:00:51")["vuid"]
        sandbox.emu("guest", "bind", "-u", vuid)
        sandbox.hotplug("web", "0c:c4:7a:00:00:51", mtu=9000)
        sandbox.clear_calls()
        proc = sandbox.virtnet("apply", check=3)
        assert "guest driver bound" in proc.stdout
        assert sandbox.mutating_calls() == 0
        status = json.loads(sandbox.virtnet("status", "-o", "json", check=0).stdout)
        assert status["specs"]["web"]["state"] == "blocked"
        sandbox.emu("guest", "unbind", "-u", vuid)
        sandbox.virtnet("apply", check=0)
        assert int(sandbox.device_by_mac("0c:c4:7a:00:00:51")["mtu"]) == 9000

    def test_migrating_device_is_reported_then_converges(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:52", mtu=1500)
        sandbox.virtnet("apply", check=0)
        vuid = sandbox.device_by_mac("0c:c4:7a:00:00:52")["vuid"]
        sandbox.emu("debug", "migrating", "-u", vuid, "on")
        sandbox.hotplug("web", "0c:c4:7a:00:00:52", mtu=4000)
        proc = sandbox.virtnet("apply", check=3)
        assert "migrating" in proc.stdout
        sandbox.emu("debug", "migrating", "-u", vuid, "off")
        sandbox.virtnet("apply", check=0)
        assert int(sandbox.device_by_mac("0c:c4:7a:00:00:52")["mtu"]) == 4000


class TestFirmwareAndFaults:
    """Limits fail before any call; crashes and failures leave nothing half-done."""

    def test_firmware_limits_fail_before_any_call(self, sandbox):
        sandbox.emu("init", "--switch-ports", "2", "--force")
        for i in range(3):
            sandbox.hotplug(f"hp-{i}", f"0c:c4:7a:00:00:6{i}")
        sandbox.clear_calls()
        proc = sandbox.virtnet("apply", check=1)
        assert "PCI_SWITCH_EMULATION_NUM_PORT" in proc.stderr
        assert sandbox.mutating_calls() == 0
        assert sandbox.hotplugs() == []

    def test_atomic_rolls_back_what_this_run_changed(self, sandbox):
        for i in range(4):
            sandbox.hotplug(f"hp-{i}", f"0c:c4:7a:00:00:7{i}")
        sandbox.emu("fault", "set", "--fail-nth", "3", "--ops", "hotplug")
        proc = sandbox.virtnet("apply", "--atomic", check=1)
        assert "rolled back (2 change(s) undone)" in proc.stderr
        assert "Apply: no changes" in proc.stdout  # nothing this run did is left
        sandbox.emu("fault", "clear")
        assert sandbox.hotplugs() == []
        inventory = json.loads((sandbox.root / "emu" / "reconciler" / "inventory.json").read_text())
        assert inventory["owned"] == {}  # undone hotplugs are not ours any more
        sandbox.virtnet("apply", check=0)
        assert len(sandbox.hotplugs()) == 4

    @pytest.mark.slow
    def test_kill_9_mid_apply_then_rerun_converges_without_leaks(self, sandbox):
        for i in range(12):
            sandbox.hotplug(f"hp-{i:02d}", f"0c:c4:7a:00:01:{i:02x}")
        sandbox.emu("fault", "set", "--latency-ms", "150")
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply"],
            env=sandbox.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(sandbox.hotplugs()) < 4:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        sandbox.emu("fault", "clear")
        sandbox.virtnet("apply", check=0)
        hotplugs = sandbox.hotplugs()
        macs = _macs(hotplugs)
        assert len(macs) == 12 == len(set(macs))  # no duplicate hotplug
        sfs = [d["sf_num"] for d in hotplugs]
        assert len(set(sfs)) == 12  # one SF per device, none leaked
        records = list((sandbox.root / "emu" / "recovery").iterdir())
        assert len(records) == len(sandbox.devices())  # no orphaned recovery record
        sandbox.virtnet("diff", check=0)


class TestFleet:
    """A VirtioNetDeviceSet of 100 VFs converges and stays converged."""

    def test_vf_fleet_apply_then_diff_is_empty(self, sandbox):
        sandbox.copy_example("vf-fleet")
        sandbox.virtnet("apply", check=0)
        sandbox.virtnet("diff", check=0)


class TestUnreachableController:
    """Status never lies: while the controller cannot be asked, specs read as errors."""

    def test_stopped_controller_turns_statuses_to_error_until_it_is_back(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:81")
        sandbox.virtnet("apply", check=0)
        sandbox.emu("stop")
        proc = sandbox.virtnet("apply", check=1)
        assert "Can't connect" in proc.stderr
        status = json.loads(sandbox.virtnet("status", "-o", "json", check=0).stdout)
        web = status["specs"]["web"]
        assert (web["state"], web["temporary"]) == ("error", True)
        sandbox.emu("start")
        sandbox.virtnet("apply", check=0)
        status = json.loads(sandbox.virtnet("status", "-o", "json", check=0).stdout)
        assert status["specs"]["web"]["state"] == "applied"


class TestDryRun:
    """`apply --dry-run` plans and prints, and changes nothing."""

    def test_dry_run_prints_the_plan_and_makes_no_mutating_call(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:91")
        sandbox.clear_calls()
        proc = sandbox.virtnet("apply", "--dry-run", check=0)
        assert "+ hotplug web" in proc.stdout
        assert sandbox.mutating_calls() == 0
        assert sandbox.hotplugs() == []
        status = json.loads(sandbox.virtnet("status", "-o", "json", check=0).stdout)
        assert status["specs"]["web"]["state"] == "pending"


class TestLiveUpdate:
    """During a live update hotplug is refused (EBUSY); the apply backs off and gets through."""

    def test_hotplug_during_a_live_update_is_retried_until_it_ends(self, sandbox):
        # long enough for a loaded machine's `virtnet apply` start-up, short enough for the
        # apply's busy retries (5 attempts over ~3.75 s) to outlast it
        sandbox.env["VIRTNET_EMULATOR_UPDATE_SECONDS"] = "3.0"
        sandbox.hotplug("web", "0c:c4:7a:00:00:a1")
        # the v24.07 controller refuses hotplug during an update (the page's allows it)
        sandbox.emu("mode", "set", "update_hotplug=refuse")
        sandbox.emu("update", "-s")
        assert sandbox.emu_json("update", "-t")["status"] == "active"
        sandbox.virtnet("apply", check=0)
        assert sandbox.device_by_mac("0c:c4:7a:00:00:a1")["function_type"] == "hotplug PF"
        calls = sandbox.emu_json("calls")
        # refused at least once while the window was open, then accepted once
        assert calls["hotplug"] >= 2
        assert len(sandbox.hotplugs()) == 1
