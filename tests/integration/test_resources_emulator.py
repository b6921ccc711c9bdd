"""Controller config, recovery records, firmware profile and apply loops, through `virtnet-emu`."""

from __future__ import annotations

import json

BOUND_PF = "2"  # the first hotplug PF gets pf_id NUM_PF (2 in the default profile)


def _config(sandbox, **content) -> None:
    body = json.dumps(content)
    sandbox.write(
        "controller.yaml",
        f"apiVersion: virtnet/v1\nkind: ControllerConfig\nmetadata:\n  name: ctl\nspec: {body}\n",
    )


def _profile(sandbox, **values) -> None:
    body = json.dumps({"values": values})
    sandbox.write(
        "firmware.yaml",
        f"apiVersion: virtnet/v1\nkind: FirmwareProfile\nmetadata:\n  name: fw\nspec: {body}\n",
    )


def _started_at(sandbox) -> str:
    return sandbox.emu_json("health")["started_at"]


def _conf_path(sandbox):
    return sandbox.root / "emu" / "virtnet.conf"


def _changes(sandbox, *args, check):
    proc = sandbox.virtnet("diff", "-o", "json", *args, check=check)
    return json.loads(proc.stdout)


class TestRestartLosesUnrecordedState:
    """A restart keeps only what recovery records hold; the reconciler restores the rest."""

    def test_mtu_reverted_by_restart_is_put_back(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:41", mtu=9000)
        sandbox.virtnet("apply", check=0)
        sandbox.emu("restart")
        assert int(sandbox.device_by_mac("0c:c4:7a:00:00:41")["mtu"]) == 1500
        changes = _changes(sandbox, check=2)["changes"]
        assert [(c["action"], c["fields"]) for c in changes] == [("modify", {"mtu": [1500, 9000]})]
        sandbox.clear_calls()
        sandbox.virtnet("apply", check=0)
        assert sandbox.emu_json("calls").get("modify") == 1
        assert int(sandbox.device_by_mac("0c:c4:7a:00:00:41")["mtu"]) == 9000


class TestControllerConfig:
    """A changed virtnet.conf is shown, blocked without --allow-restart, applied with it."""

    def _setup(self, sandbox):
        _conf_path(sandbox).parent.mkdir(parents=True, exist_ok=True)
        _conf_path(sandbox).write_text('{"recovery": 1}\n')
        sandbox.emu("restart")
        _config(sandbox, recovery=1, sf_pool_percent=10)

    def test_diff_shows_the_json_change_and_the_restart_requirement(self, sandbox):
        self._setup(sandbox)
        (change,) = _changes(sandbox, check=2)["changes"]
        assert change["action"] == "config"
        assert change["fields"] == {"sf_pool_percent": [None, 10]}
        assert change["status"] == "blocked"
        assert change["reason"] == "controller restart required: rerun with --allow-restart"
        text = sandbox.virtnet("diff", check=2).stdout
        assert '"sf_pool_percent": - -> 10' in text

    def test_apply_without_allow_restart_is_blocked_and_writes_nothing(self, sandbox):
        self._setup(sandbox)
        before = _started_at(sandbox)
        proc = sandbox.virtnet("apply", check=3)
        assert "controller restart required" in proc.stdout
        assert json.loads(_conf_path(sandbox).read_text()) == {"recovery": 1}
        assert _started_at(sandbox) == before

    def test_allow_restart_writes_the_file_keeps_a_backup_and_restarts(self, sandbox):
        self._setup(sandbox)
        before = _started_at(sandbox)
        sandbox.virtnet("apply", "--allow-restart", check=0)
        assert json.loads(_conf_path(sandbox).read_text()) == {"recovery": 1, "sf_pool_percent": 10}
        backup = _conf_path(sandbox).with_name("virtnet.conf.bak")
        assert json.loads(backup.read_text()) == {"recovery": 1}
        assert _started_at(sandbox) != before
        # the restarted controller runs the new file: its SF pool is now 10 % of PF_TOTAL_SF
        assert sandbox.emu_json("list")["controller"]["sf_pool_size"] > 0
        sandbox.virtnet("diff", check=0)

    def test_restart_is_refused_while_a_guest_is_bound(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:42")
        sandbox.virtnet("apply", check=0)
        self._setup(sandbox)
        sandbox.emu("guest", "bind", "-p", BOUND_PF)
        before = _started_at(sandbox)
        proc = sandbox.virtnet("apply", "--allow-restart", check=3)
        assert "restart refused: guest driver bound" in proc.stdout
        assert _started_at(sandbox) == before
        assert json.loads(_conf_path(sandbox).read_text()) == {"recovery": 1}
        sandbox.emu("guest", "unbind", "-p", BOUND_PF)
        sandbox.virtnet("apply", "--allow-restart", check=0)
        assert _started_at(sandbox) != before


class TestRecoveryRecords:
    """Stale records are reported; provable orphans are removed only with --prune."""

    def _plant_orphan(self, sandbox) -> str:
        sandbox.hotplug("web", "0c:c4:7a:00:00:43")
        sandbox.virtnet("apply", check=0)
        vuid = sandbox.device_by_mac("0c:c4:7a:00:00:43")["vuid"]
        recovery = sandbox.root / "emu" / "recovery"
        record = json.loads((recovery / vuid).read_text())
        record.update(mac="0c:c4:7a:00:00:99", pf_id=9, sf_num=2999)
        (recovery / "ORPHANVNETS1D9F0").write_text(json.dumps(record))
        return "ORPHANVNETS1D9F0"

    def test_orphan_is_listed_by_diff_and_kept_by_apply_without_prune(self, sandbox):
        orphan = self._plant_orphan(sandbox)
        (change,) = _changes(sandbox, check=2)["changes"]
        assert change["action"] == "recovery_cleanup"
        assert change["vuid"] == orphan
        assert change["status"] == "blocked"
        assert "--prune" in change["reason"]
        sandbox.virtnet("apply", check=3)
        assert (sandbox.root / "emu" / "recovery" / orphan).exists()

    def test_apply_with_prune_removes_the_orphan_and_nothing_else(self, sandbox):
        orphan = self._plant_orphan(sandbox)
        recovery = sandbox.root / "emu" / "recovery"
        others = {p.name for p in recovery.iterdir()} - {orphan}
        sandbox.virtnet("apply", "--prune", check=0)
        assert {p.name for p in recovery.iterdir()} == others
        sandbox.virtnet("diff", "--prune", check=0)

    def test_record_differing_from_its_live_device_is_a_warning(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:44")
        sandbox.virtnet("apply", check=0)
        vuid = sandbox.device_by_mac("0c:c4:7a:00:00:44")["vuid"]
        path = sandbox.root / "emu" / "recovery" / vuid
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "mq": 1}))
        out = _changes(sandbox, check=0)
        assert out["changes"] == []
        assert any(vuid in w and "max_queues 4 (record 1)" in w for w in out["warnings"])

    def test_records_made_stale_by_fewer_vfs_are_cleaned_with_prune(self, sandbox):
        sandbox.emu("mlxconfig", "-d", "emu", "-y", "s", "VIRTIO_NET_EMULATION_NUM_VF=2")
        sandbox.emu("power-cycle")
        out = _changes(sandbox, "--prune", check=2)
        cleanups = [c for c in out["changes"] if c["action"] == "recovery_cleanup"]
        assert cleanups
        assert all(c["status"] == "ready" for c in cleanups)
        assert all("VIRTIO_NET_EMULATION_NUM_VF=2" in c["fields"]["why"][0] for c in cleanups)
        sandbox.virtnet("apply", "--prune", check=0)
        sandbox.virtnet("diff", "--prune", check=0)


