"""What the vendor's page says the controller does, through ``virtnet-emu`` processes.

Each test names the page's sentence it checks (../shared/reference/vendor-page.txt).
"""

from __future__ import annotations

import errno
import json

MAC = "0c:c4:7a:ff:22:93"
CANT_CONNECT = "ERR: Can't connect to virtio-net-controller\n"
# the page's two example configurations, verbatim
PAGE_CONF = {
    "ib_dev_p0": "mlx5_0", "ib_dev_p1": "mlx5_1", "ib_dev_for_static_pf": "mlx5_0",
    "is_lag": 0, "recovery": 1, "sf_pool_percent": 0, "sf_pool_force_destroy": 0,
    "static_pf": {"mac_base": "11:22:33:44:55:66", "features": "0x230047082b"},
    "vf": {"mac_base": "CC:48:15:FF:00:00", "features": "0x230047082b", "vfs_per_pf": 100,
           "qp_num": 4},
}  # fmt: skip
PAGE_LAG_CONF = {
    "ib_dev_lag": "mlx5_bond_0", "ib_dev_for_static_pf": "mlx5_bond_0", "is_lag": 1,
    "recovery": 1, "sf_pool_percent": 0, "sf_pool_force_destroy": 0,
}  # fmt: skip


def _hotplug_argv(ib: str = "mlx5_0", mac: str = MAC) -> list[str]:
    return ["hotplug", "-i", ib, "-m", mac, "-t", "1500", "-n", "4", "-s", "256"]


def _devices(emu) -> dict:
    return {(d["pf_id"], d.get("vf_id")): d for d in emu.json("query", "-a", "-b")["devices"]}


class TestVirtnetConf:
    """virtnet.conf is read at start; what the controller runs is visible in list/query."""

    def test_the_pages_example_configs_start_and_run_as_written(self, emu):
        emu.set_conf(PAGE_CONF)
        devices = _devices(emu)
        assert devices[(1, None)]["mac"] == "11:22:33:44:55:67"  # pf_mac + 1 -> pf_1
        assert devices[(1, 2)]["mac"] == "CC:48:15:FF:00:66"  # base + 1 * vfs_per_pf + 2
        assert devices[(0, 0)]["features"]["value"] == "0x230047082b"
        caps = emu.json("list")["controller"]
        assert (caps["emulation_manager"], caps["is_lag"]) == ("mlx5_0", 0)
        emu.set_conf(PAGE_LAG_CONF)
        assert emu.run("restart").returncode == 0
        caps = emu.json("list")["controller"]
        assert (caps["emulation_manager"], caps["is_lag"]) == ("mlx5_bond_0", 1)
        assert emu.error(*_hotplug_argv("mlx5_0"))["code"] == -errno.EINVAL
        assert emu.json(*_hotplug_argv("mlx5_bond_0"))["errno"] == 0

    def test_vf_qp_num_is_what_each_vf_reports_else_its_parent_pfs(self, emu):
        emu.run("init", "--num-vf", "2", "--num-msix", "6")
        devices = _devices(emu)
        parent = devices[(0, None)]["max_queue_pairs"]
        assert parent == "3"  # six data queues, two per pair
        assert devices[(0, 1)]["max_queue_pairs"] == parent  # "taken from its parent PF"
        emu.set_conf({"vf": {"qp_num": 5}})
        emu.run("restart")
        devices = _devices(emu)
        assert {devices[(pf, vf)]["max_queue_pairs"] for pf in (0, 1) for vf in (0, 1)} == {"5"}
        assert devices[(0, None)]["max_queue_pairs"] == parent

    def test_vfs_per_pf_above_num_vf_is_ignored_with_defaults(self, emu):
        emu.run("init", "--num-vf", "2")
        emu.set_conf({"is_lag": 1, "vf": {"mac_base": "cc:48:15:ff:00:00", "vfs_per_pf": 100}})
        assert emu.run("restart").returncode == 0
        caps = emu.json("list")["controller"]
        assert (caps["emulation_manager"], caps["is_lag"]) == ("mlx5_0", 0)  # not the file's
        assert _devices(emu)[(0, 0)]["mac"] == "02:5B:00:00:00:00"  # the default base
        assert (
            "virtnet.conf ignored, using defaults: vf.vfs_per_pf 100 exceeds "
            "VIRTIO_NET_EMULATION_NUM_VF 2" in emu.journal()
        )

    def test_ib_dev_lag_with_ib_dev_p0_keeps_the_controller_down(self, emu):
        emu.run("list")
        emu.set_conf({"ib_dev_lag": "mlx5_bond_0", "ib_dev_p0": "mlx5_0", "is_lag": 1})
        proc = emu.run("restart")
        assert proc.returncode == 1
        assert "cannot be configured simultaneously" in proc.stdout  # the error envelope
        proc = emu.run("list")
        assert (proc.returncode, proc.stderr) == (1, CANT_CONNECT)
        assert "virtnet.conf is invalid, not starting" in emu.journal()
        assert emu.pid() is None

    def test_invalid_json_or_types_refuse_or_are_ignored_per_mode(self, emu):
        emu.run("list")
        emu.run("stop")
        for text in ("{not json", '{"is_lag": "yes"}', '{"vf": {"qp_num": 0}}', "[]"):
            emu.set_conf(text)
            assert emu.run("start").returncode == 1
            assert emu.run("list").stderr == CANT_CONNECT
        assert emu.run("mode", "set", "conf_invalid=ignore").returncode == 0
        assert emu.run("start").returncode == 0
        assert emu.json("list")["controller"]["is_lag"] == 0
        assert "virtnet.conf is invalid, using defaults" in emu.journal()

    def test_validate_reports_what_the_controller_would_refuse(self, emu):
        emu.run("list")
        emu.set_conf({"vf": {"qp_num": "four"}})
        assert "qp_num" in emu.error("validate")["message"]


