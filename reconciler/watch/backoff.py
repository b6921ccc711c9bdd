"""Per-device exponential backoff: which names the next cycle must leave alone, and until when."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.model import CycleResult

__all__ = ["Backoff", "Hold", "failures_of"]


@dataclass(frozen=True)
class Hold:
    """One backed-off name: how many times in a row it failed and when it may be retried."""

    attempts: int
    until: float
    temporary: bool
    reason: str


def failures_of(result: CycleResult) -> dict[str, tuple[str, bool]]:
    """name -> (reason, temporary) for every change refused or temporarily blocked this cycle.

    Temporarily blocked changes (migrating device, live update) are included: the
    controller told us to come back later, which is exactly what backoff paces.
    """
    out: dict[str, tuple[str, bool]] = {}
    for change in result.plan.blocked:
        if change.temporary:
            out[change.name] = (change.reason or "temporarily blocked", True)
    for name, message, temporary in result.failed:
        out[name] = (message, temporary)
    return out


class Backoff:
    """Exponential delays per name: initial, 2x, 4x ... capped at ``maximum`` (seconds).

    A failing device is held out of the next cycles until its delay expires, so
    it neither hot-loops against the controller nor stalls the other devices.
    """

    def __init__(self, *, initial: float = 1.0, maximum: float = 300.0) -> None:
        self._initial = initial
        self._maximum = maximum
        self._holds: dict[str, Hold] = {}

    def held(self, now: float) -> frozenset[str]:
        """Names whose delay has not expired yet: pass them as the engine's ``hold``."""
        return frozenset(n for n, h in self._holds.items() if h.until > now)

    def next_expiry(self, now: float) -> float | None:
        """The earliest pending retry time, so the loop wakes for it instead of the resync."""
        pending = [h.until for h in self._holds.values() if h.until > now]
        return min(pending) if pending else None

    def get(self, name: str) -> Hold | None:
        return self._holds.get(name)

    def update(self, result: CycleResult, held: frozenset[str], now: float) -> dict[str, Hold]:
        """Fold one cycle in: new or repeated failures back off further, others clear.

        Names held this cycle were not attempted, so their outcome says nothing and
        their entry stays. Returns the holds created or extended, for logging.
        """
        failures = failures_of(result)
        for name in list(self._holds):
            if name not in held and name not in failures:
                del self._holds[name]  # attempted and did not fail: success clears
        changed: dict[str, Hold] = {}
        for name, (reason, temporary) in failures.items():
            if name in held:
                continue
            prev = self._holds.get(name)
            attempts = 1 if prev is None else prev.attempts + 1
            delay = min(self._maximum, self._initial * 2 ** (attempts - 1))
            hold = Hold(attempts, now + delay, temporary, reason)
            self._holds[name] = changed[name] = hold
        return changed

    def release_permanent(self) -> frozenset[str]:
        """Forget permanent failures: the operator just edited files, maybe to fix them.

        Temporary ones keep their pace: the controller, not the files, decides when
        a migration or live update ends.
        """
        gone = frozenset(n for n, h in self._holds.items() if not h.temporary)
        for name in gone:
            del self._holds[name]
        return gone
