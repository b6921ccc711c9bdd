"""The small surface every resource module shares: its options in, changes and warnings out."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.model import Change

__all__ = ["DiffOptions", "DiffResult"]


@dataclass(frozen=True, slots=True)
class DiffOptions:
    """The flags a resource diff may depend on (the CLI's ``--allow-restart`` and ``--prune``)."""

    allow_restart: bool = False
    prune: bool = False
    # virtnet.conf was written but the controller has not restarted since (our marker)
    restart_owed: bool = False


@dataclass(frozen=True, slots=True)
class DiffResult:
    """What one resource needs: changes for the plan, warnings for the operator to read."""

    changes: tuple[Change, ...] = ()
    warnings: tuple[str, ...] = ()

    def __add__(self, other: DiffResult) -> DiffResult:
        return DiffResult(self.changes + other.changes, self.warnings + other.warnings)
