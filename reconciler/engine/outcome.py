"""Turn a cycle's facts into per-spec statuses and an exit code (pure: status never lies).

A spec is ``applied`` only when the re-observed world needs no change for it;
anything else is ``pending``, ``blocked`` or ``error`` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.errors import EXIT_BLOCKED, EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from reconciler.model import Change, DesiredState, Plan, SpecState, SpecStatus

__all__ = ["apply_exit_code", "describe_change", "diff_exit_code", "spec_statuses"]


def describe_change(change: Change) -> str:
    """``modify mtu 1500->9000`` style summary, for pending reasons and logs."""
    if not change.fields:
        return change.action.value
    parts = ", ".join(f"{k} {old}->{new}" for k, (old, new) in change.fields.items())
    return f"{change.action.value} {parts}"


def spec_statuses(
    desired: DesiredState,
    remaining: Plan,
    *,
    failed: Iterable[tuple[str, str, bool]] = (),
    generations: dict[str, str] | None = None,
    verified: bool = True,
) -> tuple[SpecStatus, ...]:
    """One status per declared spec.

    ``remaining`` is the plan computed against the world observed *after* the
    apply (or the only plan, for diff). ``verified`` False means nothing was
    applied yet (diff, dry run), so a ready change reads as "pending: will ...".
    """
    generations = generations or {}
    failures = {name: (msg, temp) for name, msg, temp in failed}
    by_name: dict[str, list[Change]] = {}
    for change in remaining.changes:
        by_name.setdefault(change.name, []).append(change)
    out = []
    declared = {spec.name for spec in desired.devices}
    # a rejected spec is not among the devices, but it was declared: it must say why
    for name in sorted(desired.rejected - declared):
        out.append(
            SpecStatus(
                name,
                SpecState.ERROR,
                "spec rejected (overlaps another spec or is invalid): see virtnet validate",
            )
        )
    for spec in desired.devices:
        gen = generations.get(spec.name)
        if spec.name in desired.rejected:
            out.append(
                SpecStatus(
                    spec.name,
                    SpecState.ERROR,
                    "spec rejected (overlaps another spec or is invalid): see virtnet validate",
                    gen,
                )
            )
            continue
        if spec.name in failures:
            msg, temp = failures[spec.name]
            out.append(SpecStatus(spec.name, SpecState.ERROR, msg, gen, temporary=temp))
            continue
        out.append(_status(spec.name, by_name.get(spec.name, []), gen, verified))
    config = desired.controller_config
    if config is not None:
        if config.name in failures:
            msg, temp = failures[config.name]
            out.append(SpecStatus(config.name, SpecState.ERROR, msg, temporary=temp))
        else:
            out.append(_status(config.name, by_name.get(config.name, []), None, verified))
    return tuple(out)


def _status(name: str, changes: list[Change], gen: str | None, verified: bool) -> SpecStatus:
    """Blocked beats pending beats applied: the status names what still stands in the way."""
    blocked = [c for c in changes if not c.ready]
    ready = [c for c in changes if c.ready]
    if blocked:
        reason = "; ".join(c.reason or "blocked" for c in blocked)
        return SpecStatus(
            name, SpecState.BLOCKED, reason, gen, temporary=all(c.temporary for c in blocked)
        )
    if ready:
        what = "; ".join(describe_change(c) for c in ready)
        reason = f"did not take: {what}" if verified else f"will {what}"
        return SpecStatus(name, SpecState.PENDING, reason, gen)
    return SpecStatus(name, SpecState.APPLIED, None, gen)


def apply_exit_code(desired: DesiredState, remaining: Plan, statuses, plan_errors) -> int:
    """0 converged, 3 converged except blocked/pending items, 1 any error (contract)."""
    if (
        desired.errors
        or plan_errors
        or any(s.state is SpecState.ERROR and not s.temporary for s in statuses)
    ):
        return EXIT_ERROR
    if remaining.changes or any(s.state is not SpecState.APPLIED for s in statuses):
        return EXIT_BLOCKED
    return EXIT_OK


def diff_exit_code(desired: DesiredState, plan: Plan) -> int:
    """0 no changes, 2 changes pending, 1 error (contract)."""
    if desired.errors or plan.errors:
        return EXIT_ERROR
    return EXIT_CHANGES if plan.changes else EXIT_OK
