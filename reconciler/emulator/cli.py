"""The ``virtnet-emu`` console script: the vendor ``virtnet`` CLI backed by the emulator."""

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
        return _main(argv)
    except Exception as exc:
        if os.environ.get("VIRTNET_DEBUG") == "1":
            raise
        sys.stderr.write(f"ERR: internal emulator error: {type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        return 1


def _main(argv: list[str] | None) -> int:
    from reconciler.emulator.emulator import Emulator

    root = os.environ.get("VIRTNET_EMULATOR_ROOT") or ".virtnet-emulator"
    code, out, err = Emulator(root).run(sys.argv[1:] if argv is None else list(argv))
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.stdout.flush()
    return code
