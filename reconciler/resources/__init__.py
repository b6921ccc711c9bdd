"""One module per resource kind beside devices: a pure ``diff`` here, the I/O in ``apply_*``.

``controller_config``, ``recovery_records`` and ``firmware_profile`` each expose
``diff(desired, world, options) -> DiffResult``; they import nothing that does
I/O, so the planner may call them (the import-linter contract checks this).
"""

from __future__ import annotations

from reconciler.resources.base import DiffOptions, DiffResult

__all__ = ["DiffOptions", "DiffResult"]
