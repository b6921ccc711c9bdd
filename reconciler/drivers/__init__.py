"""The drivers: all I/O with the controller, the kernel and firmware, one module per interface.

Thin and literal (argv lists, typed results, no policy); ``runner`` and ``parse`` are
the plumbing the vendor-CLI and mlxconfig drivers share.
"""

from __future__ import annotations

__all__: list[str] = []
