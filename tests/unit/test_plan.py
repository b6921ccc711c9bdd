"""The planner as a specification: plain values in, an ordered plan out (no emulator, no files)."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.keys import Fw
from reconciler.model import (
    Action,
    ChangeStatus,
    ControllerInfo,
    DesiredState,
    DeviceSpec,
    DeviceType,
    ObservedDevice,
    ObservedWorld,
    OwnershipRecord,
    Representor,
    RepresentorSpec,
    Source,
    SpecError,
    frozen_map,
)
from reconciler.plan import PlanOptions, plan

HP, VF, PF = DeviceType.HOTPLUG, DeviceType.VF, DeviceType.STATIC_PF
BOUND = 0x7  # ACKNOWLEDGE | DRIVER | DRIVER_OK


def mac(n: int) -> str:
    return f"0c:c4:7a:00:00:{n:02x}"


def hp_spec(name: str, n: int, **kw) -> DeviceSpec:
    return DeviceSpec(name=name, type=HP, mac=mac(n), ib_device="mlx5_0", **kw)


def hp_dev(vuid: str, n: int, **kw) -> ObservedDevice:
    base = {"mtu": 1500, "max_queues": 4, "max_queue_size": 256, "ib_device": "mlx5_0"}
    return ObservedDevice(vuid=vuid, type=HP, pf_id=kw.pop("pf_id", 1), mac=mac(n), **(base | kw))


def vf_spec(name: str, pf: int, vf: int, n: int, **kw) -> DeviceSpec:
    return DeviceSpec(name=name, type=VF, mac=mac(n), pf_id=pf, vf_id=vf, **kw)


def vf_dev(vuid: str, pf: int, vf: int, n: int, **kw) -> ObservedDevice:
    return ObservedDevice(vuid=vuid, type=VF, pf_id=pf, vf_id=vf, mac=mac(n), mtu=1500, **kw)


def pf_dev(vuid: str, pf: int, n: int, **kw) -> ObservedDevice:
    return ObservedDevice(vuid=vuid, type=PF, pf_id=pf, mac=mac(n), mtu=1500, **kw)


def own(name: str, vuid: str, n: int) -> OwnershipRecord:
    return OwnershipRecord(name=name, vuid=vuid, mac=mac(n), type=HP)


def world(*devices, live_update=False, representors=None, **controller) -> ObservedWorld:
    info = ControllerInfo(live_update_active=live_update, **controller)
    reps = None if representors is None else frozen_map({r.name: r for r in representors})
    return ObservedWorld(controller=info, devices=tuple(devices), representors=reps)


def run(specs=(), devices=(), inventory=None, *, w=None, errors=(), rejected=(), **options):
    desired = DesiredState(devices=tuple(specs), errors=tuple(errors), rejected=frozenset(rejected))
    inv = {r.name: r for r in (inventory or ())}
    return plan(desired, w or world(*devices), inv, PlanOptions(**options))


def only(p):
    assert len(p.changes) == 1, p.changes
    return p.changes[0]


def fields(change) -> dict:
    return dict(change.fields)


BAD_FILE = SpecError(Source("state/broken.yaml", 3, 1), "spec.mac", "not a MAC")


class TestHotplug:
    """A declared hotplug device that is not there is created, with every value the CLI needs."""

    def test_missing_device_is_hotplugged_with_defaults_for_omitted_fields(self):
        change = only(run([hp_spec("web", 1)]))
        assert change.action is Action.HOTPLUG
        assert change.ready
        assert change.vuid is None
        assert fields(change) == {
            "ib_device": (None, "mlx5_0"),
            "mac": (None, mac(1)),
            "mtu": (None, 1500),
            "max_queues": (None, 4),
            "max_queue_size": (None, 256),
        }

    def test_optional_fields_are_passed_only_when_the_spec_sets_them(self):
        spec = hp_spec("web", 1, mtu=9000, features=0x2B, sf_num=2005, legacy=True)
        got = fields(only(run([spec])))
        assert got["mtu"] == (None, 9000)
        assert got["features"] == (None, 0x2B)
        assert got["sf_num"] == (None, 2005)
        assert got["legacy"] == (None, True)

    def test_custom_defaults_fill_the_required_fields(self):
        got = fields(only(run([hp_spec("web", 1)], defaults={"mtu": 1400, "max_queues": 2})))
        assert got["mtu"] == (None, 1400)
        assert got["max_queues"] == (None, 2)


class TestNoFalseDrift:
    """An unchanged world gives an empty plan: only fields the spec sets are compared."""

    @pytest.mark.parametrize(
        ("spec", "device"),
        [
            (hp_spec("web", 1), hp_dev("V1", 1, mtu=9000, max_queues=8, max_queue_size=1024)),
            (hp_spec("web", 1, mtu=1500, features=0x2B), hp_dev("V1", 1, features=0x2B)),
            (hp_spec("web", 1), dataclasses.replace(hp_dev("V1", 1), mac=mac(1).upper())),
            (vf_spec("vf", 0, 3, 7, msix_num=10), vf_dev("F3", 0, 3, 7, msix_num=10)),
            (DeviceSpec(name="pf", type=PF, mac=mac(9), pf_id=0), pf_dev("P0", 0, 9)),
        ],
        ids=["omitted-fields", "features-int", "mac-case", "vf", "static-pf"],
    )
    def test_matching_device_gives_an_empty_plan(self, spec, device):
        inventory = [own(spec.name, device.vuid, 1)] if spec.type is HP else []
        p = run([spec], [device], inventory)
        assert p.empty
        assert not p.adoptions
        assert not p.errors

    def test_plan_is_empty_at_4096_devices_with_nothing_to_do(self):
        specs = [vf_spec(f"vf-{i}", i // 512, i % 512, i + 1, mtu=1500) for i in range(4096)]
        devices = [vf_dev(f"F{i}", i // 512, i % 512, i + 1) for i in range(4096)]
        specs = [
            dataclasses.replace(s, mac=f"0c:c4:7a:00:{i >> 8:02x}:{i & 255:02x}")
            for i, s in enumerate(specs)
        ]
        devices = [
            dataclasses.replace(d, mac=f"0c:c4:7a:00:{i >> 8:02x}:{i & 255:02x}")
            for i, d in enumerate(devices)
        ]
        p = run(specs, devices)
        assert p.empty
        assert not p.unmanaged


class TestMatching:
    """Hotplug devices match by our ownership record first, then by MAC (adoption)."""

    def test_owned_vuid_with_another_mac_is_not_ours_any_more(self):
        """The controller reuses a freed port's VUID: VUID + MAC is the identity.

        The device in our old slot may be a stranger's: it is left alone (never
        modified, never pruned), and the spec's device is created again.
        """
        p = run([hp_spec("web", 1)], [hp_dev("V1", 2)], [own("web", "V1", 1)], prune=True)
        change = only(p)
        assert change.action is Action.HOTPLUG
        assert [d.vuid for d in p.unmanaged] == ["V1"]

    def test_unowned_device_with_the_spec_mac_is_adopted_without_a_controller_call(self):
        p = run([hp_spec("web", 1)], [hp_dev("V1", 1, pf_id=3, sf_num=2001)])
        assert p.empty
        (record,) = p.adoptions
        assert (record.name, record.vuid, record.adopted) == ("web", "V1", True)
        assert (record.pf_id, record.sf_num, record.type) == (3, 2001, HP)

    def test_adopted_device_with_different_values_is_modified(self):
        p = run([hp_spec("web", 1, mtu=9000)], [hp_dev("V1", 1)])
        assert len(p.adoptions) == 1
        assert fields(only(p)) == {"mtu": (1500, 9000)}

    def test_two_live_devices_with_the_spec_mac_block_the_spec(self):
        change = only(run([hp_spec("web", 1)], [hp_dev("V1", 1), hp_dev("V2", 1)]))
        assert change.status is ChangeStatus.BLOCKED
        assert change.reason == f"2 hotplug devices have mac {mac(1)} (V1, V2)"

    def test_hotplug_spec_with_the_mac_of_a_vf_is_blocked_not_duplicated(self):
        change = only(run([hp_spec("web", 1)], [vf_dev("F0", 0, 0, 1)]))
        assert change.action is Action.HOTPLUG
        assert not change.ready
        assert change.reason == f"mac {mac(1)} is already used by vf pf0/vf0 (F0)"

    def test_renamed_spec_takes_over_the_device_and_the_old_record_is_forgotten(self):
        p = run([hp_spec("new-name", 1)], [hp_dev("V1", 1)], [own("old-name", "V1", 1)], prune=True)
        assert p.empty
        assert [r.name for r in p.adoptions] == ["new-name"]
        assert p.forget == ("old-name",)

    def test_device_owned_by_a_rejected_spec_is_not_taken(self):
        p = run([hp_spec("web", 1)], [hp_dev("V1", 1)], [own("bad", "V1", 1)], rejected=["bad"])
        change = only(p)
        assert not change.ready
        assert "of spec 'bad'" in change.reason
        assert not p.adoptions

    def test_one_vf_declared_twice_blocks_the_second_spec(self):
        p = run([vf_spec("a", 0, 1, 1), vf_spec("b", 0, 1, 1)], [vf_dev("F1", 0, 1, 1)])
        change = only(p)
        assert change.name == "b"
        assert change.reason == "vf pf0/vf1 (F1) is already declared by spec 'a'"


class TestModify:
    """Changed fields the spec sets become one modify per device."""

    def test_all_changed_fields_are_in_one_change(self):
        spec = hp_spec("db-1", 1, mtu=9000, max_queue_size=512, features=0x3)
        change = only(run([spec], [hp_dev("V1", 1, features=0x1)], [own("db-1", "V1", 1)]))
        assert change.action is Action.MODIFY
        assert change.ready
        assert fields(change) == {
            "mtu": (1500, 9000),
            "max_queue_size": (256, 512),
            "features": (0x1, 0x3),
        }

    def test_msix_num_is_modified_on_a_vf(self):
        change = only(run([vf_spec("v", 0, 0, 1, msix_num=8)], [vf_dev("F0", 0, 0, 1, msix_num=4)]))
        assert fields(change) == {"msix_num": (4, 8)}

    def test_msix_num_on_a_pf_is_a_warning_not_a_change(self):
        spec = DeviceSpec(name="pf", type=PF, mac=mac(1), pf_id=0, msix_num=8)
        p = run([spec], [pf_dev("P0", 0, 1, msix_num=4)])
        assert p.empty
        assert p.warnings == ("pf: msix_num applies to VFs only; ignored on a static_pf",)

    def test_max_queues_of_a_vf_is_reported_not_modified(self):
        p = run([vf_spec("v", 0, 0, 1, max_queues=8)], [vf_dev("F0", 0, 0, 1, max_queues=4)])
        assert p.empty
        assert p.warnings == (
            "v: max_queues of a vf follows firmware (and msix_num on a VF); it stays 4",
        )

    def test_vf_mtu_change_is_a_modify(self):
        change = only(run([vf_spec("v", 0, 2, 1, mtu=9000)], [vf_dev("F2", 0, 2, 1)]))
        assert (change.action, change.vuid, fields(change)) == (
            Action.MODIFY,
            "F2",
            {"mtu": (1500, 9000)},
        )


class TestImmutableFields:
    """Creation-time fields of a hotplug device need unplug + hotplug, only with --allow-replace."""

    @pytest.mark.parametrize(
        ("spec_kw", "dev_kw", "field"),
        [
            ({"max_queues": 8}, {}, "max_queues"),
            ({"ib_device": "mlx5_1"}, {}, "ib_device"),
            ({"sf_num": 2002}, {"sf_num": 2001}, "sf_num"),
            ({"legacy": True}, {}, "legacy"),
        ],
    )
    def test_immutable_change_is_blocked_without_allow_replace(self, spec_kw, dev_kw, field):
        spec = dataclasses.replace(hp_spec("web", 1), **spec_kw)
        change = only(run([spec], [hp_dev("V1", 1, **dev_kw)], [own("web", "V1", 1)]))
        assert change.action is Action.REPLACE
        assert not change.ready
        assert not change.temporary
        assert change.reason == f"immutable field {field} changed: rerun with --allow-replace"

    def test_replace_carries_every_value_the_rehotplug_needs(self):
        spec = hp_spec("web", 1, max_queues=8)
        change = only(
            run([spec], [hp_dev("V1", 1, mtu=9000)], [own("web", "V1", 1)], allow_replace=True)
        )
        assert change.action is Action.REPLACE
        assert change.ready
        assert change.vuid == "V1"
        got = fields(change)
        assert got["max_queues"] == (4, 8)
        assert got["mtu"] == (9000, 9000)  # unmanaged: the device keeps what it had
        assert got["max_queue_size"] == (256, 256)

    def test_unpinned_sf_num_is_not_compared(self):
        p = run([hp_spec("web", 1)], [hp_dev("V1", 1, sf_num=2007)], [own("web", "V1", 1)])
        assert p.empty

    def test_type_change_from_hotplug_unplugs_the_old_device_only_with_allow_replace(self):
        spec = vf_spec("web", 0, 0, 5)
        devices = [hp_dev("V1", 1), vf_dev("F0", 0, 0, 5)]
        blocked = only(run([spec], devices, [own("web", "V1", 1)]))
        assert blocked.action is Action.REPLACE
        assert not blocked.ready
        assert blocked.reason == "immutable field type changed: rerun with --allow-replace"
        done = only(run([spec], devices, [own("web", "V1", 1)], allow_replace=True))
        assert (done.action, done.vuid, done.ready) == (Action.UNPLUG, "V1", True)


class TestGuestAware:
    """A guest that holds the driver blocks changes that need unbinding; others proceed."""

    def test_modify_is_blocked_while_guest_driver_bound(self):
        spec = hp_spec("web", 2, mtu=9000)
        dev = hp_dev("V1", 1, driver_status=BOUND)
        change = only(run([spec], [dev], [own("web", "V1", 1)]))
        assert not change.ready
        assert not change.temporary
        assert change.reason == (
            "guest driver bound (dev_status 0x7): unbind the device on the host to change mac, mtu"
        )

    def test_unbound_device_is_modified(self):
        spec = hp_spec("web", 1, mtu=9000)
        change = only(run([spec], [hp_dev("V1", 1, driver_status=0x1)], [own("web", "V1", 1)]))
        assert change.ready

    def test_bound_device_blocks_only_its_own_change(self):
        specs = [hp_spec("a", 1, mtu=9000), hp_spec("b", 2, mtu=9000)]
        devices = [hp_dev("V1", 1, driver_status=BOUND), hp_dev("V2", 2)]
        p = run(specs, devices, [own("a", "V1", 1), own("b", "V2", 2)])
        assert [(c.name, c.ready) for c in p.changes] == [("a", False), ("b", True)]

    def test_replace_of_a_bound_device_is_blocked(self):
        spec = hp_spec("web", 1, max_queues=8)
        dev = hp_dev("V1", 1, driver_status=BOUND)
        change = only(run([spec], [dev], [own("web", "V1", 1)], allow_replace=True))
        assert change.action is Action.REPLACE
        assert not change.ready
        assert change.reason.startswith("guest driver bound (dev_status 0x7)")


class TestBusy:
    """Migrating devices and live updates give temporary blocks, retried with backoff."""

    def test_migrating_device_is_blocked_temporarily(self):
        dev = ObservedDevice(vuid="V1", type=HP, pf_id=1, migrating=True)
        change = only(run([hp_spec("web", 1)], [dev], [own("web", "V1", 1)]))
        assert change.status is ChangeStatus.BLOCKED
        assert change.temporary
        assert change.reason == "device migrating (live update)"

    def test_unowned_migrating_device_blocks_hotplugs_that_might_duplicate_it(self):
        dev = ObservedDevice(vuid="V9", type=HP, pf_id=1, migrating=True)
        change = only(run([hp_spec("web", 1)], [dev]))
        assert not change.ready
        assert change.temporary

    def test_live_update_blocks_hotplug_and_unplug_but_not_modify(self):
        specs = [hp_spec("new", 1), vf_spec("v", 0, 0, 2, mtu=9000)]
        devices = [vf_dev("F0", 0, 0, 2), hp_dev("V3", 3)]
        w = world(*devices, live_update=True)
        p = run(specs, inventory=[own("gone", "V3", 3)], w=w, prune=True)
        status = {c.name: (c.action, c.ready, c.temporary) for c in p.changes}
        assert status == {
            "gone": (Action.UNPLUG, False, True),
            "new": (Action.HOTPLUG, False, True),
            "v": (Action.MODIFY, True, False),
        }
        assert {c.reason for c in p.blocked} == {"controller live update in progress"}

    def test_held_names_are_blocked_temporarily_while_backing_off(self):
        p = run([hp_spec("web", 1), hp_spec("db", 2)], hold=frozenset({"web"}))
        status = {c.name: (c.ready, c.reason, c.temporary) for c in p.changes}
        assert status == {
            "db": (True, None, False),
            "web": (False, "backing off after failure", True),
        }


class TestFirmwareCreatedDevices:
    """Static PFs and VFs are never created by us: a missing one is reported, not hotplugged."""

    def test_missing_vf_waits_for_the_host(self):
        change = only(run([vf_spec("v", 0, 5, 1, mtu=9000)], [vf_dev("F0", 0, 0, 2)]))
        assert change.action is Action.MODIFY
        assert not change.ready
        assert change.reason == "waiting for the host to create it (sriov_numvfs)"
        assert fields(change)["mtu"] == (None, 9000)

    def test_missing_static_pf_names_the_firmware_setting(self):
        spec = DeviceSpec(name="pf", type=PF, mac=mac(1), pf_id=2)
        change = only(run([spec], firmware={Fw.NUM_PF: 2}))
        assert change.reason == "no static PF 2: firmware has VIRTIO_NET_EMULATION_NUM_PF=2"

    def test_missing_static_pf_with_unknown_firmware(self):
        spec = DeviceSpec(name="pf", type=PF, mac=mac(1), pf_id=0)
        assert only(run([spec])).reason.endswith("VIRTIO_NET_EMULATION_NUM_PF=unknown")


class TestPrune:
    """Only our own hotplug devices are unplugged, only with --prune and a complete read."""

    DEVICES = (hp_dev("V1", 1), hp_dev("V2", 2), vf_dev("F0", 0, 0, 3), pf_dev("P0", 0, 4))

    def test_owned_undeclared_hotplug_device_is_unplugged_with_prune(self):
        p = run([], self.DEVICES, [own("old-1", "V1", 1)], prune=True)
        change = only(p)
        assert (change.action, change.name, change.vuid, change.ready) == (
            Action.UNPLUG,
            "old-1",
            "V1",
            True,
        )
        assert [d.vuid for d in p.unmanaged] == ["F0", "P0", "V2"]

    def test_without_prune_the_device_stays_and_a_warning_says_how(self):
        p = run([], self.DEVICES, [own("old-1", "V1", 1)])
        assert p.empty
        assert p.warnings == ("old-1 (V1) is no longer declared; apply --prune unplugs it",)

    def test_nothing_is_pruned_when_a_spec_file_failed_to_load(self):
        p = run([], self.DEVICES, [own("old-1", "V1", 1)], errors=[BAD_FILE], prune=True)
        assert p.empty
        assert p.warnings == ("old-1: not unplugged because some spec files failed to load",)

    def test_static_pfs_and_vfs_are_never_unplugged_even_if_owned(self):
        records = [
            OwnershipRecord(name="v", vuid="F0", mac=mac(3), type=VF),
            OwnershipRecord(name="p", vuid="P0", mac=mac(4), type=PF),
        ]
        assert run([], self.DEVICES, records, prune=True).empty

    def test_rejected_names_are_never_pruned(self):
        p = run([], self.DEVICES, [own("bad", "V1", 1)], rejected=["bad"], prune=True)
        assert p.empty
        assert not p.forget

    def test_record_of_a_removed_spec_whose_device_is_gone_is_forgotten(self):
        p = run([], self.DEVICES, [own("old-1", "V9", 9)], prune=True)
        assert p.empty
        assert p.forget == ("old-1",)

    def test_declared_device_unplugged_behind_our_back_is_hotplugged_again(self):
        p = run([hp_spec("web", 1)], [], [own("web", "V1", 1)], prune=True)
        change = only(p)
        assert change.action is Action.HOTPLUG
        assert change.ready
        assert not p.forget  # the applier replaces the stale entry when the hotplug is recorded

    def test_unplug_of_a_migrating_device_waits(self):
        dev = ObservedDevice(vuid="V1", type=HP, pf_id=1, migrating=True)
        change = only(run([], [dev], [own("old-1", "V1", 1)], prune=True))
        assert (change.action, change.ready, change.temporary) == (Action.UNPLUG, False, True)
        assert change.reason == "device migrating (live update)"

    def test_record_of_a_retyped_spec_is_forgotten_once_its_hotplug_device_is_gone(self):
        p = run([vf_spec("web", 0, 0, 5)], [vf_dev("F0", 0, 0, 5)], [own("web", "V1", 1)])
        assert p.empty
        assert p.forget == ("web",)

    def test_rejected_spec_gets_no_change(self):
        p = run(
            [hp_spec("bad", 1, mtu=9000)],
            [hp_dev("V1", 1)],
            [own("bad", "V1", 1)],
            rejected=["bad"],
            prune=True,
        )
        assert p.empty


class TestRepresentor:
    """The kernel side of a device's SF representor follows the spec when we can see it."""

    SPEC = hp_spec("web", 1, representor=RepresentorSpec(up=True, mtu=9000))
    DEV = hp_dev("V1", 1, representor="en3f0pf0sf2000")

    def test_representor_up_and_mtu_are_diffed(self):
        rep = Representor("en3f0pf0sf2000", 9, up=False, mtu=1500)
        p = run([self.SPEC], inventory=[own("web", "V1", 1)], w=world(self.DEV, representors=[rep]))
        change = only(p)
        assert change.action is Action.REPRESENTOR
        assert change.ready
        assert fields(change) == {"up": (False, True), "mtu": (1500, 9000)}

    def test_matching_representor_gives_no_change(self):
        rep = Representor("en3f0pf0sf2000", 9, up=True, mtu=9000)
        p = run([self.SPEC], inventory=[own("web", "V1", 1)], w=world(self.DEV, representors=[rep]))
        assert p.empty

    def test_missing_representor_netdev_is_blocked(self):
        p = run([self.SPEC], inventory=[own("web", "V1", 1)], w=world(self.DEV, representors=[]))
        change = only(p)
        assert not change.ready
        assert change.reason == ("representor netdev en3f0pf0sf2000 not found in the kernel")

    def test_unreadable_representors_give_no_change(self):
        assert run([self.SPEC], [self.DEV], [own("web", "V1", 1)]).empty


