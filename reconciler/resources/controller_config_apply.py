"""ControllerConfig's apply handler: write ``virtnet.conf`` with a backup, restart the controller.

Kept apart from :mod:`reconciler.resources.controller_config` so that the pure
diff stays free of files and subprocesses (the planner imports it).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import structlog

from reconciler.errors import BackendError
from reconciler.fsutil import atomic_write_text
from reconciler.model import Action, Change
from reconciler.resources.base import Execution, Handler

__all__ = ["HANDLERS", "backup_path", "config", "write_config"]

log = structlog.get_logger("virtnet.apply")


def config(run: Execution, change: Change) -> None:
    """Write virtnet.conf (backup first), then restart: the controller reads it at start."""
    with run.journaled("config", change.name):
        # owed until the restart is done: if it fails (or we die), the next run knows
        # that what runs is not what the file says, even though the file matches
        run.owe_restart(change.name)
        conf_path = run.backend.conf_path
        backup = write_config(conf_path, change.fields) if change.fields else None
        run.mutating_call()
        run.backend.restart()
        run.restart_done()
    log.info("controller_restarted", config=change.name, backup=str(backup) if backup else None)


HANDLERS: Mapping[Action, Handler] = {Action.CONFIG: config}


def backup_path(conf_path: Path) -> Path:
    """``virtnet.conf.bak`` beside the file: the previous content, one generation deep."""
    return conf_path.with_name(conf_path.name + ".bak")


def write_config(conf_path: Path, fields: Mapping[str, tuple]) -> Path | None:
    """Apply ``{key: (old, new)}`` to the file on disk atomically; returns the backup, if any.

    The file is re-read under the writer lock rather than trusted from the plan, and
    a ``None`` new value removes the key (the spec is the whole file). The backup is
    written before the new file, so an interrupted run never loses the old content.
    """
    conf_path = Path(conf_path)
    try:
        text = conf_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    except OSError as e:
        raise BackendError(f"cannot read {conf_path}: {e.strerror or e}") from e
    try:
        content = json.loads(text) if text else {}
    except ValueError:
        content = {}  # an unparseable file is replaced whole; the backup keeps it
    if not isinstance(content, dict):
        content = {}
    for key, (_old, new) in fields.items():
        if new is None:
            content.pop(key, None)
        else:
            content[key] = new
    backup = None
    try:
        if text is not None:
            backup = backup_path(conf_path)
            shutil.copy2(conf_path, backup)
        atomic_write_text(conf_path, json.dumps(content, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise BackendError(f"cannot write {conf_path}: {e.strerror or e}") from e
    return backup
