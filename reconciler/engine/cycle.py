"""One reconcile cycle as named phases: recover, observe, plan, execute, verify, report.

The engine is the only place that sequences the layers; each layer stays ignorant of
the others (the loader of the controller, the planner of I/O, the drivers of
policy). A :class:`Cycle` carries what one cycle learned from phase to phase.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from reconciler.apply import ApplyReport, Executor, RetryPolicy
from reconciler.engine import outcome
from reconciler.engine.crash import await_interrupted, explain_waits, settle_interrupted
from reconciler.engine.loop_guard import LoopGuard, LoopVerdict
from reconciler.errors import EXIT_ERROR, BackendError, ReconcilerError
from reconciler.model import (
    Action,
    Change,
    CycleResult,
    DesiredState,
    ObservedWorld,
    OwnershipRecord,
    Plan,
    SpecState,
    SpecStatus,
)
from reconciler.plan import PlanOptions
from reconciler.plan import plan as plan_changes
from reconciler.resources.device import generation
from reconciler.store.inventory import load_inventory, save_inventory
from reconciler.store.journal import Intent, Journal
from reconciler.store.lock import writer_lock

__all__ = ["Cycle", "Engine", "EngineOptions"]

# rounds of changes that earlier changes made possible, within one cycle
_FOLLOW_UP_ROUNDS = 2

log = structlog.get_logger("virtnet.engine")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How a cycle behaves; mirrors the CLI flags of ``apply`` / ``watch``."""

    state_dir: Path
    prune: bool = False
    allow_replace: bool = False
    allow_restart: bool = False
    atomic: bool = False
    dry_run: bool = False
    check_permissions: bool = True
    status_dir: Path | None = None
    lock_timeout: float = 10.0  # seconds to wait for another writer
    verify_attempts: int = 3  # re-observations before a change is called "did not take"
    verify_delay_s: float = 0.3
    # seconds a call left in flight by a crashed run may still land; None = the backend's
    interrupted_grace_s: float | None = None


@dataclass(slots=True)
class Cycle:
    """What one cycle has learned so far; each phase reads it and adds its part.

    ``plan`` is the plan reported (changes made possible during the cycle are added
    to it); ``remaining`` is what the last observation still asks for.
    """

    hold: frozenset[str]
    started: float
    desired: DesiredState
    interrupted: list[Intent] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # name -> why it waits for a crash
    world: ObservedWorld | None = None
    inventory: dict[str, OwnershipRecord] = field(default_factory=dict)
    options: PlanOptions = field(default_factory=PlanOptions)
    plan: Plan = field(default_factory=Plan)
    remaining: Plan = field(default_factory=Plan)
    report: ApplyReport = field(default_factory=ApplyReport)
    looped: list[LoopVerdict] = field(default_factory=list)
    observe_calls: int = 0
    drift_repaired: int = 0
    executor: Executor | None = None
    guard: LoopGuard | None = None


