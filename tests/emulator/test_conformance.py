"""Conformance of ``virtnet-emu`` with docs/vendor-cli.md, driven as a subprocess."""

from __future__ import annotations

import errno
import subprocess
import sys

from reconciler.keys import Fw

MAC = "0c:c4:7a:ff:22:93"
RECORD_KEYS_PF = {
    "port_ib_dev",
    "pf_id",
    "function_type",
    "bdf_raw",
    "device_type",
    "mac",
    "pf_num",
    "sf_num",
    "mq",
}


def _hotplug_argv(mac: str, *extra: str) -> list[str]:
    """The vendor's hotplug argv with the required options (reference 3.1)."""
    return ["hotplug", "-i", "mlx5_0", "-m", mac, "-t", "1500", "-n", "4", "-s", "256", *extra]


class TestHotplug:
    """hotplug creates a PF on a switch port with an SF, a representor and a recovery file."""

    def test_hotplug_returns_vendor_fields_and_writes_record(self, emu):
        out = emu.hotplug("0C:C4:7A:FF:22:93")
        assert out["errno"] == 0
        assert out["errstr"] == "Success"
        assert out["id"] == 2  # after the two static PFs of the default profile
        assert out["sf_rep_net_device"] == "en3f0pf0sf2000"
        rec = emu.recovery()[out["vuid"]]
        assert set(rec) == RECORD_KEYS_PF
        assert rec["mac"] == MAC
        assert rec["device_type"] == "hotplug"
        assert rec["mq"] == 4

    def test_list_after_hotplug_shows_device_with_representor(self, emu):
        vuid = emu.hotplug(MAC)["vuid"]
        listing = emu.json("list")
        dev = next(d for d in listing["devices"] if d["vuid"] == vuid)
        assert dev["function_type"] == "hotplug PF"
        assert dev["sf_rep_net_device"] == "en3f0pf0sf2000"
        assert dev["mac"] == MAC.upper()
        assert dev["num_queues"] == "4"
        assert listing["controller"]["max_hotplug_devices"] == "16"

    def test_pf_id_freed_by_unplug_is_reused(self, emu):
        first = emu.hotplug(MAC)["id"]
        emu.hotplug("0c:c4:7a:ff:22:94")
        assert emu.run("unplug", "-p", str(first)).returncode == 0
        assert emu.hotplug("0c:c4:7a:ff:22:95")["id"] == first

    def test_pinned_sf_in_use_is_eexist_and_below_1000_is_einval(self, emu):
        emu.hotplug(MAC, "-u", "2500")
        assert emu.error(*_hotplug_argv(MAC, "-u", "2500"))["code"] == -errno.EEXIST
        assert emu.error(*_hotplug_argv(MAC, "-u", "999"))["code"] == -errno.EINVAL

    def test_mac_is_checked_for_length_only(self, emu):
        assert emu.hotplug("zz:zz:zz:zz:zz:zz")["mac"] == "ZZ:ZZ:ZZ:ZZ:ZZ:ZZ"
        err = emu.error(
            "hotplug", "-i", "mlx5_0", "-m", "0c:c4", "-t", "1500", "-n", "4", "-s", "256"
        )
        assert err["code"] == -errno.EINVAL

    def test_queues_above_msix_are_rejected(self, emu):
        err = emu.error("hotplug", "-i", "mlx5_0", "-m", MAC, "-t", "1500", "-n", "65", "-s", "256")
        assert err["code"] == -errno.EINVAL


class TestLimits:
    """Switch ports, PF_TOTAL_SF and VF counts come from the firmware profile."""

    def test_switch_ports_exhausted_is_enospc(self, emu):
        emu.run("init", "--switch-ports", "2")
        emu.hotplug(MAC)
        emu.hotplug("0c:c4:7a:ff:22:94")
        err = emu.error("hotplug", "-i", "mlx5_0", "-m", MAC, "-t", "1500", "-n", "4", "-s", "256")
        assert err["code"] == -errno.ENOSPC

    def test_sf_budget_counts_every_device_on_the_port(self, emu):
        # 2 static PFs + 2 VFs use 4 of 5 SFs on port 0: one hotplug fits, not two
        emu.run("init", "--num-vf", "1", "--total-sf", "5")
        emu.hotplug(MAC)
        err = emu.error("hotplug", "-i", "mlx5_0", "-m", MAC, "-t", "1500", "-n", "4", "-s", "256")
        assert err["code"] == -errno.ENOSPC

    def test_vf_count_follows_host_sriov_numvfs(self, emu):
        emu.run("init", "--num-vf", "8", "--sriov-numvfs", "3")
        vfs = [d for d in emu.json("list")["devices"] if d["function_type"] == "VF"]
        assert len(vfs) == 6
        assert {d["sf_num"] for d in vfs} == set(range(3000, 3006))
        assert emu.error("host", "sriov", "-p", "0", "--numvfs", "9")["code"] == -errno.EINVAL

    def test_host_destroying_vfs_deletes_their_records(self, emu):
        emu.run("init", "--num-vf", "4")
        assert emu.run("host", "sriov", "-p", "0", "--numvfs", "1").returncode == 0
        recs = emu.recovery()
        assert sum(1 for r in recs.values() if r["function_type"] == "vf" and r["pf_id"] == 0) == 1
        assert emu.error("query", "-p", "0", "-v", "2")["code"] == -errno.ENODEV


