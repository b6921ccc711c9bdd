"""Pure helpers of the planner (matching, diffing, limits, ordering); no I/O anywhere."""

from __future__ import annotations

__all__: list[str] = []