class TestSfPool:
    """sf_pool_percent reserves a share of PF_TOTAL_SF, which other applications share."""

    def test_the_pool_is_reserved_at_start_and_leaves_the_rest_to_others(self, emu):
        emu.run("init", "--num-vf", "2", "--total-sf", "20")
        emu.set_conf({"sf_pool_percent": 50})
        emu.run("restart")
        assert emu.json("list")["controller"]["sf_pool_size"] == 10
        budget = emu.json("sf", "budget")["port0"]
        # 6 devices use 6 of the pool's 10: the controller holds 10 of 20
        assert (budget["controller"], budget["free"]) == (10, 10)
        for sfnum in range(10):
            assert emu.run("sf", "add", "--sfnum", str(sfnum)).returncode == 0
        assert emu.error("sf", "add", "--sfnum", "10")["code"] == -errno.ENOSPC
        # devices keep taking SFs from the pool: four more fit
        for i in range(4):
            assert emu.json(*_hotplug_argv(mac=f"0c:c4:7a:ff:00:{i:02x}"))["errno"] == 0
        assert emu.error(*_hotplug_argv(mac="0c:c4:7a:ff:00:99"))["code"] == -errno.ENOSPC

    def test_a_pool_that_cannot_be_reserved_keeps_the_controller_down(self, emu):
        emu.run("init", "--num-vf", "2", "--total-sf", "20")
        for sfnum in range(14):  # 6 devices hold the other 6
            assert emu.run("sf", "add", "--sfnum", str(sfnum), "--app", "ovs-dpdk").returncode == 0
        emu.set_conf({"sf_pool_percent": 50})
        proc = emu.run("restart")
        assert proc.returncode == 1
        assert "failed to reserve an SF pool of 10 SFs" in proc.stdout
        assert emu.run("list").stderr == CANT_CONNECT
        assert "other applications hold 14, 6 free" in emu.journal()

    def test_force_destroy_decides_whether_the_pool_outlives_a_stop(self, emu):
        emu.run("init", "--num-vf", "2", "--total-sf", "20")
        for destroy, left in ((0, 10), (1, 0)):
            emu.set_conf({"sf_pool_percent": 50, "sf_pool_force_destroy": destroy})
            emu.run("restart")
            assert emu.run("stop").returncode == 0
            assert emu.json("sf", "budget")["port0"]["sf_pool"] == left
            assert emu.run("start").returncode == 0

    def test_other_applications_sfs_show_as_devlink_shows_sf_ports(self, emu):
        emu.run("init", "--num-vf", "1", "--total-sf", "8")
        emu.run("sf", "add", "--port", "0", "--sfnum", "77", "--app", "ovs")
        lines = emu.run("sf", "show").stdout.splitlines()
        ports = [ln for ln in lines if "flavour pcisf" in ln]
        assert any("pfnum 0 sfnum 77" in ln for ln in ports)
        assert any("netdev en3f0pf0sf3000" in ln for ln in ports)
        shown = json.loads(emu.run("sf", "show", "-j").stdout)["port"]
        assert {p["sfnum"] for p in shown.values()} >= {77, 1000, 3000}
        assert emu.error("sf", "add", "--sfnum", "3000")["code"] == -errno.EEXIST
        # 2 static PFs + 2 VFs + 1 other application = 5 of 8: three hotplugs, not four
        for i in range(3):
            emu.hotplug(f"0c:c4:7a:ff:01:{i:02x}")
        assert emu.error(*_hotplug_argv(mac="0c:c4:7a:ff:01:09"))["code"] == -errno.ENOSPC


