"""Per-device backoff: exponential, capped, cleared by success, blind to held names."""

from __future__ import annotations

from reconciler.model import Action, Change, ChangeStatus, CycleResult, Plan
from reconciler.watch.backoff import Backoff


def _failed(*names: str, temporary: bool = True) -> CycleResult:
    return CycleResult(plan=Plan(), failed=tuple((n, "EBUSY", temporary) for n in names))


def _ok() -> CycleResult:
    return CycleResult(plan=Plan())


class TestExponentialDelays:
    """1 s, 2 s, 4 s ... up to the maximum, for a name that keeps failing."""

    def test_delays_double_and_are_capped(self):
        backoff = Backoff(initial=1.0, maximum=5.0)
        now, delays = 0.0, []
        for _ in range(5):
            hold = backoff.update(_failed("web"), frozenset(), now)["web"]
            delays.append(hold.until - now)
            now = hold.until  # retried exactly when allowed, failed again
        assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]

    def test_a_name_is_held_until_its_delay_expires(self):
        backoff = Backoff(initial=1.0)
        backoff.update(_failed("web"), frozenset(), 10.0)
        assert backoff.held(10.5) == {"web"}
        assert backoff.held(11.0) == frozenset()
        assert backoff.next_expiry(10.5) == 11.0
        assert backoff.next_expiry(11.0) is None


class TestClearing:
    """Success clears; a held (unattempted) name keeps its entry."""

    def test_success_after_retry_clears_the_backoff(self):
        backoff = Backoff()
        backoff.update(_failed("web"), frozenset(), 0.0)
        backoff.update(_ok(), frozenset(), 2.0)
        assert backoff.get("web") is None
        hold = backoff.update(_failed("web"), frozenset(), 3.0)["web"]
        assert hold.attempts == 1

    def test_a_held_name_is_not_judged_by_a_cycle_that_skipped_it(self):
        backoff = Backoff()
        backoff.update(_failed("web"), frozenset(), 0.0)
        backoff.update(_ok(), frozenset({"web"}), 0.5)
        assert backoff.held(0.5) == {"web"}

    def test_only_the_failing_device_is_held(self):
        backoff = Backoff()
        result = CycleResult(
            plan=Plan(changes=(Change(Action.MODIFY, "db"),)),
            applied=(Change(Action.MODIFY, "db"),),
            failed=(("web", "EBUSY", True),),
        )
        backoff.update(result, frozenset(), 0.0)
        assert backoff.held(0.0) == {"web"}


class TestWhatBacksOff:
    """Refused changes and temporarily blocked ones back off; operator edits free permanent ones."""

    def test_a_temporarily_blocked_change_backs_off(self):
        migrating = Change(
            Action.MODIFY,
            "web",
            status=ChangeStatus.BLOCKED,
            reason="device migrating",
            temporary=True,
        )
        guest = Change(
            Action.MODIFY, "db", status=ChangeStatus.BLOCKED, reason="guest driver bound"
        )
        backoff = Backoff()
        backoff.update(CycleResult(plan=Plan(changes=(migrating, guest))), frozenset(), 0.0)
        assert backoff.held(0.0) == {"web"}

    def test_release_permanent_keeps_temporary_holds(self):
        backoff = Backoff()
        result = CycleResult(
            plan=Plan(), failed=(("busy", "EBUSY", True), ("badmac", "EINVAL", False))
        )
        backoff.update(result, frozenset(), 0.0)
        assert backoff.release_permanent() == {"badmac"}
        assert backoff.held(0.0) == {"busy"}
