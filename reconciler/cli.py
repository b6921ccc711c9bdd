"""The ``virtnet`` command: parse arguments, call the library, render results.

Declarative verbs are ours; every other verb goes unchanged to the controller
backend, so one ``virtnet`` serves both worlds. This is the one place that turns an
error into a line on stderr and an exit code (:func:`exit_code_for`). Heavy modules
are imported by the verb that needs them, so ``virtnet validate`` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reconciler.errors import (
    EXIT_BLOCKED,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ReconcilerError,
)

__all__ = ["exit_code_for", "main"]

VERBS = ("validate", "diff", "apply", "watch", "status", "schema")
_GLOBAL_WITH_VALUE = ("--backend",)


def _color(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _state_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("VIRTNET_STATE_DIR") or "./state")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="virtnet",
        description="Declarative virtio-net devices for BlueField DPUs. Verbs other than "
        "the ones below (hotplug, unplug, list, query, modify, log, version, update, ...) "
        "are passed to the controller's own CLI.",
    )
    backend_help = (
        "controller backend (default: $VIRTNET_BACKEND, else vendor "
        "when its CLI is installed, else the embedded emulator)"
    )
    parser.add_argument("--backend", choices=("emulator", "vendor"), help=backend_help)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def with_dir(p):
        # accepted after the verb too; SUPPRESS keeps a value given before it
        p.add_argument(
            "--backend",
            choices=("emulator", "vendor"),
            default=argparse.SUPPRESS,
            help=backend_help,
        )
        p.add_argument(
            "-f",
            "--file",
            dest="state_dir",
            metavar="DIR",
            help="state directory (default: $VIRTNET_STATE_DIR, else ./state)",
        )
        p.add_argument(
            "--insecure-skip-permission-check",
            action="store_true",
            help="accept spec files writable by group/other (dangerous)",
        )
        return p

    with_dir(sub.add_parser("validate", help="check the spec files; no backend needed"))
    p = with_dir(sub.add_parser("diff", help="show what apply would change; change nothing"))
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument("--prune", action="store_true", help="plan unplugs of removed owned devices")
    p.add_argument("--allow-replace", action="store_true")
    p.add_argument(
        "--allow-restart",
        action="store_true",
        help="preview the plan as apply --allow-restart would run it",
    )
    p = with_dir(sub.add_parser("apply", help="make the controller match the specs"))
    p.add_argument("--dry-run", action="store_true", help="plan and print, change nothing")
    p.add_argument(
        "--prune", action="store_true", help="unplug hotplug devices we own whose spec was removed"
    )
    p.add_argument(
        "--allow-replace",
        action="store_true",
        help="unplug + hotplug when an immutable field changed",
    )
    p.add_argument(
        "--allow-restart",
        action="store_true",
        help="restart the controller when virtnet.conf changed",
    )
    p.add_argument(
        "--atomic", action="store_true", help="on any failure, undo what this run changed"
    )
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p = with_dir(sub.add_parser("watch", help="keep the controller matching the specs"))
    p.add_argument(
        "--resync",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="full reconcile at least this often, to repair drift (default 30)",
    )
    p.add_argument("--dry-run", action="store_true", help="report drift, never change anything")
    p.add_argument("--no-prune", action="store_true", help="never unplug removed devices")
    p.add_argument("--allow-replace", action="store_true")
    p.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        help="serve Prometheus /metrics and /healthz here (needs [metrics])",
    )
    p = sub.add_parser("status", help="last reconcile result per spec")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p = sub.add_parser("schema", help="print the JSON Schema of a spec kind")
    p.add_argument(
        "kind",
        nargs="?",
        help="VirtioNetDevice, VirtioNetDeviceSet, "
        "ControllerConfig or FirmwareProfile (default: all)",
    )
    return parser


def _split_passthrough(argv: list[str]) -> tuple[str | None, list[str]]:
    """(backend, vendor argv) when argv names no verb of ours, else (None, None)."""
    backend = None
    rest = list(argv)
    if rest[:1] == ["--backend"] and len(rest) > 1:
        backend, rest = rest[1], rest[2:]
    elif rest and rest[0].startswith("--backend="):
        backend, rest = rest[0].split("=", 1)[1], rest[1:]
    if not rest or rest[0] in VERBS or rest[0] in ("-h", "--help"):
        return None, None
    return backend, rest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        backend, vendor_argv = _split_passthrough(argv)
        if vendor_argv is not None:
            return _passthrough(backend, vendor_argv)
        args = _parser().parse_args(argv)
        if args.verb is None:
            _parser().print_help()
            return EXIT_OK
        return _VERB_HANDLERS[args.verb](args)
    except (KeyboardInterrupt, BrokenPipeError) as exc:
        return exit_code_for(exc)
    except Exception as exc:  # the one place that turns errors into one line + exit code
        _report_error(exc)
        return exit_code_for(exc)


# Which exit code each error class gives: the first match wins (DESIGN.md section 4).
_EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (KeyboardInterrupt, EXIT_INTERRUPTED),
    (BrokenPipeError, EXIT_ERROR),  # our reader went away: nothing left to say
    (ReconcilerError, EXIT_ERROR),  # bad specs, set-up, controller, lock: one line said
    (BaseException, EXIT_ERROR),  # a bug: said as one line too (VIRTNET_DEBUG=1 re-raises)
)


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error that ended a command: every class maps here, nowhere else."""
    return next(code for cls, code in _EXIT_CODES if isinstance(exc, cls))


