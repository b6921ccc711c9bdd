"""The engine: runs reconcile cycles as named phases against one backend.

``cycle`` holds the :class:`Engine` and its phases (recover, observe, plan, execute,
verify, report); ``crash`` settles what a crashed run left in flight; ``loop_guard``
stops a change that keeps being undone; ``outcome`` turns a cycle's facts into
per-spec statuses and the exit code.
"""

from __future__ import annotations

from reconciler.engine.cycle import Cycle, Engine, EngineOptions

__all__ = ["Cycle", "Engine", "EngineOptions"]
