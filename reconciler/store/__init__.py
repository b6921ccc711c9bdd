"""The reconciler's own files under its data dir: intent journal, ownership inventory, lock.

All are written atomically and readable by their owner only; where the data dir is
is the backend's to say (:attr:`reconciler.backend.Backend.data_dir`).
"""

from __future__ import annotations

__all__: list[str] = []