class Engine:
    """Runs cycles against one backend; keeps the loader cache between cycles."""

    def __init__(
        self,
        options: EngineOptions,
        backend,
        *,
        progress: Callable[[int, int, Change], None] | None = None,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ):
        from reconciler.loading import LoadCache

        self.options = options
        self.backend = backend
        self.cache = LoadCache()
        self.progress = progress
        self.retry = retry
        self.sleep = sleep
        self.data_dir = backend.data_dir
        self.journal = Journal(self.data_dir / "journal.json")
        self.inventory_path = self.data_dir / "inventory.json"
        self.loops_path = self.data_dir / "loops.json"

    # -- public ----------------------------------------------------------------

    def load(self) -> DesiredState:
        from reconciler.loading import load_state

        return load_state(
            self.options.state_dir,
            cache=self.cache,
            check_permissions=self.options.check_permissions,
        )

    def diff(self, *, hold: frozenset[str] = frozenset()) -> CycleResult:
        """Plan against a fresh observation; change nothing, take no lock."""
        cycle = self.begin(hold)
        self.observe(cycle)
        self.plan(cycle)
        desired, the_plan = cycle.desired, cycle.plan
        statuses = outcome.spec_statuses(
            desired, the_plan, verified=False, generations=_generations(desired)
        )
        return CycleResult(
            plan=the_plan,
            statuses=statuses,
            errors=tuple(str(e) for e in desired.errors) + the_plan.errors,
            observe_calls=cycle.observe_calls,
            duration_s=time.monotonic() - cycle.started,
            exit_code=outcome.diff_exit_code(desired, the_plan),
        )

    def reconcile(self, *, hold: frozenset[str] = frozenset()) -> CycleResult:
        """A full cycle under the one-writer lock (a dry run only plans), then the status file."""
        started = time.monotonic()
        try:
            if self.options.dry_run:
                result = self.diff(hold=hold)
            else:
                with writer_lock(self.data_dir / "lock", timeout=self.options.lock_timeout):
                    result = self._cycle(hold)
        except BackendError as exc:
            # the status file must not keep saying "applied" while nobody can check
            result = self._unreachable(exc, time.monotonic() - started)
        except OSError as exc:  # our own state files (disk full, read-only data dir)
            raise ReconcilerError(f"cannot write the reconciler's state: {exc}") from exc
        self._write_status(result)
        return result

    # -- the cycle, phase by phase -------------------------------------------------

    def _cycle(self, hold: frozenset[str]) -> CycleResult:
        cycle = self.begin(hold)
        self.recover(cycle)
        self.observe(cycle)
        self.plan(cycle)
        if not cycle.plan.errors:  # firmware limits or overlaps: not a single mutating call
            self.execute(cycle)
            self.verify(cycle)
        return self.report(cycle)

    def begin(self, hold: frozenset[str]) -> Cycle:
        """Read the state dir: what is wanted this cycle."""
        return Cycle(hold=frozenset(hold), started=time.monotonic(), desired=self.load())

    def recover(self, cycle: Cycle) -> None:
        """Wait for the calls a crashed run left in flight, before observing their effect."""
        cycle.interrupted = await_interrupted(self.journal, timeout=self.backend.cli.timeout)

    def observe(self, cycle: Cycle) -> None:
        """One observation of the controller, our inventory, and what those calls did."""
        cycle.world = self._observe_world()
        cycle.observe_calls += 1
        cycle.inventory = load_inventory(self.inventory_path)
        if cycle.interrupted:
            cycle.waiting, still = settle_interrupted(
                cycle.interrupted, cycle.world, cycle.inventory, grace_s=self._grace_s()
            )
            save_inventory(self.inventory_path, cycle.inventory)
            self.journal.set_interrupted(still)

    def plan(self, cycle: Cycle) -> None:
        """The changes the desired state needs against the observation (pure)."""
        cycle.options = self._plan_options(cycle)
        the_plan = explain_waits(self.replan(cycle, cycle.world), cycle.waiting)
        cycle.plan = cycle.remaining = self._with_notes(the_plan, cycle.world, cycle.desired)

    def replan(self, cycle: Cycle, world: ObservedWorld) -> Plan:
        """Plan the cycle against ``world``; a restart done in this cycle is no longer owed."""
        options = dataclasses.replace(cycle.options, restart_owed=self.journal.restart_owed())
        return plan_changes(cycle.desired, world, cycle.inventory, options)

    def execute(self, cycle: Cycle) -> None:
        """Run the ready changes; a controller restart (config) first, then a fresh plan.

        After a restart the controller rebuilt its devices from recovery records, so the
        device changes are planned again against what it now runs (MTU and the like
        revert): the reconciler puts back what the restart lost in the same apply.
        """
        self._record_adoptions(cycle)
        cycle.drift_repaired = _drift_repairs(cycle.plan, cycle.inventory)
        cycle.executor = Executor(
            self.backend,
            self.journal,
            cycle.inventory,
            lambda inv: save_inventory(self.inventory_path, inv),
            retry=self.retry,
            progress=self.progress,
            sleep=self.sleep,
        )
        cycle.executor.track(cycle.world)
        cycle.guard = LoopGuard(self.loops_path)
        ready = list(cycle.plan.ready)
        config = [c for c in ready if c.action is Action.CONFIG]
        if not config:
            self._run(cycle, ready)
            return
        cycle.report.merge(cycle.executor.run(tuple(config)))
        if cycle.report.failed:
            return  # never touch devices of a controller that may be down
        world = self._observe_world()
        cycle.executor.track(world)
        again = self.replan(cycle, world)
        if not again.errors:
            self._run(cycle, [c for c in again.ready if c.action is not Action.CONFIG])

    def verify(self, cycle: Cycle) -> None:
        """Re-observe until what was applied shows, then run what it made possible.

        A new device's representor, say, can only be planned once the device exists:
        such follow-up changes run (and are verified) in the same cycle, a bounded
        number of rounds, and join the reported plan.
        """
        report = cycle.report
        if report.applied or report.rolled_back or cycle.plan.forget:
            self._confirm(cycle, report)
        for _round in range(_FOLLOW_UP_ROUNDS):
            attempted = {(c.name, c.action) for c in cycle.plan.changes}
            follow = [c for c in cycle.remaining.ready if (c.name, c.action) not in attempted]
            if not follow or report.rolled_back or report.failed:
                break
            more = self._run(cycle, follow)
            cycle.plan = dataclasses.replace(cycle.plan, changes=cycle.plan.changes + tuple(follow))
            self._confirm(cycle, more)

    def report(self, cycle: Cycle) -> CycleResult:
        """Per-spec statuses and the exit code: ``applied`` only where the observation agrees."""
        desired, report = cycle.desired, cycle.report
        errors = [str(e) for e in desired.errors] + list(cycle.plan.errors)
        if report.rolled_back:
            errors.append(
                f"apply failed and was rolled back ({len(report.undone)} change(s) undone)"
                + (
                    f"; rollback problems: {'; '.join(report.rollback_errors)}"
                    if report.rollback_errors
                    else ""
                )
            )
        failed = list(report.failed) + [(v.name, v.message, False) for v in cycle.looped]
        # nothing ran (plan errors) or nothing was left applied (rolled back): what the
        # plan asks for is still to do, not "did not take"
        verified = not cycle.plan.errors and not report.rolled_back
        statuses = outcome.spec_statuses(
            desired,
            cycle.remaining,
            failed=failed,
            generations=_generations(desired),
            verified=verified,
        )
        exit_code = outcome.apply_exit_code(desired, cycle.remaining, statuses, cycle.plan.errors)
        if report.rolled_back:
            exit_code = EXIT_ERROR
        return CycleResult(
            plan=cycle.plan,
            statuses=statuses,
            applied=tuple(report.applied),
            failed=tuple(failed),
            errors=tuple(errors),
            mutating_calls=report.mutating_calls,
            observe_calls=cycle.observe_calls,
            drift_repaired=cycle.drift_repaired,
            duration_s=time.monotonic() - cycle.started,
            exit_code=exit_code,
        )

    # -- helpers of the phases ------------------------------------------------------

    def _run(self, cycle: Cycle, ready: list[Change]) -> ApplyReport:
        """Execute, except changes that keep being undone (DESIGN 8: no apply loops)."""
        guard = cycle.guard
        # the start time only matters for a change applied before (a possible loop):
        # a first application costs no extra controller call
        started_at = self._controller_start() if guard.seen_before(ready) else None
        runnable = []
        for change in ready:
            verdict = guard.verdict(change, started_at)
            if verdict is None:
                runnable.append(change)
            else:
                cycle.looped.append(verdict)
                log.error("apply_loop", device=change.name, reason=verdict.message)
        report = cycle.executor.run(tuple(runnable), atomic=self.options.atomic)
        for change in report.applied:
            guard.applied(change, started_at)
        guard.settle(ready)
        try:
            guard.save()
        except OSError as exc:
            log.warning("loop_guard_not_saved", path=str(self.loops_path), error=str(exc))
        cycle.report.merge(report)
        return report

    def _confirm(self, cycle: Cycle, report: ApplyReport) -> None:
        """Re-observe until ``report``'s changes show (or attempts run out); forget unplugged."""
        applied = {c.name for c in report.applied}
        remaining = Plan()
        for attempt in range(self.options.verify_attempts):
            world = self._observe_world()
            cycle.observe_calls += 1
            remaining = self.replan(cycle, world)
            if remaining.forget:
                for name in remaining.forget:
                    cycle.inventory.pop(name, None)
                save_inventory(self.inventory_path, cycle.inventory)
                remaining = self.replan(cycle, world)
            lagging = [c for c in remaining.ready if c.name in applied]
            if not lagging or attempt == self.options.verify_attempts - 1:
                break
            self.sleep(self.options.verify_delay_s)
        cycle.remaining = remaining

    def _unreachable(self, exc: BackendError, duration_s: float) -> CycleResult:
        """A cycle that could not observe the controller: every spec is in error, retried."""
        desired = self.load()
        generations = _generations(desired)
        reason = str(exc)
        statuses = tuple(
            SpecStatus(s.name, SpecState.ERROR, reason, generations.get(s.name), temporary=True)
            for s in desired.devices
        )
        return CycleResult(
            plan=Plan(),
            statuses=statuses,
            errors=(reason,),
            duration_s=duration_s,
            exit_code=EXIT_ERROR,
        )

    def _controller_start(self) -> float | None:
        """When the controller last started; None when it does not say.

        Read fresh rather than from the per-process capability cache: a restart between
        two watch cycles is exactly what loop detection must see.
        """
        try:
            return self.backend.cli.started_at()
        except BackendError:
            return None

    def _grace_s(self) -> float:
        """How long an interrupted call may still land after its client died."""
        if self.options.interrupted_grace_s is not None:
            return self.options.interrupted_grace_s
        return self.backend.interrupted_grace_s

    def _record_adoptions(self, cycle: Cycle) -> None:
        changed = False
        for record in cycle.plan.adoptions:
            cycle.inventory[record.name] = record
            changed = True
            log.info("adopted", device=record.name, vuid=record.vuid)
        for name in cycle.plan.forget:
            if cycle.inventory.pop(name, None) is not None:
                changed = True
        if changed:
            save_inventory(self.inventory_path, cycle.inventory)

    @staticmethod
    def _with_notes(the_plan: Plan, world: ObservedWorld, desired: DesiredState) -> Plan:
        """What observation could not read (firmware, records, representors) is said,
        when it matters: representors only if some spec manages one."""
        wants_rep = any(spec.representor is not None for spec in desired.devices)
        notes = tuple(
            n for n in world.notes if wants_rep or not n.startswith("representors not read")
        )
        if not notes:
            return the_plan
        return dataclasses.replace(the_plan, warnings=the_plan.warnings + notes)

    def _observe_world(self) -> ObservedWorld:
        from reconciler.observe import observe

        # firmware values are read once per process (they change only with a power cycle)
        return observe(self.backend, read_firmware=True, read_rdma=self.backend.has_rdma_devices)

    def _plan_options(self, cycle: Cycle) -> PlanOptions:
        firmware = dict(cycle.world.controller.firmware) or None
        if firmware is None and cycle.desired.firmware is not None:
            firmware = dict(cycle.desired.firmware.values)
        return PlanOptions(
            restart_owed=self.journal.restart_owed(),
            prune=self.options.prune,
            allow_replace=self.options.allow_replace,
            allow_restart=self.options.allow_restart,
            hold=cycle.hold | frozenset(cycle.waiting),
            firmware=firmware,
        )

    def _write_status(self, result: CycleResult) -> None:
        if self.options.status_dir is None:
            return
        from reconciler.status import write_status

        try:
            write_status(self.options.status_dir, result)
        except OSError as exc:
            log.warning(
                "status_write_failed",
                status_dir=str(self.options.status_dir),
                error=str(exc),
                fix="set VIRTNET_STATUS_DIR to a writable directory",
            )


def _generations(desired: DesiredState) -> dict[str, str]:
    return {spec.name: generation(spec) for spec in desired.devices}


def _drift_repairs(the_plan: Plan, inventory) -> int:
    """Hotplugs of names we already owned: someone removed the device behind our back."""
    return sum(1 for c in the_plan.ready if c.action is Action.HOTPLUG and c.name in inventory)
