"""Apply-loop detection: counts per (spec, field, value), a limit, and forgetting once quiet."""

from __future__ import annotations

from reconciler.engine.loop_guard import LoopGuard
from reconciler.model import Action, Change, frozen_map


def mtu_change(name: str = "web", new: int = 9000) -> Change:
    return Change(Action.MODIFY, name, frozen_map({"mtu": (1500, new)}), vuid="V1")


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestLoopGuard:
    """The same modify applied `limit` times is refused the next time it is wanted."""

    def test_change_is_refused_after_three_applications(self, tmp_path):
        guard = LoopGuard(tmp_path / "loops.json", clock=FakeClock())
        change = mtu_change()
        for start in (10.0, 20.0, 30.0):
            assert guard.verdict(change, start) is None
            guard.applied(change, start)
        verdict = guard.verdict(change, 40.0)
        assert verdict is not None
        assert verdict.name == "web"
        assert "web mtu -> 9000 reverted 3 times" in verdict.message
        assert "3 controller restart(s) in between" in verdict.message

    def test_counts_survive_between_runs(self, tmp_path):
        path = tmp_path / "data" / "loops.json"
        for _ in range(3):
            guard = LoopGuard(path)
            guard.applied(mtu_change(), 5.0)
            guard.save()
        assert LoopGuard(path).verdict(mtu_change(), 5.0) is not None

    def test_a_new_value_is_a_new_change(self, tmp_path):
        guard = LoopGuard(tmp_path / "loops.json")
        for _ in range(3):
            guard.applied(mtu_change(new=9000), 1.0)
        assert guard.verdict(mtu_change(new=4000), 1.0) is None

    def test_change_that_stayed_applied_is_forgotten_after_the_quiet_period(self, tmp_path):
        clock = FakeClock()
        guard = LoopGuard(tmp_path / "loops.json", clock=clock, quiet_s=60)
        guard.applied(mtu_change(), 1.0)
        guard.settle([])
        assert guard.seen_before([mtu_change()])
        clock.now += 61
        guard.settle([])
        assert not guard.seen_before([mtu_change()])

    def test_change_still_wanted_is_never_forgotten(self, tmp_path):
        clock = FakeClock()
        guard = LoopGuard(tmp_path / "loops.json", clock=clock, quiet_s=60)
        guard.applied(mtu_change(), 1.0)
        clock.now += 1000
        guard.settle([mtu_change()])
        assert guard.seen_before([mtu_change()])

    def test_unreadable_file_starts_from_zero(self, tmp_path):
        path = tmp_path / "loops.json"
        path.write_text("{not json")
        assert LoopGuard(path).entries == {}


class TestControllerStartTime:
    """The start time loop detection is keyed on comes from `health` (an emulator addition)."""

    def test_started_at_is_read_from_health(self):
        from reconciler.drivers.parse import json_values, parse_started_at

        text = '{"status": "healthy", "devices": 3, "started_at": "1764075428.125", "errno": 0}'
        assert parse_started_at(json_values(text)) == 1764075428.125

    def test_controller_that_does_not_say_gives_none(self):
        from reconciler.drivers.parse import json_values, parse_started_at

        assert parse_started_at(json_values('{"status": "healthy", "errno": 0}')) is None
        assert parse_started_at(json_values('{"started_at": "soon", "errno": 0}')) is None

    def test_in_process_emulator_reports_a_new_start_after_restart(self, tmp_path):
        from reconciler.drivers.parse import json_values, parse_started_at
        from reconciler.emulator import Emulator

        emu = Emulator(tmp_path)
        before = parse_started_at(json_values(emu.run(["health"])[1]))
        emu.run(["restart"])
        after = parse_started_at(json_values(emu.run(["health"])[1]))
        assert before is not None
        assert after is not None
        assert after >= before


def spec_change(mtu: int, old: int) -> Change:
    from reconciler.model import DeviceSpec, DeviceType

    spec = DeviceSpec(name="web", type=DeviceType.HOTPLUG, mac="0c:c4:7a:00:00:01", mtu=mtu)
    return Change(Action.MODIFY, "web", frozen_map({"mtu": (old, mtu)}), vuid="V1", spec=spec)


class TestOperatorEditsAreNotLoops:
    """Only reverts the spec did not ask for count; editing the spec back and forth is fine."""

    def test_toggling_the_spec_between_two_values_never_trips_the_guard(self, tmp_path):
        guard = LoopGuard(tmp_path / "loops.json")
        for _ in range(4):
            for new, old in ((9000, 1500), (1500, 9000)):
                change = spec_change(new, old)
                assert guard.verdict(change, 1.0) is None
                guard.applied(change, 1.0)

    def test_the_same_spec_reverted_behind_its_back_still_trips_it(self, tmp_path):
        guard = LoopGuard(tmp_path / "loops.json")
        for _ in range(3):
            guard.applied(spec_change(9000, 1500), 1.0)
        assert guard.verdict(spec_change(9000, 1500), 1.0) is not None
