"""The ``virtnet-emu`` console script: the vendor ``virtnet`` CLI backed by the emulator."""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run one call against ``$VIRTNET_EMULATOR_ROOT`` (default ``./.virtnet-emulator``)."""
    from reconciler.emulator.emulator import Emulator

    root = os.environ.get("VIRTNET_EMULATOR_ROOT") or ".virtnet-emulator"
    code, out, err = Emulator(root).run(sys.argv[1:] if argv is None else list(argv))
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.stdout.flush()
    return code
