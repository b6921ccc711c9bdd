"""The executor: busy refusals are retried with exponential backoff; a MAC is never doubled."""

from __future__ import annotations

from types import SimpleNamespace

from reconciler.apply import Executor, RetryPolicy
from reconciler.errors import BackendError, BusyError
from reconciler.model import (
    Action,
    Change,
    ControllerInfo,
    DeviceSpec,
    DeviceType,
    ObservedDevice,
    ObservedWorld,
    frozen_map,
)
from reconciler.store.journal import Journal


class FakeCli:
    """Refuses the first ``busy`` modify calls with EBUSY, then accepts; records hotplugs."""

    def __init__(self, busy: int = 0):
        self.busy = busy
        self.modifies: list[tuple[str, dict]] = []
        self.hotplugs: list[str] = []

    def modify(self, vuid, changes):
        if self.busy:
            self.busy -= 1
            raise BusyError("virtnet modify: device is migrating (errno 16)", errno=16)
        self.modifies.append((vuid, dict(changes)))

    def hotplug(self, spec):
        self.hotplugs.append(spec.mac)
        return SimpleNamespace(vuid="NEW", pf_id=5, sf_num=2005)


def executor(tmp_path, cli, sleeps):
    backend = SimpleNamespace(cli=cli, netns=None, conf_path=tmp_path / "virtnet.conf")
    return Executor(
        backend,
        Journal(tmp_path / "journal.json"),
        {},
        lambda inv: None,
        retry=RetryPolicy(attempts=4, first_delay_s=0.25, max_delay_s=4.0),
        sleep=sleeps.append,
    )


def mtu_change(vuid="V1"):
    return Change(Action.MODIFY, "web", frozen_map({"mtu": (1500, 9000)}), vuid=vuid)


class TestBusyRetries:
    """EBUSY (migrating, live update) is retried with growing delays, never a tight loop."""

    def test_busy_twice_then_accepted_after_doubling_delays(self, tmp_path):
        sleeps: list[float] = []
        cli = FakeCli(busy=2)
        report = executor(tmp_path, cli, sleeps).run((mtu_change(),))
        assert sleeps == [0.25, 0.5]
        assert cli.modifies == [("V1", {"mtu": 9000})]
        assert [c.name for c in report.applied] == ["web"]
        assert report.failed == []

    def test_still_busy_after_all_attempts_is_a_temporary_failure(self, tmp_path):
        sleeps: list[float] = []
        report = executor(tmp_path, FakeCli(busy=10), sleeps).run((mtu_change(),))
        assert sleeps == [0.25, 0.5, 1.0]
        ((name, message, temporary),) = report.failed
        assert (name, temporary) == ("web", True)
        assert "migrating" in message

    def test_other_refusals_are_not_retried(self, tmp_path):
        class Refusing(FakeCli):
            def modify(self, vuid, changes):
                raise BackendError("virtnet modify: Invalid MTU (errno 22)", errno=22)

        sleeps: list[float] = []
        report = executor(tmp_path, Refusing(), sleeps).run((mtu_change(),))
        assert sleeps == []
        assert report.failed[0][2] is False


class TestMacGuard:
    """A hotplug whose MAC another live device still holds is skipped, never sent."""

    def test_hotplug_of_a_mac_still_held_is_not_sent(self, tmp_path):
        cli = FakeCli()
        ex = executor(tmp_path, cli, [])
        holder = ObservedDevice(
            vuid="OLD", type=DeviceType.HOTPLUG, pf_id=2, mac="0c:c4:7a:00:00:01"
        )
        ex.track(ObservedWorld(controller=ControllerInfo(), devices=(holder,)))
        spec = DeviceSpec(
            name="web",
            type=DeviceType.HOTPLUG,
            mac="0c:c4:7a:00:00:01",
            ib_device="mlx5_0",
            mtu=1500,
            max_queues=4,
            max_queue_size=256,
        )
        report = ex.run(
            (Change(Action.HOTPLUG, "web", frozen_map({"mac": (None, spec.mac)}), spec=spec),)
        )
        assert cli.hotplugs == []
        ((name, message, temporary),) = report.failed
        assert (name, temporary) == ("web", True)
        assert "still used by device OLD" in message
