"""The resources' pure diffs as specifications: config, recovery records, firmware profile."""

from __future__ import annotations

from reconciler.keys import Fw
from reconciler.model import (
    Action,
    ChangeStatus,
    ControllerConfigSpec,
    ControllerInfo,
    DesiredState,
    DeviceSpec,
    DeviceType,
    FirmwareProfileSpec,
    ObservedDevice,
    ObservedWorld,
    RecoveryRecord,
    frozen_map,
)
from reconciler.plan import PlanOptions, plan
from reconciler.resources import controller_config, firmware_profile, recovery_records
from reconciler.resources.base import DiffOptions

HP, VF, PF = DeviceType.HOTPLUG, DeviceType.VF, DeviceType.STATIC_PF
FIRMWARE = {Fw.NUM_PF: 2, Fw.NUM_VF: 4, Fw.SWITCH_ENABLE: 1}


def world(*devices, recovery=(), conf=None, firmware=None, next_boot=None, **info):
    controller = ControllerInfo(
        firmware=frozen_map(FIRMWARE if firmware is None else firmware),
        firmware_next_boot=frozen_map(next_boot or {}),
        **info,
    )
    return ObservedWorld(
        controller=controller,
        devices=tuple(devices),
        recovery=tuple(recovery),
        config_on_disk=None if conf is None else frozen_map(conf),
    )


def desired(*devices, conf=None, profile=None) -> DesiredState:
    return DesiredState(
        devices=tuple(devices),
        controller_config=None if conf is None else ControllerConfigSpec("ctl", frozen_map(conf)),
        firmware=None if profile is None else FirmwareProfileSpec("fw", frozen_map(profile)),
    )


def hp(vuid, mac, pf_id=2, **kw):
    return ObservedDevice(vuid=vuid, type=HP, pf_id=pf_id, mac=mac, sf_num=2000, max_queues=4, **kw)


def record(vuid, mac, pf_id=2, function_type="pf", device_type="hotplug", **kw):
    defaults = {"port_ib_dev": "mlx5_0", "sf_num": 2000, "mq": 4}
    return RecoveryRecord(
        vuid=vuid,
        pf_id=pf_id,
        function_type=function_type,
        device_type=device_type,
        mac=mac,
        **(defaults | kw),
    )


