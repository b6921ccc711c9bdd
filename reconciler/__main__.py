"""Allows ``python -m reconciler`` as an alias of the ``virtnet`` console script."""

from __future__ import annotations

from reconciler.cli import main

raise SystemExit(main())
