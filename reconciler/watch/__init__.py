"""``virtnet watch``: the level-triggered loop that keeps the DPU equal to the state dir.

``loop`` runs cycles on file events, resyncs, retries and signals; ``events`` says
which file-system events matter; ``backoff`` paces devices that keep failing;
``metrics`` serves Prometheus ``/metrics`` and ``/healthz``.
"""

from __future__ import annotations

from reconciler.watch.loop import WatchOptions, WatchOptionsError, run_watch

__all__ = ["WatchOptions", "WatchOptionsError", "run_watch"]