def _report_error(exc: BaseException) -> None:
    from reconciler.errors import SpecInvalidError

    if isinstance(exc, SpecInvalidError):
        for err in exc.errors:
            print(err, file=sys.stderr)
        return
    if isinstance(exc, ReconcilerError):
        print(f"virtnet: error: {exc}", file=sys.stderr)
        return
    if os.environ.get("VIRTNET_DEBUG"):
        raise exc
    print(
        f"virtnet: internal error (a bug, please report it): {type(exc).__name__}: {exc}; "
        "set VIRTNET_DEBUG=1 for details",
        file=sys.stderr,
    )


# -- verbs -------------------------------------------------------------------------


def _cmd_validate(args) -> int:
    from reconciler.loading import load_state

    if args.insecure_skip_permission_check:
        from reconciler.log import configure_logging

        configure_logging()  # the loud warning goes to stderr, not into our output
    state_dir = _state_dir(args.state_dir)
    desired = load_state(state_dir, check_permissions=not args.insecure_skip_permission_check)
    if desired.errors:
        for err in desired.errors:
            print(err, file=sys.stderr)
        print(f"invalid: {len(desired.errors)} error(s) in {state_dir}", file=sys.stderr)
        return EXIT_ERROR
    extra = []
    if desired.controller_config:
        extra.append("1 controller config")
    if desired.firmware:
        extra.append("1 firmware profile")
    tail = f", {', '.join(extra)}" if extra else ""
    print(f"ok: {len(desired.devices)} devices{tail} in {state_dir}")
    return EXIT_OK


