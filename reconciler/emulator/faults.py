"""Fault injection: which call fails, which call crashes the controller, how slow calls are."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

__all__ = ["MUTATING_OPS", "FaultConfig", "Verdict"]

# Calls that change the controller; the default target of every fault.
MUTATING_OPS = ("hotplug", "unplug", "modify")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the fault plan decided for one call."""

    fail: bool = False
    crash: bool = False
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """A fault plan, persisted with the state so that every subprocess sees it.

    ``fail_nth`` / ``crash_at`` count calls whose op is in ``ops`` (1-based, since
    ``fault set``); ``fail_rate`` is drawn from a PRNG seeded with ``seed`` and the
    call number, so a run is reproducible.
    """

    fail_nth: int | None = None
    fail_rate: float = 0.0
    seed: int = 0
    latency_ms: float = 0.0
    crash_at: int | None = None
    ops: tuple[str, ...] = MUTATING_OPS
    seen: int = 0  # matching calls so far

    @property
    def armed(self) -> bool:
        return bool(self.fail_nth or self.fail_rate or self.latency_ms or self.crash_at)

    def judge(self, op: str) -> tuple[FaultConfig, Verdict]:
        """Count this call if it matches and say what happens to it."""
        if not self.armed or op not in self.ops:
            return self, Verdict()
        n = self.seen + 1
        draw = random.Random(f"{self.seed}:{n}").random()  # noqa: S311 - test fault plan
        fail = n == self.fail_nth or (self.fail_rate > 0 and draw < self.fail_rate)
        crash = n == self.crash_at
        return replace(self, seen=n), Verdict(fail=fail, crash=crash, latency_ms=self.latency_ms)

    def to_json(self) -> dict:
        return {
            "fail_nth": self.fail_nth,
            "fail_rate": self.fail_rate,
            "seed": self.seed,
            "latency_ms": self.latency_ms,
            "crash_at": self.crash_at,
            "ops": list(self.ops),
            "seen": self.seen,
        }

    @classmethod
    def from_json(cls, data: dict) -> FaultConfig:
        return cls(**{**data, "ops": tuple(data["ops"])})