class TestLiveUpdate:
    """Page: during the update all commands keep working; VF creation/deletion works too."""

    def test_commands_and_vf_changes_work_during_an_update(self, emu):
        emu.run("init", "--num-vf", "4")
        assert emu.run("update", "-s", VIRTNET_EMULATOR_UPDATE_SECONDS="600").returncode == 0
        assert emu.json("update", "-t")["status"] == "active"
        assert emu.run("list").returncode == 0
        vuid = emu.hotplug(MAC)["vuid"]
        assert emu.run("modify", "-u", vuid, "device", "-t", "9000").returncode == 0
        assert emu.run("host", "sriov", "-p", "0", "--numvfs", "1").returncode == 0
        assert emu.run("host", "sriov", "-p", "0", "--numvfs", "3").returncode == 0
        vfs = [k for k in _devices(emu) if k[0] == 0 and k[1] is not None]
        assert sorted(vfs) == [(0, 0), (0, 1), (0, 2)]
        assert emu.run("unplug", "-u", vuid).returncode == 0

    def test_a_migrating_device_answers_migrating_and_the_others_answer(self, emu):
        emu.run("init", "--num-pf", "1", "--num-vf", "1")
        pf, vf = emu.device("-p", "0")["vuid"], emu.device("-p", "0", "-v", "0")["vuid"]
        emu.run("debug", "migrating", "-u", vf, "on")
        devices = emu.json("query", "-a", "-b")["devices"]
        assert {d["vuid"]: d.get("status") for d in devices} == {pf: None, vf: "migrating"}
        assert emu.error("modify", "-u", vf, "device", "-t", "9000")["code"] == -errno.EBUSY
        assert emu.run("modify", "-u", pf, "device", "-t", "9000").returncode == 0

    def test_update_status_and_start_in_every_spelling(self, emu):
        emu.run("list")
        assert emu.run("update", "status").stdout == emu.run("update", "-t").stdout
        assert emu.run("update", "--start").returncode == 0
        assert emu.run("update", "-s").returncode == 1  # already in progress
        assert emu.run("update").returncode == 2  # usage

    def test_a_controller_too_old_for_update_refuses_it(self, emu):
        emu.run("mode", "set", "update=unsupported")
        for argv in (("update", "-t"), ("update", "status"), ("update", "-s")):
            assert emu.error(*argv) == {"code": -32601, "message": "Method not found"}

    def test_version_shows_running_and_installed_and_update_switches(self, emu):
        emu.run("list")
        assert emu.json("version") == [
            {"Original Controller": "v24.10.16"},
            {"Destination Controller": "v24.10.16"},
        ]
        assert emu.run("install", "v25.04.8").returncode == 0
        assert emu.json("version")[1] == {"Destination Controller": "v25.04.8"}
        assert emu.json("version")[0] == {"Original Controller": "v24.10.16"}
        emu.run("update", "-s", VIRTNET_EMULATOR_UPDATE_SECONDS="0")
        assert emu.json("version")[0] == {"Original Controller": "v25.04.8"}
        assert emu.json("update", "-t")["last live update status"] == "success"
        assert emu.run("install", "latest").returncode == 1