class TestControllerConfigDiff:
    """A changed virtnet.conf is one config change with the exact per-key JSON diff."""

    def test_changed_keys_are_listed_old_to_new(self):
        result = controller_config.diff(
            desired(conf={"recovery": 1, "sf_pool_percent": 10}),
            world(conf={"recovery": 1, "is_lag": 0}),
            DiffOptions(allow_restart=True),
        )
        (change,) = result.changes
        assert change.action is Action.CONFIG
        assert change.name == "ctl"
        assert dict(change.fields) == {"is_lag": (0, None), "sf_pool_percent": (None, 10)}
        assert change.ready

    def test_change_is_blocked_until_restart_is_allowed(self):
        result = controller_config.diff(
            desired(conf={"recovery": 0}), world(conf={}), DiffOptions()
        )
        (change,) = result.changes
        assert change.status is ChangeStatus.BLOCKED
        assert change.reason == "controller restart required: rerun with --allow-restart"

    def test_identical_config_needs_nothing(self):
        conf = {"vf": {"mac_base": "0c:c4:7a:20:00:00", "vfs_per_pf": 4}}
        assert (
            controller_config.diff(desired(conf=conf), world(conf=conf), DiffOptions()).changes
            == ()
        )

    def test_restart_is_refused_while_a_guest_driver_is_bound(self):
        bound = hp("V1", "0c:c4:7a:00:00:01", driver_status=0xF)
        (change,) = controller_config.diff(
            desired(conf={"recovery": 0}), world(bound, conf={}), DiffOptions(allow_restart=True)
        ).changes
        assert not change.ready
        assert not change.temporary
        assert "guest driver bound on 1 device(s) (V1)" in change.reason

    def test_restart_waits_for_a_live_update(self):
        (change,) = controller_config.diff(
            desired(conf={"recovery": 0}),
            world(conf={}, live_update_active=True),
            DiffOptions(allow_restart=True),
        ).changes
        assert not change.ready
        assert change.temporary
        assert "live update" in change.reason

    def test_vf_mac_that_mac_base_would_revert_is_reported(self):
        conf = {"vf": {"mac_base": "0c:c4:7a:20:00:00", "vfs_per_pf": 4}}
        spec = DeviceSpec(name="vf-5", type=VF, mac="0c:c4:7a:99:00:05", pf_id=1, vf_id=1)
        result = controller_config.diff(desired(spec, conf=conf), world(conf=conf), DiffOptions())
        (warning,) = result.warnings
        assert "vf-5" in warning
        assert "0c:c4:7a:20:00:05" in warning

    def test_a_mac_base_no_device_can_have_is_a_warning_naming_the_key(self):
        conf = {"static_pf": {"mac_base": "11:22:33:44:55:66"}, "mac_base": "00:00:00:00:00:00"}
        result = controller_config.diff(desired(conf=conf), world(conf=conf), DiffOptions())
        assert result.changes == ()
        top, static = result.warnings
        assert top.startswith("ctl: mac_base 00:00:00:00:00:00 is all zeros")
        assert static.startswith("ctl: static_pf.mac_base 11:22:33:44:55:66 is a multicast")

    def test_a_unicast_mac_base_says_nothing(self):
        conf = {"static_pf": {"mac_base": "0c:c4:7a:30:00:00"}}
        assert (
            controller_config.diff(desired(conf=conf), world(conf=conf), DiffOptions()).warnings
            == ()
        )

    def test_mac_held_by_the_recovery_record_survives_a_restart(self):
        conf = {"static_pf": {"mac_base": "0c:c4:7a:30:00:00"}}
        spec = DeviceSpec(name="pf1", type=PF, mac="0c:c4:7a:99:00:01", pf_id=1)
        rec = record("S1", "0c:c4:7a:99:00:01", pf_id=1, device_type="static")
        result = controller_config.diff(
            desired(spec, conf=conf), world(recovery=[rec]), DiffOptions()
        )
        assert result.warnings == ()

    def test_mac_following_the_rule_is_not_reported(self):
        conf = {"static_pf": {"mac_base": "0c:c4:7a:30:00:00"}}
        spec = DeviceSpec(name="pf1", type=PF, mac="0c:c4:7a:30:00:01", pf_id=1)
        assert (
            controller_config.diff(desired(spec, conf=conf), world(), DiffOptions()).warnings == ()
        )


