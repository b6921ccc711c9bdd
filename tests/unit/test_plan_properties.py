"""Planner properties over random worlds: applying a plan converges, prune stays in its lane."""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.model import (
    Action,
    ControllerInfo,
    DesiredState,
    DeviceSpec,
    DeviceType,
    ObservedDevice,
    ObservedWorld,
    OwnershipRecord,
    Plan,
)
from reconciler.plan import PlanOptions, plan

HP, VF = DeviceType.HOTPLUG, DeviceType.VF
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mac(n: int) -> str:
    return f"0c:c4:7a:00:00:{n:02x}"


macs = st.integers(min_value=1, max_value=10)
mtus = st.sampled_from([None, 1500, 9000])


@st.composite
def hotplug_spec(draw, name: str, n: int) -> DeviceSpec:
    return DeviceSpec(
        name=name,
        type=HP,
        mac=mac(n),
        ib_device=draw(st.sampled_from(["mlx5_0", "mlx5_1"])),
        mtu=draw(mtus),
        max_queues=draw(st.sampled_from([None, 4, 8])),
        features=draw(st.sampled_from([None, 0x1, 0x3])),
        legacy=draw(st.booleans()),
    )


@st.composite
def scenario(draw):
    """Specs with unique names and MACs (the loader guarantees that) against a messy world."""
    spec_macs = draw(st.lists(macs, unique=True, max_size=6))
    specs = []
    for i, n in enumerate(spec_macs):
        if draw(st.booleans()):
            specs.append(draw(hotplug_spec(f"h{i}", n)))
        else:
            specs.append(
                DeviceSpec(name=f"h{i}", type=VF, mac=mac(n), pf_id=0, vf_id=i, mtu=draw(mtus))
            )
    devices = []
    for j in range(draw(st.integers(0, 6))):
        devices.append(
            ObservedDevice(
                vuid=f"V{j}",
                type=HP,
                pf_id=10 + j,
                mac=mac(draw(macs)),
                mtu=draw(mtus) or 1500,
                max_queues=draw(st.sampled_from([4, 8])),
                max_queue_size=256,
                features=draw(st.sampled_from([0x1, 0x3])),
                legacy=draw(st.booleans()),
                ib_device=draw(st.sampled_from(["mlx5_0", "mlx5_1"])),
                sf_num=2000 + j,
                driver_status=draw(st.sampled_from([0, 0, 0x7])),
            )
        )
    for vf_id in draw(st.sets(st.integers(0, 6), max_size=5)):
        devices.append(
            ObservedDevice(
                vuid=f"F{vf_id}",
                type=VF,
                pf_id=0,
                vf_id=vf_id,
                mac=mac(draw(macs)),
                mtu=1500,
                driver_status=draw(st.sampled_from([0, 0, 0x7])),
            )
        )
    hotplugs = [d for d in devices if d.type is HP]
    owners = (
        draw(
            st.lists(
                st.sampled_from([s.name for s in specs] + ["gone-a", "gone-b"]),
                unique=True,
                max_size=len(hotplugs),
            )
        )
        if hotplugs
        else []
    )
    inventory = {
        name: OwnershipRecord(name=name, vuid=dev.vuid, mac=dev.mac or "", type=HP)
        for name, dev in zip(owners, draw(st.permutations(hotplugs)), strict=False)
    }
    options = PlanOptions(prune=draw(st.booleans()), allow_replace=draw(st.booleans()))
    rejected = draw(st.sets(st.sampled_from(["h0", "h1", "gone-a"])))
    desired = DesiredState(devices=tuple(specs), rejected=frozenset(rejected))
    return desired, devices, inventory, options


class _FakeController:
    """Carries out ready changes on plain values, the way the applier and controller would."""

    def __init__(self, devices, inventory):
        self.devices = {d.vuid: d for d in devices}
        self.inventory = dict(inventory)
        self._ids = itertools.count(100)

    def world(self) -> ObservedWorld:
        return ObservedWorld(controller=ControllerInfo(), devices=tuple(self.devices.values()))

    def apply(self, the_plan: Plan) -> None:
        for record in the_plan.adoptions:
            self.inventory[record.name] = record
        for name in the_plan.forget:
            self.inventory.pop(name, None)
        for change in the_plan.ready:
            if change.action in (Action.UNPLUG, Action.REPLACE):
                del self.devices[change.vuid]
            if change.action in (Action.HOTPLUG, Action.REPLACE):
                self._hotplug(change)
            if change.action is Action.MODIFY:
                new = {k: v for k, (_old, v) in change.fields.items()}
                self.devices[change.vuid] = dataclasses.replace(self.devices[change.vuid], **new)

    def _hotplug(self, change) -> None:
        values = {k: v for k, (_old, v) in change.fields.items()}
        n = next(self._ids)
        values.setdefault("features", 0x1)  # the controller's default bits
        values.setdefault("sf_num", 2000 + n)
        dev = ObservedDevice(vuid=f"N{n}", type=HP, pf_id=n, **values)
        self.devices[dev.vuid] = dev
        self.inventory[change.name] = OwnershipRecord(
            name=change.name, vuid=dev.vuid, mac=dev.mac or "", type=HP
        )


def _key(change) -> tuple:
    return (change.action, change.name, change.reason)


class TestConvergence:
    """Applying a plan's ready changes leaves only what was blocked: a second plan adds nothing."""

    @SETTINGS
    @given(scenario())
    def test_plan_after_applying_the_plan_holds_only_the_blocked_changes(self, case):
        desired, devices, inventory, options = case
        controller = _FakeController(devices, inventory)
        first = plan(desired, controller.world(), controller.inventory, options)
        controller.apply(first)
        second = plan(desired, controller.world(), controller.inventory, options)
        assert not second.ready, second.ready
        assert sorted(map(_key, second.changes)) == sorted(map(_key, first.blocked))

    @SETTINGS
    @given(scenario())
    def test_no_device_ends_up_sharing_a_mac_it_did_not_already_share(self, case):
        desired, devices, inventory, options = case
        controller = _FakeController(devices, inventory)
        before = _shared_macs(controller.devices.values())
        controller.apply(plan(desired, controller.world(), controller.inventory, options))
        assert _shared_macs(controller.devices.values()) <= before


def _shared_macs(devices) -> set[str]:
    seen: dict[str, int] = {}
    for dev in devices:
        seen[dev.mac] = seen.get(dev.mac, 0) + 1
    return {m for m, count in seen.items() if count > 1}


class TestPruneSafety:
    """Prune never touches a device that is not in our inventory."""

    @SETTINGS
    @given(scenario())
    def test_unplugs_only_ever_name_owned_devices(self, case):
        desired, devices, inventory, options = case
        world = ObservedWorld(controller=ControllerInfo(), devices=tuple(devices))
        the_plan = plan(desired, world, inventory, dataclasses.replace(options, prune=True))
        owned = {record.vuid for record in inventory.values()}
        adopted = {record.vuid for record in the_plan.adoptions}
        for change in the_plan.changes:
            if change.action is Action.UNPLUG:
                assert change.vuid in owned
            if change.action is Action.REPLACE:
                assert change.vuid in owned | adopted
        assert not owned & {d.vuid for d in the_plan.unmanaged}