class TestErrors:
    """Refusals follow the errno table of docs/vendor-cli.md."""

    def test_unplug_of_static_pf_and_vf_is_eperm(self, emu):
        assert emu.error("unplug", "-p", "0")["code"] == -errno.EPERM

    def test_unknown_device_is_enodev(self, emu):
        assert emu.error("query", "-u", "NOPE")["code"] == -errno.ENODEV

    def test_msix_modify_on_pf_is_eopnotsupp(self, emu):
        assert emu.error("modify", "-p", "0", "device", "-n", "8")["code"] == -errno.EOPNOTSUPP

    def test_usage_error_exits_2(self, emu):
        assert emu.run("hotplug", "-i", "mlx5_0").returncode == 2


class TestModifyAndGuest:
    """Modify applies at once when unbound; pending until unbind while the guest is bound."""

    def test_vf_msix_modify_sets_queues_and_record(self, emu):
        assert emu.run("modify", "-p", "0", "-v", "3", "device", "-n", "8").returncode == 0
        dev = emu.json("query", "-p", "0", "-v", "3", "-b")["devices"][0]
        assert dev["num_msix"] == "8"
        assert dev["num_queues"] == "8"
        assert emu.recovery()[dev["vuid"]]["mq"] == 8

    def test_modify_is_pending_while_guest_driver_bound(self, emu):
        assert emu.run("guest", "bind", "-p", "0", "-v", "1").returncode == 0
        assert (
            emu.run("modify", "-p", "0", "-v", "1", "device", "-m", MAC, "-t", "9000").returncode
            == 0
        )
        dev = emu.json("query", "-p", "0", "-v", "1", "-b")["devices"][0]
        assert dev["dev_status"]["value"] == "0xf"
        assert dev["mtu"] == "1500"
        emu.run("guest", "unbind", "-p", "0", "-v", "1")
        dev = emu.json("query", "-p", "0", "-v", "1", "-b")["devices"][0]
        assert dev["dev_status"]["value"] == "0x0"
        assert (dev["mtu"], dev["mac"]) == ("9000", MAC.upper())


class TestRestart:
    """restart and stop+start rebuild the controller from recovery records only."""

    def test_restart_keeps_recorded_fields_and_drops_the_rest(self, emu):
        vuid = emu.hotplug(MAC)["vuid"]
        emu.run("modify", "-u", vuid, "device", "-t", "9000", "-m", "0c:c4:7a:ff:22:aa")
        assert emu.run("restart").returncode == 0
        dev = emu.json("query", "-u", vuid, "-b")["devices"][0]
        assert dev["mac"] == "0C:C4:7A:FF:22:AA"
        assert dev["mtu"] == "1500"

    def test_hotplug_pf_without_record_is_gone_after_restart(self, emu):
        vuid = emu.hotplug(MAC)["vuid"]
        (emu.root / "recovery" / vuid).unlink()
        emu.run("stop")
        proc = emu.run("list")
        assert proc.returncode == 1
        assert "Can't connect" in proc.stderr
        emu.run("start")
        assert emu.error("query", "-u", vuid)["code"] == -errno.ENODEV

    def test_unplug_removes_the_record(self, emu):
        vuid = emu.hotplug(MAC)["vuid"]
        emu.run("unplug", "-u", vuid)
        assert vuid not in emu.recovery()


class TestConf:
    """virtnet.conf is read at init/start/restart: MAC bases, LAG, SF pool."""

    def test_mac_bases_and_lag(self, emu):
        emu.root.mkdir(parents=True)
        (emu.root / "virtnet.conf").write_text(
            '{"is_lag": 1, "ib_dev_lag": "mlx5_bond_0", "sf_pool_percent": 50,'
            ' "static_pf": {"mac_base": "11:22:33:44:55:00"},'
            ' "vf": {"mac_base": "cc:48:15:ff:00:00", "vfs_per_pf": 100}}'
        )
        listing = emu.json("list")
        by_id = {(d["pf_id"], d.get("vf_id")): d for d in listing["devices"]}
        assert by_id[(1, None)]["mac"] == "11:22:33:44:55:01"
        assert by_id[(1, 2)]["mac"] == "CC:48:15:FF:00:66"  # base + 1*100 + 2
        assert listing["controller"]["sf_pool_size"] == 256
        assert (
            emu.error("hotplug", "-i", "mlx5_0", "-m", MAC, "-t", "1500", "-n", "4", "-s", "256")[
                "code"
            ]
            == -errno.EINVAL
        )
        emu.json("hotplug", "-i", "mlx5_bond_0", "-m", MAC, "-t", "1500", "-n", "4", "-s", "256")


