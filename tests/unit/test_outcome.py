"""Per-spec statuses: every declared spec gets one, rejected ones included."""

from __future__ import annotations

from reconciler.engine.outcome import spec_statuses
from reconciler.model import DesiredState, DeviceSpec, DeviceType, Plan, SpecState


class TestRejectedSpecs:
    """A spec the loader rejected (overlap, bad field) is reported as an error, not dropped."""

    def test_rejected_names_appear_with_an_error(self):
        ok = DeviceSpec(name="ok", type=DeviceType.HOTPLUG, mac="0c:c4:7a:00:00:01")
        desired = DesiredState(devices=(ok,), rejected=frozenset({"dup-a", "dup-b"}))
        statuses = {s.name: s for s in spec_statuses(desired, Plan())}
        assert set(statuses) == {"ok", "dup-a", "dup-b"}
        assert statuses["dup-a"].state is SpecState.ERROR
        assert "rejected" in statuses["dup-a"].reason
        assert statuses["ok"].state is SpecState.APPLIED