class TestRepresentorNames:
    """Page: the SF representor name is determined by udev rules (any name is possible)."""

    def test_a_udev_rule_names_the_representor(self, emu):
        emu.run("udev", "add", "--sf-num", "2000", "--name", "vnet-web0")
        out = emu.hotplug(MAC)
        assert out["sf_rep_net_device"] == "vnet-web0"
        assert emu.device("-u", out["vuid"])["sf_rep_net_device"] == "vnet-web0"
        # rules act when a representor is created: a restart recreates it with the name
        emu.run("restart")
        assert emu.device("-u", out["vuid"])["sf_rep_net_device"] == "vnet-web0"

    def test_bad_and_taken_names_are_refused(self, emu):
        assert emu.error("udev", "add", "--sf-num", "2000", "--name", "a/b")["code"] == -22
        assert emu.error("udev", "add", "--sf-num", "2000", "--name", "x" * 16)["code"] == -22
        emu.run("udev", "add", "--sf-num", "2000", "--name", "vnet-web0")
        assert emu.error("udev", "add", "--sf-num", "2001", "--name", "vnet-web0")["code"] == -17


class TestOlderControllerShapes:
    """Modes for controller builds whose answers lack fields the reconciler may expect."""

    def test_a_hotplug_answer_without_vuid(self, emu):
        emu.run("mode", "set", "hotplug_vuid=0")
        out = emu.hotplug(MAC)
        assert "vuid" not in out
        assert out["id"] == 2
        assert emu.device("-p", "2")["mac"] == MAC.upper()

    def test_list_and_query_without_dev_status(self, emu):
        emu.run("mode", "set", "dev_status=0")
        emu.run("guest", "bind", "-p", "0")
        assert all("dev_status" not in d for d in emu.json("query", "-a", "-b")["devices"])
        assert all("dev_status" not in d for d in emu.json("list")["devices"])
        emu.run("mode", "set", "dev_status=1")
        assert emu.device("-p", "0")["dev_status"]["value"] == "0xf"

    def test_unknown_modes_and_values_are_refused(self, emu):
        assert emu.error("mode", "set", "nope=1")["code"] == -errno.EINVAL
        assert emu.error("mode", "set", "rpc_workers=0")["code"] == -errno.EINVAL


class TestFirmwareDisabled:
    """Page: the service runs automatically only if VIRTIO_NET_EMULATION_ENABLE is true."""

    def test_no_service_when_emulation_is_disabled(self, emu):
        emu.run("mlxconfig", "-d", "pf0", "-y", "s", "VIRTIO_NET_EMULATION_ENABLE=0")
        assert emu.run("power-cycle").returncode == 0
        assert emu.pid() is None
        proc = emu.run("list")
        assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", CANT_CONNECT)
        current = next(
            ln for ln in emu.run("mlxconfig", "q", "-e").stdout.splitlines()
            if "VIRTIO_NET_EMULATION_ENABLE" in ln
        )  # fmt: skip
        assert current.split()[-2:] == ["False(0)", "False(0)"]  # current, next boot
        proc = emu.run("start")
        assert proc.returncode == 1
        assert "VIRTIO_NET_EMULATION_ENABLE is False" in proc.stderr
        assert emu.pid() is None
        emu.run("mlxconfig", "-d", "pf0", "-y", "s", "VIRTIO_NET_EMULATION_ENABLE=1")
        emu.run("power-cycle")
        assert emu.run("list").returncode == 0