class TestLiveUpdate:
    """update -s opens a window (page: commands keep working); debug pins a device migrating."""

    def test_update_window_blocks_hotplug_in_the_v2407_mode(self, emu):
        emu.run("mode", "set", "update_hotplug=refuse")
        env = {"VIRTNET_EMULATOR_UPDATE_SECONDS": "30"}
        assert emu.run("update", "-s", **env).returncode == 0
        assert emu.json("update", "-t")["status"] == "active"
        assert emu.error(*_hotplug_argv(MAC))["code"] == -errno.EBUSY

    def test_update_finishes_with_success(self, emu):
        emu.run("update", "-s", VIRTNET_EMULATOR_UPDATE_SECONDS="0")
        status = emu.json("update", "-t")
        assert status["status"] == "inactive"
        assert status["last live update status"] == "success"

    def test_migrating_device_shows_identity_only_and_refuses_modify(self, emu):
        vuid = emu.json("query", "-p", "0", "-b")["devices"][0]["vuid"]
        emu.run("debug", "migrating", "-u", vuid, "on")
        dev = emu.json("query", "-u", vuid)["devices"][0]
        assert dev == {
            "pf_id": 0,
            "function_type": "static PF",
            "vuid": vuid,
            "status": "migrating",
        }
        assert emu.error("modify", "-u", vuid, "device", "-t", "9000")["code"] == -errno.EBUSY


class TestFaults:
    """Injected faults are persisted, deterministic and visible in the calls ledger."""

    def test_fail_nth_fails_exactly_that_call(self, emu):
        emu.run("fault", "set", "--fail-nth", "2")
        emu.hotplug(MAC)
        err = emu.error("hotplug", "-i", "mlx5_0", "-m", MAC, "-t", "1500", "-n", "4", "-s", "256")
        assert err == {"code": -errno.EIO, "message": "injected fault"}
        emu.hotplug(MAC)
        assert emu.json("calls")["hotplug"] == 3

    def test_crash_after_work_recovers_from_records(self, emu):
        emu.run("fault", "set", "--crash-at", "1")
        proc = emu.run("hotplug", "-i", "mlx5_0", "-m", MAC, "-t", "1500", "-n", "4", "-s", "256")
        assert proc.returncode == 1
        # the request was sent: not "Can't connect" (that means never sent) but no answer
        assert proc.stderr == "ERR: virtio-net-controller closed the connection without a reply\n"
        hot = [d for d in emu.json("list")["devices"] if d["function_type"] == "hotplug PF"]
        assert [d["mac"] for d in hot] == [MAC.upper()]


class TestMlxconfig:
    """mlxconfig query/set and power-cycle make next-boot values current."""

    def test_set_then_power_cycle_applies_limits_and_keeps_stale_records(self, emu):
        emu.run("init", "--num-vf", "4")
        q = emu.run("mlxconfig", "-d", "pf0", "q", "-e").stdout
        assert "Configurations:" in q
        assert "True(1)" in q
        assert "Next Boot" in q
        assert (
            emu.run(
                "mlxconfig", "-d", "pf0", "-y", "s", f"{Fw.NUM_PF}=1", f"{Fw.NUM_VF}=2"
            ).returncode
            == 0
        )
        assert f"{Fw.NUM_PF}" in emu.run("mlxconfig", "-d", "pf0", "q").stdout
        emu.run("power-cycle")
        devices = emu.json("list")["devices"]
        assert len(devices) == 3  # PF0 + 2 VFs
        assert "MT2151X03152VNETS0D0F1" in emu.recovery()  # stale, left on disk

    def test_unknown_parameter_is_refused(self, emu):
        proc = emu.run("mlxconfig", "-d", "pf0", "-y", "s", "NOPE=1")
        assert proc.returncode == 1
        assert "-E-" in proc.stderr


class TestConcurrency:
    """The state lock makes parallel processes safe: no lost update, no shared SF."""

    def test_parallel_hotplugs_make_distinct_devices(self, emu):
        emu.run("list")
        cmd = [
            sys.executable,
            "-m",
            "reconciler.emulator",
            "hotplug",
            "-i",
            "mlx5_0",
            "-t",
            "1500",
            "-n",
            "2",
            "-s",
            "256",
            "-m",
        ]
        procs = [
            subprocess.Popen(
                [*cmd, f"0c:c4:7a:ff:00:{i:02x}"],
                env=emu.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for i in range(8)
        ]
        assert all(p.wait(timeout=60) == 0 for p in procs)
        hot = [d for d in emu.json("list")["devices"] if d["function_type"] == "hotplug PF"]
        assert len(hot) == 8
        assert len({d["sf_num"] for d in hot}) == 8
        assert len({d["vuid"] for d in hot}) == 8
        assert emu.json("calls", "--clear")["hotplug"] == 8
        assert emu.json("calls") == {}