class TestFirmwareProfile:
    """Profile drift and values waiting for a power cycle are reported, never applied."""

    def test_drift_is_reported_as_needing_a_cold_power_cycle(self, sandbox):
        _profile(sandbox, VIRTIO_NET_EMULATION_NUM_PF=4)
        out = _changes(sandbox, check=0)
        assert any(
            "VIRTIO_NET_EMULATION_NUM_PF is 2, profile wants 4" in w and "cold power cycle" in w
            for w in out["warnings"]
        )

    def test_value_set_but_not_in_force_is_pending_until_power_cycle(self, sandbox):
        _profile(sandbox, VIRTIO_NET_EMULATION_NUM_PF=4)
        sandbox.emu("mlxconfig", "-d", "emu", "-y", "s", "VIRTIO_NET_EMULATION_NUM_PF=4")
        out = _changes(sandbox, check=0)
        assert any("pending until power cycle" in w for w in out["warnings"])
        sandbox.emu("power-cycle")
        assert not any(
            "VIRTIO_NET_EMULATION_NUM_PF" in w for w in _changes(sandbox, check=0)["warnings"]
        )


class TestApplyLoop:
    """A change undone again and again is applied 3 times, then reported instead of retried."""

    def test_mtu_reverted_by_every_restart_stops_after_three_rounds(self, sandbox):
        sandbox.hotplug("web", "0c:c4:7a:00:00:45", mtu=9000)
        sandbox.virtnet("apply", check=0)
        for _ in range(3):
            sandbox.emu("restart")
            sandbox.virtnet("apply", check=0)
        sandbox.emu("restart")
        sandbox.clear_calls()
        proc = sandbox.virtnet("apply", check=1)
        assert sandbox.mutating_calls() == 0
        assert "apply loop: web mtu -> 9000 reverted 3 times since controller start" in (
            proc.stdout + proc.stderr
        )
        status = json.loads(sandbox.virtnet("status", "-o", "json", check=0).stdout)
        assert "not retrying" in json.dumps(status)


class TestRestartOwed:
    """A config written but never restarted is not reported as applied."""

    def test_failed_restart_stays_owed_until_a_restart_happens(self, sandbox):
        _config(sandbox, sf_pool_percent=10)
        sandbox.emu("fault", "set", "--fail-nth", "1", "--ops", "restart")
        sandbox.virtnet("apply", "--allow-restart", check=1)
        sandbox.emu("fault", "clear")
        proc = sandbox.virtnet("apply", check=3)  # the file matches, the controller does not
        assert "has not restarted since" in proc.stdout
        sandbox.virtnet("diff", check=2)
        sandbox.virtnet("apply", "--allow-restart", check=0)
        status = json.loads(sandbox.virtnet("status", "-o", "json", check=0).stdout)
        assert status["specs"]["ctl"]["state"] == "applied"
        sandbox.virtnet("diff", check=0)
