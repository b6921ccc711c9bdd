"""Carry out a plan's ready changes, in the order given, one controller call at a time.

Which changes to make is the planner's decision; the kinds' handlers
(:mod:`reconciler.resources.handlers`) make them. This module holds the rules that
apply at the moment of each call: a busy refusal is retried with backoff; a MAC
that another live device still holds is never given out (the change that frees it
may just have failed); ``--atomic`` undoes this run's changes on any failure. It
keeps the journal and the inventory in step with every call, so that a crash at any
point is settled by the next run (:mod:`reconciler.engine.crash`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from reconciler.errors import BackendError, BusyError, MacStillHeld
from reconciler.fields import Spec
from reconciler.model import Action, Change, ObservedWorld, OwnershipRecord
from reconciler.resources.handlers import HANDLERS
from reconciler.store.journal import Intent, Journal

__all__ = ["ApplyReport", "Executor", "RetryPolicy"]

log = structlog.get_logger("virtnet.apply")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff for busy (migrating / live update) refusals; seconds."""

    attempts: int = 5
    first_delay_s: float = 0.25
    max_delay_s: float = 4.0


@dataclass(slots=True)
class ApplyReport:
    """What an execution did; ``undo`` holds inverse steps for ``--atomic``."""

    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[str, str, bool]] = field(default_factory=list)
    mutating_calls: int = 0
    undo: list[Callable[[], None]] = field(default_factory=list)
    undone: list[Change] = field(default_factory=list)  # applied, then rolled back
    rolled_back: bool = False
    rollback_errors: list[str] = field(default_factory=list)

    def merge(self, other: ApplyReport) -> None:
        """Fold a later execution of the same cycle into this one."""
        self.applied += other.applied
        self.failed += other.failed
        self.mutating_calls += other.mutating_calls
        self.undo += other.undo
        self.undone += other.undone
        self.rolled_back |= other.rolled_back
        self.rollback_errors += other.rollback_errors