class TestFirmwareLimits:
    """A plan that needs more than firmware provides fails before any mutating call."""

    def test_too_many_hotplug_ports(self):
        specs = [hp_spec(f"d{i}", i) for i in range(3)]
        p = run(specs, [hp_dev("V9", 9)], firmware={Fw.SWITCH_NUM_PORT: 3})
        assert p.errors == (
            "plan needs 4 hotplug ports, firmware has 3 (PCI_SWITCH_EMULATION_NUM_PORT)",
        )

    def test_unplugs_in_the_same_plan_free_ports(self):
        p = run(
            [hp_spec("a", 1)],
            [hp_dev("V9", 9)],
            [own("old", "V9", 9)],
            prune=True,
            firmware={Fw.SWITCH_NUM_PORT: 1},
        )
        assert not p.errors

    def test_sf_budget_is_counted_per_port_over_every_device(self):
        devices = [vf_dev("F0", 0, 0, 5), pf_dev("P0", 0, 6)]
        specs = [hp_spec("a", 1), dataclasses.replace(hp_spec("b", 2), ib_device="mlx5_1")]
        p = run(specs, devices, firmware={Fw.PF_TOTAL_SF: 2})
        assert p.errors == ("plan needs 3 SFs on mlx5_0, firmware has 2 (PF_TOTAL_SF)",)

    def test_vf_and_pf_ids_beyond_firmware(self):
        specs = [vf_spec("v", 0, 8, 1), DeviceSpec(name="p", type=PF, mac=mac(2), pf_id=2)]
        p = run(specs, firmware={Fw.NUM_PF: 2, Fw.NUM_VF: 8})
        assert p.errors == (
            "v: vf_id 8 needs 9 VFs per PF, firmware has 8 (VIRTIO_NET_EMULATION_NUM_VF)",
            "p: pf_id 2 needs 3 static PFs, firmware has 2 (VIRTIO_NET_EMULATION_NUM_PF)",
        )

    def test_max_queues_beyond_msix(self):
        p = run([hp_spec("a", 1, max_queues=8)], firmware={Fw.NUM_MSIX: 4})
        assert p.errors == ("a: max_queues 8 exceeds VIRTIO_NET_EMULATION_NUM_MSIX=4",)

    def test_unknown_firmware_checks_nothing(self):
        specs = [hp_spec(f"d{i}", i, max_queues=64) for i in range(40)]
        assert not run(specs).errors


