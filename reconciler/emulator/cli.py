"""The ``virtnet-emu`` console script: the vendor ``virtnet`` CLI, a thin client of the service."""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run one call against ``$VIRTNET_EMULATOR_ROOT`` (default ``./.virtnet-emulator``).

    The reconciler parses this tool's output like the vendor's, so a Python traceback
    must never reach it: anything unexpected becomes one ``ERR:`` line and exit 1
    (``VIRTNET_DEBUG=1`` re-raises, for whoever is debugging the emulator itself).
    """
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except Exception as exc:
        if os.environ.get("VIRTNET_DEBUG") == "1":
            raise
        sys.stderr.write(f"ERR: internal emulator error: {type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        return 1


def _main(argv: list[str]) -> int:
    serve = _serve_args(argv)
    if serve is not None:
        return serve
    from reconciler.emulator.client import SpawnStarter, execute

    code, out, err = execute(argv, root=None, starter=SpawnStarter())
    if out:
        sys.stdout.buffer.write(out.encode())
        sys.stdout.flush()
    if err:
        sys.stderr.write(err)
        sys.stderr.flush()
    return code


def _serve_args(argv: list[str]) -> int | None:
    """``serve``: run the service here (imports the whole emulator, unlike the client)."""
    if "serve" not in argv:
        return None
    from reconciler.emulator.argv import ArgvExit, parse_argv

    try:
        args = parse_argv(argv)
    except ArgvExit as exc:
        return exc.status
    if args.op != "serve":
        return None
    from pathlib import Path

    from reconciler.emulator.service import idle_seconds, serve_main

    root = Path(args.root or os.environ.get("VIRTNET_EMULATOR_ROOT") or ".virtnet-emulator")
    if args.idle_timeout is not None:
        idle = args.idle_timeout if args.idle_timeout > 0 else None
    else:
        idle = idle_seconds() if args.auto else None
    return serve_main(root.absolute(), auto=args.auto, idle_s=idle, ready_fd=args.ready_fd)