class TestRecoveryRecordsDiff:
    """Records are compared with the live devices; only provable orphans are cleaned."""

    def test_record_matching_its_device_is_silent(self):
        result = recovery_records.diff(
            desired(),
            world(hp("V1", "0c:c4:7a:00:00:01"), recovery=[record("V1", "0c:c4:7a:00:00:01")]),
            DiffOptions(),
        )
        assert result.changes == ()
        assert result.warnings == ()

    def test_record_that_differs_from_the_live_device_is_a_warning(self):
        result = recovery_records.diff(
            desired(),
            world(
                hp("V1", "0c:c4:7a:00:00:01"), recovery=[record("V1", "0c:c4:7a:00:00:02", mq=2)]
            ),
            DiffOptions(),
        )
        (warning,) = result.warnings
        assert "mac 0c:c4:7a:00:00:01 (record 0c:c4:7a:00:00:02)" in warning
        assert "max_queues 4 (record 2)" in warning
        assert result.changes == ()

    def test_orphaned_record_is_cleaned_only_with_prune(self):
        orphan = record("GONE", "0c:c4:7a:00:00:09")
        (blocked,) = recovery_records.diff(
            desired(), world(recovery=[orphan]), DiffOptions()
        ).changes
        assert blocked.action is Action.RECOVERY_CLEANUP
        assert not blocked.ready
        assert "--prune" in blocked.reason
        (ready,) = recovery_records.diff(
            desired(), world(recovery=[orphan]), DiffOptions(prune=True)
        ).changes
        assert ready.ready
        assert ready.vuid == "GONE"

    def test_record_whose_mac_is_live_elsewhere_is_never_cleaned(self):
        live = hp("NEW", "0c:c4:7a:00:00:09", pf_id=3)
        result = recovery_records.diff(
            desired(),
            world(live, recovery=[record("OLD", "0c:c4:7a:00:00:09")]),
            DiffOptions(prune=True),
        )
        assert result.changes == ()
        assert "not removed" in result.warnings[0]

    def test_records_beyond_the_firmware_limits_are_stale(self):
        vf_rec = record(
            "VF9", "0c:c4:7a:00:00:0a", pf_id=0, function_type="vf", device_type=None, vf_id=6
        )
        hot = record("H", "0c:c4:7a:00:00:0b")
        fw = {**FIRMWARE, Fw.SWITCH_ENABLE: 0}
        changes = recovery_records.diff(
            desired(), world(recovery=[vf_rec, hot], firmware=fw), DiffOptions(prune=True)
        ).changes
        why = {c.vuid: c.fields["why"][0] for c in changes}
        assert why == {
            "VF9": "vf_id 6 >= VIRTIO_NET_EMULATION_NUM_VF=4",
            "H": "hotplug record but PCI_SWITCH_EMULATION_ENABLE=0",
        }

    def test_record_on_a_port_device_is_stale_once_lag_is_on(self):
        rec = record("V1", "0c:c4:7a:00:00:01")
        result = recovery_records.diff(
            desired(),
            world(
                hp("V1", "0c:c4:7a:00:00:01"),
                recovery=[rec],
                conf={"is_lag": 1, "ib_dev_lag": "mlx5_bond_0"},
            ),
            DiffOptions(),
        )
        assert "port_ib_dev mlx5_0 is not the bond device mlx5_bond_0" in result.warnings[0]


class TestFirmwareProfileDiff:
    """The profile is read-only: drift and pending values are reported, never applied."""

    def test_drift_needs_a_cold_power_cycle(self):
        result = firmware_profile.diff(desired(profile={Fw.NUM_VF: 8}), world(), DiffOptions())
        (warning,) = result.warnings
        assert "VIRTIO_NET_EMULATION_NUM_VF is 4, profile wants 8" in warning
        assert "cold power cycle" in warning

    def test_value_set_for_next_boot_is_pending_until_power_cycle(self):
        result = firmware_profile.diff(
            desired(profile={Fw.NUM_VF: 8}),
            world(next_boot={**FIRMWARE, Fw.NUM_VF: 8}),
            DiffOptions(),
        )
        (warning,) = result.warnings
        assert "pending until power cycle" in warning
        assert "next boot 8 (current 4)" in warning

    def test_profile_matching_the_firmware_is_silent(self):
        assert (
            firmware_profile.diff(desired(profile=FIRMWARE), world(), DiffOptions()).warnings == ()
        )


class TestPlanIncludesResources:
    """plan() carries the resources' changes: the restart first, record cleanups last."""

    def test_config_change_comes_before_device_changes(self):
        spec = DeviceSpec(name="web", type=HP, mac="0c:c4:7a:00:00:01", ib_device="mlx5_0")
        the_plan = plan(
            desired(spec, conf={"recovery": 1}),
            world(recovery=[record("GONE", "0c:c4:7a:00:00:09")], conf={}),
            {},
            PlanOptions(allow_restart=True, prune=True),
        )
        assert [c.action for c in the_plan.changes] == [
            Action.CONFIG,
            Action.HOTPLUG,
            Action.RECOVERY_CLEANUP,
        ]