class TestOrdering:
    """Unplugs, MAC-freeing modifies, hotplugs, other modifies, representors; by name within."""

    def test_groups_come_in_order_and_names_sort_within_a_group(self):
        rep = Representor("en3f0pf0sf2000", 9, up=False, mtu=1500)
        specs = [
            hp_spec("z-new", 20),
            hp_spec("a-new", 21),
            hp_spec("m-mod", 3, mtu=9000),
            hp_spec("r-rep", 4, representor=RepresentorSpec(up=True)),
        ]
        devices = [hp_dev("V1", 1), hp_dev("V3", 3), hp_dev("V4", 4, representor=rep.name)]
        inventory = [own("gone", "V1", 1), own("m-mod", "V3", 3), own("r-rep", "V4", 4)]
        p = run(specs, inventory=inventory, w=world(*devices, representors=[rep]), prune=True)
        assert [(c.action.value, c.name) for c in p.changes] == [
            ("unplug", "gone"),
            ("hotplug", "a-new"),
            ("hotplug", "z-new"),
            ("modify", "m-mod"),
            ("representor", "r-rep"),
        ]

    def test_a_mac_moving_between_devices_is_freed_before_it_is_taken(self):
        specs = [hp_spec("giver", 2), hp_spec("taker", 1)]
        inventory = [own("giver", "V1", 1)]
        p = run(specs, [hp_dev("V1", 1)], inventory)
        assert [(c.action.value, c.name, c.ready) for c in p.changes] == [
            ("modify", "giver", True),
            ("hotplug", "taker", True),
        ]

    def test_a_chain_of_mac_moves_runs_in_dependency_order(self):
        specs = [vf_spec("a", 0, 0, 2), vf_spec("b", 0, 1, 3), vf_spec("c", 0, 2, 4)]
        devices = [vf_dev("F0", 0, 0, 1), vf_dev("F1", 0, 1, 2), vf_dev("F2", 0, 2, 3)]
        p = run(specs, devices)
        assert [c.name for c in p.changes] == ["c", "b", "a"]
        assert all(c.ready for c in p.changes)

    def test_a_mac_swap_is_blocked_on_both_sides(self):
        specs = [vf_spec("a", 0, 0, 2), vf_spec("b", 0, 1, 1)]
        devices = [vf_dev("F0", 0, 0, 1), vf_dev("F1", 0, 1, 2)]
        p = run(specs, devices)
        assert [(c.name, c.ready) for c in p.changes] == [("a", False), ("b", False)]
        assert p.changes[0].reason.startswith("mac swap cycle with b")

    def test_a_mac_kept_by_a_blocked_device_blocks_its_taker(self):
        specs = [hp_spec("giver", 2, mtu=9000), hp_spec("taker", 1)]
        dev = hp_dev("V1", 1, driver_status=BOUND)
        p = run(specs, [dev], [own("giver", "V1", 1)])
        taker = next(c for c in p.changes if c.name == "taker")
        assert not taker.ready
        assert taker.reason == f"mac {mac(1)} is already used by spec 'giver' (V1)"

    def test_two_specs_claiming_one_new_mac_are_both_blocked(self):
        p = run([hp_spec("a", 1), hp_spec("b", 1)])
        assert [(c.name, c.ready) for c in p.changes] == [("a", False), ("b", False)]

    def test_plans_are_stable_whatever_the_input_order(self):
        specs = [hp_spec(f"d{i}", i, mtu=9000) for i in range(1, 9)]
        devices = [hp_dev(f"V{i}", i) for i in range(1, 9)]
        inventory = [own(f"d{i}", f"V{i}", i) for i in range(1, 9)]
        first = run(specs, devices, inventory)
        second = run(specs[::-1], devices[::-1], inventory[::-1])
        assert first.changes == second.changes
