"""Hotplugs on a port that only a pending controller config provides wait for that config."""

from __future__ import annotations

from reconciler.model import (
    Action,
    ControllerConfigSpec,
    ControllerInfo,
    DesiredState,
    DeviceSpec,
    DeviceType,
    ObservedWorld,
    frozen_map,
)
from reconciler.plan import PlanOptions, plan
from reconciler.resources.controller_config import port_devices

LAG = {"is_lag": 1, "ib_dev_lag": "mlx5_bond_0", "ib_dev_for_static_pf": "mlx5_bond_0"}


def _desired(ib: str) -> DesiredState:
    spec = DeviceSpec(name="bonded", type=DeviceType.HOTPLUG, mac="0c:c4:7a:00:00:01", ib_device=ib)
    return DesiredState(
        devices=(spec,), controller_config=ControllerConfigSpec("conf", frozen_map(LAG))
    )


def _world(on_disk) -> ObservedWorld:
    return ObservedWorld(
        controller=ControllerInfo(),
        devices=(),
        config_on_disk=frozen_map(on_disk) if on_disk is not None else None,
    )


class TestPortDevices:
    """Which RDMA devices a controller accepts follows virtnet.conf (reference 5 and 10.4)."""

    def test_default_config_has_both_ports(self):
        assert port_devices({}) == {"mlx5_0", "mlx5_1"}

    def test_lag_has_only_the_bond(self):
        assert port_devices(LAG) == {"mlx5_bond_0"}

    def test_single_port_has_only_p0(self):
        assert port_devices({"single_port": 1, "ib_dev_p0": "mlx5_2"}) == {"mlx5_2"}


class TestHotplugWaitsForConfig:
    """A bond hotplug is blocked, not sent to fail, while the LAG config awaits a restart."""

    def test_bond_hotplug_is_blocked_until_restart_is_allowed(self):
        p = plan(_desired("mlx5_bond_0"), _world({}), {}, PlanOptions())
        hotplug = next(c for c in p.changes if c.action is Action.HOTPLUG)
        assert not hotplug.ready
        assert "--allow-restart" in hotplug.reason

    def test_with_allow_restart_the_config_goes_first_and_the_hotplug_is_ready(self):
        p = plan(_desired("mlx5_bond_0"), _world({}), {}, PlanOptions(allow_restart=True))
        assert [c.action for c in p.changes] == [Action.CONFIG, Action.HOTPLUG]
        assert all(c.ready for c in p.changes)

    def test_hotplug_on_a_port_the_running_config_has_is_not_held(self):
        p = plan(_desired("mlx5_0"), _world({}), {}, PlanOptions())
        hotplug = next(c for c in p.changes if c.action is Action.HOTPLUG)
        assert hotplug.ready


class TestRdmaDevices:
    """When the RDMA devices could be read, a hotplug on a missing one is blocked, not sent."""

    def _world(self, rdma):
        return ObservedWorld(controller=ControllerInfo(), devices=(), rdma_devices=rdma)

    def test_hotplug_on_a_missing_rdma_device_is_blocked_with_what_exists(self):
        p = plan(_desired_plain("mlx5_3"), self._world(("mlx5_0", "mlx5_1")), {}, PlanOptions())
        (change,) = p.changes
        assert not change.ready
        assert change.reason == "no RDMA device mlx5_3 on this DPU (found: mlx5_0, mlx5_1)"

    def test_unknown_rdma_inventory_blocks_nothing(self):
        p = plan(_desired_plain("mlx5_3"), self._world(None), {}, PlanOptions())
        (change,) = p.changes
        assert change.ready


def _desired_plain(ib: str) -> DesiredState:
    spec = DeviceSpec(name="web", type=DeviceType.HOTPLUG, mac="0c:c4:7a:00:00:02", ib_device=ib)
    return DesiredState(devices=(spec,))
