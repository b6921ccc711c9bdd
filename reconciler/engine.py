"""One reconcile cycle: load, observe, plan, apply, verify, record status.

The engine is the only place that sequences the layers; each layer stays
ignorant of the others (the loader of the controller, the planner of I/O,
the drivers of policy).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from reconciler import outcome
from reconciler.apply import Executor, RetryPolicy, resolve_pending
from reconciler.errors import EXIT_ERROR, BackendError, ReconcilerError
from reconciler.model import (
    Action,
    Change,
    CycleResult,
    DesiredState,
    ObservedWorld,
    Plan,
    SpecState,
    SpecStatus,
)
from reconciler.plan import PlanOptions, plan
from reconciler.resources.loop_guard import LoopGuard, LoopVerdict
from reconciler.store.inventory import load_inventory, save_inventory
from reconciler.store.journal import Journal
from reconciler.store.lock import writer_lock

__all__ = ["Engine", "EngineOptions"]

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
    # seconds a call left in flight by a crashed run may still land; None = per backend
    interrupted_grace_s: float | None = None


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
            self.options.state_dir, cache=self.cache,
            check_permissions=self.options.check_permissions,
        )

    def diff(self, *, hold: frozenset[str] = frozenset()) -> CycleResult:
        """Plan against a fresh observation; change nothing, take no lock."""
        started = time.monotonic()
        desired = self.load()
        world = self._observe()
        inventory = load_inventory(self.inventory_path)
        the_plan = plan(desired, world, inventory, self._plan_options(desired, world, hold))
        the_plan = self._with_notes(the_plan, world, desired)
        statuses = outcome.spec_statuses(desired, the_plan, verified=False,
                                         generations=_generations(desired))
        return CycleResult(
            plan=the_plan, statuses=statuses,
            errors=tuple(str(e) for e in desired.errors) + the_plan.errors,
            observe_calls=1, duration_s=time.monotonic() - started,
            exit_code=outcome.diff_exit_code(desired, the_plan),
        )

    def reconcile(self, *, hold: frozenset[str] = frozenset()) -> CycleResult:
        """A full cycle under the one-writer lock (a dry run only plans)."""
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

    def _unreachable(self, exc: BackendError, duration_s: float) -> CycleResult:
        """A cycle that could not observe the controller: every spec is in error, retried."""
        desired = self.load()
        generations = _generations(desired)
        reason = str(exc)
        statuses = tuple(
            SpecStatus(s.name, SpecState.ERROR, reason, generations.get(s.name), temporary=True)
            for s in desired.devices
        )
        return CycleResult(plan=Plan(), statuses=statuses, errors=(reason,),
                           duration_s=duration_s, exit_code=EXIT_ERROR)

    # -- the cycle ---------------------------------------------------------------

    def _cycle(self, hold: frozenset[str]) -> CycleResult:
        started = time.monotonic()
        desired = self.load()
        interrupted = self._await_interrupted()
        world = self._observe()
        observe_calls = 1
        inventory = load_inventory(self.inventory_path)
        waiting = self._settle_interrupted(interrupted, world, inventory) if interrupted else {}
        options = self._plan_options(desired, world, hold | frozenset(waiting))
        the_plan = _explain_waits(plan(desired, world, inventory, options), waiting)
        the_plan = self._with_notes(the_plan, world, desired)
        errors = [str(e) for e in desired.errors]
        if the_plan.errors:
            # firmware limits or overlaps: not a single mutating call
            errors.extend(the_plan.errors)
            statuses = outcome.spec_statuses(desired, the_plan, verified=False,
                                             generations=_generations(desired))
            return CycleResult(
                plan=the_plan, statuses=statuses, errors=tuple(errors),
                observe_calls=observe_calls, duration_s=time.monotonic() - started,
                exit_code=outcome.apply_exit_code(desired, the_plan, statuses, the_plan.errors),
            )
        self._record_adoptions(the_plan, inventory)
        drift = _drift_repairs(the_plan, inventory)
        executor = Executor(
            self.backend, self.journal, inventory,
            lambda inv: save_inventory(self.inventory_path, inv),
            retry=self.retry, progress=self.progress, sleep=self.sleep,
        )
        executor.track(world)
        guard = LoopGuard(self.loops_path)
        report, looped = self._execute(
            executor, guard, the_plan, world, desired=desired, inventory=inventory, options=options
        )
        remaining = the_plan
        if report.applied or report.rolled_back or the_plan.forget:
            remaining, extra = self._verify(desired, inventory, options, report)
            observe_calls += extra
        for _round in range(_FOLLOW_UP_ROUNDS):
            # changes only the applied ones made possible (a new device's representor)
            attempted = {(c.name, c.action) for c in the_plan.changes}
            follow = [c for c in remaining.ready if (c.name, c.action) not in attempted]
            if not follow or report.rolled_back or report.failed:
                break
            more, more_looped = self._guarded_run(executor, guard, follow, world)
            report.merge(more)
            looped += more_looped
            the_plan = dataclasses.replace(the_plan, changes=the_plan.changes + tuple(follow))
            remaining, extra = self._verify(desired, inventory, options, more)
            observe_calls += extra
        failed = list(report.failed) + [(v.name, v.message, False) for v in looped]
        if report.rolled_back:
            errors.append(
                f"apply failed and was rolled back ({len(report.undone)} change(s) undone)"
                + (f"; rollback problems: {'; '.join(report.rollback_errors)}"
                   if report.rollback_errors else "")
            )
        # after a rollback nothing was left applied: what remains is still to do
        statuses = outcome.spec_statuses(desired, remaining, failed=failed,
                                         generations=_generations(desired),
                                         verified=not report.rolled_back)
        exit_code = outcome.apply_exit_code(desired, remaining, statuses, the_plan.errors)
        if report.rolled_back:
            exit_code = EXIT_ERROR
        return CycleResult(
            plan=the_plan, statuses=statuses, applied=tuple(report.applied),
            failed=tuple(failed), errors=tuple(errors), mutating_calls=report.mutating_calls,
            observe_calls=observe_calls, drift_repaired=drift,
            duration_s=time.monotonic() - started, exit_code=exit_code,
        )

    def _execute(self, executor, guard, the_plan, world, *, desired, inventory, options):
        """Run the ready changes; a controller restart (config) first, then a fresh plan.

        After a restart the controller rebuilt its devices from recovery records, so the
        device changes are planned again against what it now runs (MTU and the like
        revert): the reconciler puts back what the restart lost in the same apply.
        """
        ready = list(the_plan.ready)
        config = [c for c in ready if c.action is Action.CONFIG]
        if not config:
            return self._guarded_run(executor, guard, ready, world)
        report = executor.run(tuple(config))
        if report.failed:
            return report, []  # never touch devices of a controller that may be down
        world = self._observe()
        executor.track(world)
        again = plan(desired, world, inventory, self._refreshed(options))
        if again.errors:
            return report, []
        rest = [c for c in again.ready if c.action is not Action.CONFIG]
        more, looped = self._guarded_run(executor, guard, rest, world)
        report.merge(more)
        return report, looped

    def _guarded_run(self, executor, guard: LoopGuard, ready: list[Change], world):
        """Execute, except changes that keep being undone (DESIGN 8: no apply loops)."""
        # the start time only matters for a change applied before (a possible loop):
        # a first application costs no extra controller call
        started_at = self._controller_start() if guard.seen_before(ready) else None
        looped: list[LoopVerdict] = []
        runnable = []
        for change in ready:
            verdict = guard.verdict(change, started_at)
            if verdict is None:
                runnable.append(change)
            else:
                looped.append(verdict)
                log.error("apply_loop", device=change.name, reason=verdict.message)
        report = executor.run(tuple(runnable), atomic=self.options.atomic)
        for change in report.applied:
            guard.applied(change, started_at)
        guard.settle(ready)
        try:
            guard.save()
        except OSError as exc:
            log.warning("loop_guard_not_saved", path=str(self.loops_path), error=str(exc))
        return report, looped

    def _refreshed(self, options: PlanOptions) -> PlanOptions:
        """Options after changes ran: a restart done in this cycle is no longer owed."""
        return dataclasses.replace(options, restart_owed=self.journal.restart_owed())

    def _controller_start(self) -> float | None:
        """When the controller last started; None when it does not say.

        Read fresh rather than from the per-process capability cache: a restart between
        two watch cycles is exactly what loop detection must see.
        """
        try:
            return self.backend.cli.started_at()
        except BackendError:
            return None

    def _verify(self, desired, inventory, options, report) -> tuple[Plan, int]:
        """Re-observe until the applied changes show (or attempts run out); forget unplugged."""
        applied = {c.name for c in report.applied}
        options = self._refreshed(options)
        calls = 0
        remaining = Plan()
        for attempt in range(self.options.verify_attempts):
            world = self._observe()
            calls += 1
            remaining = plan(desired, world, inventory, options)
            if remaining.forget:
                for name in remaining.forget:
                    inventory.pop(name, None)
                save_inventory(self.inventory_path, inventory)
                remaining = plan(desired, world, inventory, options)
            lagging = [c for c in remaining.ready if c.name in applied]
            if not lagging or attempt == self.options.verify_attempts - 1:
                break
            self.sleep(self.options.verify_delay_s)
        return remaining, calls

    def _await_interrupted(self) -> list:
        """Calls a crashed run left in flight: wait for their CLI processes, keep them.

        The pending journal entry joins the interrupted list; any vendor-CLI process
        still carrying one of those calls is waited for (bounded by the CLI timeout)
        before we observe, so its effect is seen rather than duplicated.
        """
        intents = self.journal.interrupted()
        pending = self.journal.pending()
        if pending is not None:
            intents.append(pending)
            self.journal.set_interrupted(intents)
            self.journal.done()
        if intents:
            from reconciler.drivers.procs import wait_for_calls

            for intent in intents:
                if intent.op not in ("hotplug", "unplug", "modify"):
                    continue  # only vendor-CLI calls have a process to wait for
                markers = [intent.op, intent.mac or intent.vuid or ""]
                waited = wait_for_calls(markers, timeout=self.backend.cli.timeout)
                if waited:
                    log.warning("interrupted_call_waited", intent=intent.op,
                                device=intent.name, processes=waited)
        return intents

    def _settle_interrupted(self, intents, world: ObservedWorld, inventory) -> dict[str, str]:
        """Conclude what each interrupted call did; names still in doubt -> reason to wait."""
        waiting: dict[str, str] = {}
        still = []
        grace = self._interrupted_grace()
        for intent in intents:
            verdict, settled = resolve_pending(intent, world, inventory, grace_s=grace)
            if settled:
                log.warning("journal_recovered", intent=intent.op, device=intent.name,
                            verdict=verdict)
                continue
            still.append(intent)
            until = time.strftime("%H:%M:%S", time.localtime((intent.started or 0) + grace))
            waiting[intent.name] = f"{verdict} (a crashed run sent it); waiting until {until}"
        save_inventory(self.inventory_path, inventory)
        self.journal.set_interrupted(still)
        return waiting

    def _interrupted_grace(self) -> float:
        """How long an interrupted call may still land after its client died.

        A real controller daemon finishes an RPC whose CLI was killed, up to the CLI's
        timeout; the emulator's controller lives in its CLI process, so once no such
        process runs (we waited for them) nothing more can land.
        """
        if self.options.interrupted_grace_s is not None:
            return self.options.interrupted_grace_s
        return self.backend.interrupted_grace_s

    def _record_adoptions(self, the_plan: Plan, inventory) -> None:
        changed = False
        for record in the_plan.adoptions:
            inventory[record.name] = record
            changed = True
            log.info("adopted", device=record.name, vuid=record.vuid)
        for name in the_plan.forget:
            if inventory.pop(name, None) is not None:
                changed = True
        if changed:
            save_inventory(self.inventory_path, inventory)

    @staticmethod
    def _with_notes(the_plan: Plan, world: ObservedWorld, desired: DesiredState) -> Plan:
        """What observation could not read (firmware, records, representors) is said,
        when it matters: representors only if some spec manages one."""
        wants_rep = any(spec.representor is not None for spec in desired.devices)
        notes = tuple(n for n in world.notes
                      if wants_rep or not n.startswith("representors not read"))
        if not notes:
            return the_plan
        return dataclasses.replace(the_plan, warnings=the_plan.warnings + notes)

    def _observe(self) -> ObservedWorld:
        from reconciler.observe import observe

        # firmware values are read once per process (they change only with a power cycle)
        # RDMA devices only on a DPU: the emulator's ports have no kernel side
        return observe(self.backend, read_firmware=True, read_rdma=self.backend.has_rdma_devices)

    def _plan_options(self, desired: DesiredState, world: ObservedWorld, hold) -> PlanOptions:
        firmware = dict(world.controller.firmware) or None
        if firmware is None and desired.firmware is not None:
            firmware = dict(desired.firmware.values)
        return PlanOptions(
            restart_owed=self.journal.restart_owed(),
            prune=self.options.prune, allow_replace=self.options.allow_replace,
            allow_restart=self.options.allow_restart, hold=frozenset(hold), firmware=firmware,
        )

    def _write_status(self, result: CycleResult) -> None:
        if self.options.status_dir is None:
            return
        from reconciler.status import write_status

        try:
            write_status(self.options.status_dir, result)
        except OSError as exc:
            log.warning("status_write_failed", status_dir=str(self.options.status_dir),
                        error=str(exc), fix="set VIRTNET_STATUS_DIR to a writable directory")


def _explain_waits(the_plan: Plan, waiting: dict[str, str]) -> Plan:
    """Changes held for an interrupted call say why, instead of the generic backoff."""
    if not waiting:
        return the_plan
    changes = tuple(
        dataclasses.replace(c, reason=waiting[c.name], temporary=True)
        if c.name in waiting and not c.ready else c
        for c in the_plan.changes
    )
    return dataclasses.replace(the_plan, changes=changes)


def _generations(desired: DesiredState) -> dict[str, str]:
    from reconciler.resources.device import generation

    return {spec.name: generation(spec) for spec in desired.devices}


def _drift_repairs(the_plan: Plan, inventory) -> int:
    """Hotplugs of names we already owned: someone removed the device behind our back."""
    return sum(1 for c in the_plan.ready if c.action is Action.HOTPLUG and c.name in inventory)