class Executor:
    """Runs ready changes against one backend, keeping journal and inventory in step.

    It is the :class:`reconciler.resources.base.Execution` every handler is given.
    """

    def __init__(
        self,
        backend,
        journal: Journal,
        inventory: dict[str, OwnershipRecord],
        save_inventory: Callable[[dict[str, OwnershipRecord]], None],
        *,
        retry: RetryPolicy = RetryPolicy(),
        progress: Callable[[int, int, Change], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.backend = backend
        self.journal = journal
        self.inventory = inventory
        self._save_inventory = save_inventory
        self.retry = retry
        self.progress = progress
        self.sleep = sleep
        self.macs: dict[str, str] = {}  # MAC -> VUID of the live device holding it
        self._report = ApplyReport()

    def track(self, world: ObservedWorld) -> None:
        """Start from who holds which MAC, so no change can make two devices share one.

        The plan orders a MAC's release before its new claim; if the release fails,
        the claim must not run. A migrating device hides its MAC: ours still holds
        the one in our record.
        """
        by_vuid = {r.vuid: r.mac for r in self.inventory.values()}
        self.macs = {}
        for dev in world.devices:
            mac = dev.mac or by_vuid.get(dev.vuid)
            if mac:
                self.macs[mac.lower()] = dev.vuid

    def run(self, changes: tuple[Change, ...], *, atomic: bool = False) -> ApplyReport:
        report = self._report = ApplyReport()
        total = len(changes)
        for index, change in enumerate(changes, 1):
            if self.progress:
                self.progress(index, total, change)
            started = time.monotonic()
            try:
                self._check_mac(change)
                self._with_retries(change)
                self._moved_mac(change)
            except (BackendError, MacStillHeld) as exc:
                temporary = isinstance(exc, BusyError | MacStillHeld)
                report.failed.append((change.name, str(exc), temporary))
                log.warning(
                    "change_failed",
                    device=change.name,
                    action=change.action.value,
                    error=str(exc),
                    temporary=temporary,
                )
                if atomic:
                    self.rollback(report)
                    break
                continue
            report.applied.append(change)
            for name, (old, new) in change.fields.items():
                log.info(
                    "applied",
                    device=change.name,
                    action=change.action.value,
                    field=name,
                    old=old,
                    new=new,
                    duration_ms=round((time.monotonic() - started) * 1000, 1),
                )
        return report

    def rollback(self, report: ApplyReport) -> None:
        """Undo what this run changed, newest first; log (not raise) failures of the undo."""
        for step in reversed(report.undo):
            try:
                step()
                report.mutating_calls += 1
            except BackendError as exc:
                report.rollback_errors.append(str(exc))
                log.error("rollback_step_failed", error=str(exc))
        report.undo.clear()
        report.undone += report.applied
        report.applied.clear()  # nothing this run did is left in place
        report.rolled_back = True

    # -- what a handler may use (reconciler.resources.base.Execution) --------------

    @contextlib.contextmanager
    def journaled(self, op: str, name: str, **ids: Any) -> Iterator[None]:
        """The intent is on disk before the block; cleared only when the block succeeds."""
        self.journal.begin(Intent(op, name, **ids))
        yield
        self.journal.done()

    def mutating_call(self) -> None:
        self._report.mutating_calls += 1

    def on_undo(self, step: Callable[[], None]) -> None:
        self._report.undo.append(step)

    def own(self, record: OwnershipRecord) -> None:
        self.inventory[record.name] = record
        self._save_inventory(self.inventory)

    def disown(self, name: str, *, vuid: str | None = None) -> None:
        """Forget ``name`` (only while its record still names ``vuid``, when given)."""
        if vuid is None:
            self.inventory.pop(name, None)
        elif (record := self.inventory.get(name)) is not None and record.vuid == vuid:
            del self.inventory[name]
        else:
            return
        self._save_inventory(self.inventory)

    def owe_restart(self, config_name: str) -> None:
        self.journal.owe_restart(config_name)

    def restart_done(self) -> None:
        self.journal.restart_done()

    def is_live(self, vuid: str) -> bool:
        return vuid in self.macs.values()

    # -- MAC bookkeeping --------------------------------------------------------

    def _check_mac(self, change: Change) -> None:
        mac = _new_mac(change)
        holder = self.macs.get(mac) if mac else None
        if holder is not None and holder != change.vuid:
            raise MacStillHeld(
                f"mac {mac} is still used by device {holder} (the change that frees it did "
                "not happen); not applied"
            )

    def _moved_mac(self, change: Change) -> None:
        gone = change.vuid if change.action in (Action.UNPLUG, Action.REPLACE) else None
        mac = _new_mac(change)
        if change.action is Action.MODIFY and mac:
            gone = change.vuid
        if gone is not None:
            self.macs = {m: v for m, v in self.macs.items() if v != gone}
        if mac:
            record = self.inventory.get(change.name)
            vuid = change.vuid if change.action is Action.MODIFY else (record and record.vuid)
            if vuid:
                self.macs[mac] = vuid

    # -- one change ----------------------------------------------------------

    def _with_retries(self, change: Change) -> None:
        delay = self.retry.first_delay_s
        handler = HANDLERS[change.action]
        for attempt in range(1, self.retry.attempts + 1):
            try:
                handler(self, change)
                return
            except BusyError:
                if attempt == self.retry.attempts:
                    raise
                log.info("busy_retry", device=change.name, attempt=attempt, delay_s=delay)
                self.sleep(delay)
                delay = min(delay * 2, self.retry.max_delay_s)


def _new_mac(change: Change) -> str | None:
    """The MAC a change gives to a device (hotplug, replace, or a modify of the MAC)."""
    if change.action in (Action.HOTPLUG, Action.REPLACE) and change.spec is not None:
        return change.spec.mac.lower()
    if change.action is Action.MODIFY and Spec.MAC in change.fields:
        new = change.fields[Spec.MAC][1]
        return new.lower() if isinstance(new, str) else None
    return None
