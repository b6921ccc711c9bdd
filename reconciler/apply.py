"""Carry out a plan: journal each mutating call, retry busy ones, record ownership, roll back.

Policy lives in the planner; this module only executes ready changes in the
order given, one controller call at a time, and keeps enough records (journal,
inventory) that a crash at any point is resolved by the next run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

from reconciler.errors import BackendError, BusyError, MacStillHeld
from reconciler.fields import HOTPLUG_DEFAULTS, MODIFIABLE, Spec
from reconciler.journal import Intent, Journal
from reconciler.model import (
    Action,
    Change,
    DeviceSpec,
    DeviceType,
    ObservedDevice,
    ObservedWorld,
    OwnershipRecord,
)

__all__ = ["ApplyReport", "Executor", "MacStillHeld", "RetryPolicy", "resolve_pending"]

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


class Executor:
    """Runs ready changes against one backend, keeping journal and inventory in step."""

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
        report = ApplyReport()
        total = len(changes)
        for index, change in enumerate(changes, 1):
            if self.progress:
                self.progress(index, total, change)
            started = time.monotonic()
            try:
                self._check_mac(change)
                self._with_retries(change, report)
                self._moved_mac(change)
            except (BackendError, MacStillHeld) as exc:
                temporary = isinstance(exc, BusyError | MacStillHeld)
                report.failed.append((change.name, str(exc), temporary))
                log.warning(
                    "change_failed", device=change.name, action=change.action.value,
                    error=str(exc), temporary=temporary,
                )
                if atomic:
                    self.rollback(report)
                    break
                continue
            report.applied.append(change)
            for name, (old, new) in change.fields.items():
                log.info(
                    "applied", device=change.name, action=change.action.value, field=name,
                    old=old, new=new, duration_ms=round((time.monotonic() - started) * 1000, 1),
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

    def _with_retries(self, change: Change, report: ApplyReport) -> None:
        delay = self.retry.first_delay_s
        for attempt in range(1, self.retry.attempts + 1):
            try:
                self._execute(change, report)
                return
            except BusyError:
                if attempt == self.retry.attempts:
                    raise
                log.info("busy_retry", device=change.name, attempt=attempt, delay_s=delay)
                self.sleep(delay)
                delay = min(delay * 2, self.retry.max_delay_s)

    def _execute(self, change: Change, report: ApplyReport) -> None:
        handler = _HANDLERS[change.action]
        handler(self, change, report)

    def _hotplug(self, change: Change, report: ApplyReport) -> None:
        spec = _hotplug_spec(change)
        self.journal.begin(
            Intent("hotplug", spec.name, mac=spec.mac, device_type=spec.type.value)
        )
        report.mutating_calls += 1
        result = self.backend.cli.hotplug(spec)
        self.inventory[spec.name] = OwnershipRecord(
            name=spec.name, vuid=result.vuid, mac=spec.mac, type=DeviceType.HOTPLUG,
            pf_id=result.pf_id, sf_num=result.sf_num,
        )
        self._save_inventory(self.inventory)
        self.journal.done()
        report.undo.append(lambda: self._unhotplug(spec.name, result.vuid))

    def _unplug(self, change: Change, report: ApplyReport) -> None:
        self.journal.begin(Intent("unplug", change.name, vuid=change.vuid))
        report.mutating_calls += 1
        self.backend.cli.unplug(change.vuid)
        # the inventory entry leaves only once the unplug is observed (verify step)
        self.journal.done()
        if change.observed is not None:
            previous = _spec_from_observed(change.name, change.observed)
            report.undo.append(lambda: self._rehotplug(previous))

    def _unhotplug(self, name: str, vuid: str) -> None:
        """Rollback of our own hotplug: unplug it and forget that we own it."""
        self.journal.begin(Intent("unplug", name, vuid=vuid))
        self.backend.cli.unplug(vuid)
        if (record := self.inventory.get(name)) is not None and record.vuid == vuid:
            del self.inventory[name]
            self._save_inventory(self.inventory)
        self.journal.done()

    def _rehotplug(self, spec: DeviceSpec) -> None:
        result = self.backend.cli.hotplug(spec)
        self.inventory[spec.name] = OwnershipRecord(
            name=spec.name, vuid=result.vuid, mac=spec.mac, type=DeviceType.HOTPLUG,
            pf_id=result.pf_id, sf_num=result.sf_num,
        )
        self._save_inventory(self.inventory)

    def _modify(self, change: Change, report: ApplyReport) -> None:
        new = {k: v[1] for k, v in change.fields.items() if k in MODIFIABLE}
        old = {k: v[0] for k, v in change.fields.items() if k in MODIFIABLE}
        if not new:
            return
        self.journal.begin(Intent("modify", change.name, vuid=change.vuid))
        report.mutating_calls += 1
        self.backend.cli.modify(change.vuid, new)
        record = self.inventory.get(change.name)
        if Spec.MAC in new and record is not None and record.vuid == change.vuid:
            # ownership is VUID + MAC: keep the record's MAC in step with the device
            self.inventory[change.name] = dataclasses.replace(record, mac=new[Spec.MAC])
            self._save_inventory(self.inventory)
        self.journal.done()
        vuid = change.vuid
        if all(v is not None for v in old.values()):
            report.undo.append(lambda: self.backend.cli.modify(vuid, old))

    def _replace(self, change: Change, report: ApplyReport) -> None:
        self._unplug(change, report)
        self.inventory.pop(change.name, None)
        self._save_inventory(self.inventory)
        self._hotplug(change, report)

    def _representor(self, change: Change, report: ApplyReport) -> None:
        from reconciler.drivers import netlink

        kwargs = {k: v[1] for k, v in change.fields.items() if k in ("up", "mtu")}
        rep_name = change.observed.representor if change.observed else None
        netlink.set_representor(rep_name, netns=self.backend.netns, **kwargs)

    def _config(self, change: Change, report: ApplyReport) -> None:
        """Write virtnet.conf (backup first), then restart: the controller reads it at start."""
        from reconciler.resources.apply_config import restart_controller, write_config

        self.journal.begin(Intent("config", change.name))
        # owed until the restart is done: if it fails (or we die), the next run knows
        # that what runs is not what the file says, even though the file matches
        self.journal.owe_restart(change.name)
        backup = write_config(self.backend.conf_path, change.fields) if change.fields else None
        report.mutating_calls += 1
        restart_controller(self.backend)
        self.journal.restart_done()
        self.journal.done()
        log.info("controller_restarted", config=change.name,
                 backup=str(backup) if backup else None)

    def _recovery_cleanup(self, change: Change, report: ApplyReport) -> None:
        from reconciler.drivers.recovery import remove_record

        if change.vuid in self.macs.values():
            # a device got this VUID in this very run (the controller reuses them):
            # the file is its fresh record now, not the orphan the plan saw
            log.info("recovery_cleanup_skipped", vuid=change.vuid, why="VUID live again")
            return
        if remove_record(self.backend.recovery_dir, change.vuid):
            report.mutating_calls += 1
            log.info("recovery_record_removed", vuid=change.vuid)


_HANDLERS: Mapping[Action, Callable[[Executor, Change, ApplyReport], None]] = {
    Action.HOTPLUG: Executor._hotplug,
    Action.UNPLUG: Executor._unplug,
    Action.MODIFY: Executor._modify,
    Action.REPLACE: Executor._replace,
    Action.REPRESENTOR: Executor._representor,
    Action.CONFIG: Executor._config,
    Action.RECOVERY_CLEANUP: Executor._recovery_cleanup,
}


def _new_mac(change: Change) -> str | None:
    """The MAC a change gives to a device (hotplug, replace, or a modify of the MAC)."""
    if change.action in (Action.HOTPLUG, Action.REPLACE) and change.spec is not None:
        return change.spec.mac.lower()
    if change.action is Action.MODIFY and Spec.MAC in change.fields:
        new = change.fields[Spec.MAC][1]
        return new.lower() if isinstance(new, str) else None
    return None


def _hotplug_spec(change: Change) -> DeviceSpec:
    """The spec to hotplug, with the planner's filled-in defaults (the CLI needs all of them)."""
    spec = change.spec
    filled = {
        k: new for k, (_old, new) in change.fields.items()
        if k in HOTPLUG_DEFAULTS and new is not None
    }
    return dataclasses.replace(spec, **filled) if filled else spec


