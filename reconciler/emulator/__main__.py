"""Allows ``python -m reconciler.emulator`` as an alias of the ``virtnet-emu`` script."""

from __future__ import annotations

from reconciler.emulator.cli import main

raise SystemExit(main())
