"""Recovery records' apply handler: remove a record the plan found provably orphaned."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from reconciler.model import Action, Change
from reconciler.resources.base import Execution, Handler

__all__ = ["HANDLERS", "cleanup"]

log = structlog.get_logger("virtnet.apply")


def cleanup(run: Execution, change: Change) -> None:
    from reconciler.drivers.recovery import remove_record

    if run.is_live(change.vuid):
        # a device got this VUID in this very run (the controller reuses them):
        # the file is its fresh record now, not the orphan the plan saw
        log.info("recovery_cleanup_skipped", vuid=change.vuid, why="VUID live again")
        return
    if remove_record(run.backend.recovery_dir, change.vuid):
        run.mutating_call()
        log.info("recovery_record_removed", vuid=change.vuid)


HANDLERS: Mapping[Action, Handler] = {Action.RECOVERY_CLEANUP: cleanup}