def _spec_from_observed(name: str, dev: ObservedDevice) -> DeviceSpec:
    """A spec that recreates an observed hotplug device (for rollback of an unplug)."""
    return DeviceSpec(
        name=name, type=DeviceType.HOTPLUG, mac=dev.mac, mtu=dev.mtu,
        max_queues=dev.max_queues, max_queue_size=dev.max_queue_size, features=dev.features,
        sf_num=dev.sf_num, legacy=dev.legacy, ib_device=dev.ib_device,
    )


def resolve_pending(
    intent: Intent,
    world: ObservedWorld,
    inventory: dict[str, OwnershipRecord],
    *,
    now: float | None = None,
    grace_s: float = 0.0,
) -> tuple[str, bool]:
    """Settle a call that a crashed run left half-done: (what was concluded, settled?).

    A hotplug either happened (a live hotplug device has the MAC: record it as ours,
    so it is neither duplicated nor leaked) or not yet: within ``grace_s`` of its
    start it may still land (the controller finishes an RPC whose client died), so
    it stays unsettled and its spec waits; after that the plan makes it again.
    An unplug likewise; a modify needs nothing (the plan re-diffs the device).
    """
    now = time.time() if now is None else now
    young = intent.started is not None and now - intent.started < grace_s
    settle = _SETTLERS.get(intent.op)
    if settle is None:
        return f"{intent.op} of {intent.name} will be re-checked against the live device", True
    return settle(intent, world, inventory, young)


def _settle_hotplug(intent, world, inventory, young) -> tuple[str, bool]:
    for dev in world.devices:
        if dev.type is DeviceType.HOTPLUG and dev.mac == intent.mac:
            owner = next((r for r in inventory.values() if r.vuid == dev.vuid), None)
            if owner is None:
                inventory[intent.name] = OwnershipRecord(
                    name=intent.name, vuid=dev.vuid, mac=dev.mac, type=DeviceType.HOTPLUG,
                    pf_id=dev.pf_id, sf_num=dev.sf_num,
                )
            verdict = f"hotplug of {intent.name} had completed: device {dev.vuid} is ours"
            return verdict, True
    if young:
        return f"hotplug of {intent.name} may still reach the controller", False
    return f"hotplug of {intent.name} had not happened: it will be planned again", True


def _settle_unplug(intent, world, inventory, young) -> tuple[str, bool]:
    if intent.vuid not in {d.vuid for d in world.devices}:
        for name, rec in list(inventory.items()):
            if rec.vuid == intent.vuid:
                del inventory[name]
        return f"unplug of {intent.name} had completed", True
    if young:
        return f"unplug of {intent.name} may still reach the controller", False
    return f"unplug of {intent.name} had not happened: it will be planned again", True


def _settle_config(intent, world, inventory, young) -> tuple[str, bool]:
    return (f"config {intent.name} was written but the controller restart may not have "
            "happened: restart the controller so it reads virtnet.conf"), True


_SETTLERS = {"hotplug": _settle_hotplug, "unplug": _settle_unplug, "config": _settle_config}
