"""Building blocks of ``virtnet watch``: file-event filtering and per-device backoff."""

from __future__ import annotations

__all__: list[str] = []