def _cmd_schema(args) -> int:
    import json

    from reconciler.loading.schema import SCHEMAS, render

    if args.kind is None:
        print(json.dumps(SCHEMAS, indent=2))
        return EXIT_OK
    try:
        # byte for byte what schemas/<KIND>.json holds
        print(render(args.kind), end="")
    except ValueError as exc:
        print(f"virtnet: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _log_level(default: str) -> str:
    """``$VIRTNET_LOG_LEVEL`` or the verb's default: one-shot verbs print a summary,
    so their per-change log lines are opt-in; ``watch`` logs every cycle."""
    return os.environ.get("VIRTNET_LOG_LEVEL", default)


def _engine(args, log_level: str = "warning", **overrides):
    from reconciler.backend import resolve_backend
    from reconciler.engine import Engine, EngineOptions
    from reconciler.log import configure_logging
    from reconciler.status import default_status_dir

    configure_logging(level=_log_level(log_level))
    backend = resolve_backend(args.backend)
    options = EngineOptions(
        state_dir=_state_dir(args.state_dir),
        check_permissions=not args.insecure_skip_permission_check,
        status_dir=default_status_dir(),
        **overrides,
    )
    return Engine(options, backend, progress=_progress_printer())


def _progress_printer():
    """Progress of long applies on stderr: a counter on a TTY, every 10 % otherwise."""
    tty = sys.stderr.isatty()

    def show(index: int, total: int, change) -> None:
        if total < 20:
            return
        if tty:
            end = "\n" if index == total else ""
            print(
                f"\r[{index}/{total}] {change.action.value} {change.name}\x1b[K",
                end=end,
                file=sys.stderr,
                flush=True,
            )
        elif index * 10 // total > (index - 1) * 10 // total:  # each tenth, once
            print(f"progress: {index}/{total}", file=sys.stderr, flush=True)

    return show


def _print_errors(result) -> None:
    for err in result.errors:
        print(err, file=sys.stderr)


def _cmd_diff(args) -> int:
    from reconciler.render import render_json, render_text

    engine = _engine(
        args, prune=args.prune, allow_replace=args.allow_replace, allow_restart=args.allow_restart
    )
    result = engine.diff()
    _print_errors(result)
    if args.output == "json":
        import json

        print(json.dumps(render_json(result.plan), indent=2))
    else:
        print(render_text(result.plan, color=_color(sys.stdout)))
    return result.exit_code


def _cmd_apply(args) -> int:
    from reconciler.render import render_json, render_text

    engine = _engine(
        args,
        prune=args.prune,
        allow_replace=args.allow_replace,
        allow_restart=args.allow_restart,
        atomic=args.atomic,
        dry_run=args.dry_run,
    )
    result = engine.reconcile()
    _print_errors(result)
    if args.output == "json":
        import json

        out = render_json(result.plan)
        out["statuses"] = [
            {"name": s.name, "state": s.state.value, "reason": s.reason} for s in result.statuses
        ]
        out["mutating_calls"] = result.mutating_calls
        out["exit_code"] = result.exit_code
        print(json.dumps(out, indent=2))
        return result.exit_code
    if args.dry_run:
        print(render_text(result.plan, color=_color(sys.stdout)))
        return EXIT_ERROR if result.errors else EXIT_OK
    print(_apply_summary(result, color=_color(sys.stdout)))
    return result.exit_code


def _apply_summary(result, *, color: bool) -> str:
    from reconciler.model import SpecState

    red, yellow, green, reset = (
        ("\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[0m") if color else ("", "", "", "")
    )
    lines = []
    for name, message, temporary in result.failed:
        kind = "will retry" if temporary else "failed"
        lines.append(f"{red}! {name}: {kind}: {message}{reset}")
    for status in result.statuses:
        if status.state in (SpecState.BLOCKED, SpecState.PENDING):
            lines.append(f"{yellow}~ {status.name}: {status.state.value}: {status.reason}{reset}")
    specs = {s.name for s in result.statuses}
    for change in result.plan.blocked:
        if change.name not in specs:  # an unplug or a record cleanup: no spec to report it
            lines.append(
                f"{yellow}~ {change.action.value} {change.name}: blocked: {change.reason}{reset}"
            )
    counts = {}
    for change in result.applied:
        counts[change.action.value] = counts.get(change.action.value, 0) + 1
    done = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "no changes"
    blocked = sum(1 for s in result.statuses if s.state is SpecState.BLOCKED) + sum(
        1 for c in result.plan.blocked if c.name not in specs
    )
    colour = {EXIT_OK: green, EXIT_BLOCKED: yellow}.get(result.exit_code, red)
    if result.errors and not result.applied and not result.failed:
        lines.append(f"{red}Apply: nothing changed: {len(result.errors)} error(s) above.{reset}")
        return "\n".join(lines)
    lines.append(
        f"{colour}Apply: {done}; {blocked} blocked; {len(result.failed)} failed "
        f"({result.mutating_calls} controller calls).{reset}"
    )
    return "\n".join(lines)


def _cmd_watch(args) -> int:
    from reconciler.watch import WatchOptions, run_watch

    engine = _engine(
        args,
        log_level="info",
        prune=not args.no_prune,
        allow_replace=args.allow_replace,
        dry_run=args.dry_run,
        lock_timeout=60.0,
    )
    options = WatchOptions(resync_s=args.resync, metrics_address=args.metrics_address)
    return run_watch(engine, engine.options.state_dir, options)


def _cmd_status(args) -> int:
    from reconciler.status import (
        STATUS_FILE,
        default_status_dir,
        read_status,
        render_status,
    )

    status_dir = default_status_dir()
    if not (status_dir / STATUS_FILE).exists():
        # nothing has run yet: that is a state to report, not an error (contract: exit 0)
        if args.output == "json":
            print('{"specs": {}, "updated": null}')
        else:
            print(f"No status yet in {status_dir}: run virtnet apply or virtnet watch.")
        return EXIT_OK
    data = read_status(status_dir)
    if args.output == "json":
        import json

        print(json.dumps(data, indent=2))
    else:
        print(render_status(data, color=_color(sys.stdout)))
    return EXIT_OK


def _passthrough(backend_name: str | None, vendor_argv: list[str]) -> int:
    from reconciler.backend import resolve_backend

    backend = resolve_backend(backend_name)
    return backend.cli.passthrough(vendor_argv)


_VERB_HANDLERS = {
    "validate": _cmd_validate,
    "diff": _cmd_diff,
    "apply": _cmd_apply,
    "watch": _cmd_watch,
    "status": _cmd_status,
    "schema": _cmd_schema,
}
