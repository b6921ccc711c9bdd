"""Which file-system events under the state dir may change what the loader reads."""

from __future__ import annotations

import threading
from pathlib import PurePath

from watchdog.events import (
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_OPENED,
    FileSystemEvent,
    FileSystemEventHandler,
)

__all__ = ["WakeHandler", "is_relevant"]

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")
# Reading the specs opens them: waking on our own reads would loop forever.
_NOISE = frozenset({EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE})


def _path_matters(root: PurePath, raw: str | bytes, is_dir: bool) -> bool:
    path = PurePath(raw.decode() if isinstance(raw, bytes) else raw)
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False  # moved out of (or in from) somewhere we do not read
    if not parts:
        return True  # the state dir itself was deleted or moved
    for part in parts:
        if part.startswith(".."):
            # Kubernetes ConfigMap volume: `..data` symlink swap, `..<timestamp>` dirs
            return True
        if part.startswith((".", "_")):
            return False  # editor temp files, .git internals: the loader ignores them
    return is_dir or parts[-1].endswith(_SPEC_SUFFIXES)


def is_relevant(root: PurePath, event: FileSystemEvent) -> bool:
    """True when the event may change the loaded specs (either end of a move counts).

    A directory's own "modified" event fires for any child, including editor swap
    files, so it is ignored: the child's event already says what changed.
    """
    if event.event_type in _NOISE or (event.is_directory and event.event_type == "modified"):
        return False
    paths = [event.src_path, getattr(event, "dest_path", "") or ""]
    return any(_path_matters(root, p, event.is_directory) for p in paths if p)


class WakeHandler(FileSystemEventHandler):
    """Sets ``wake`` on every relevant event; counts them so tests can see the burst."""

    def __init__(self, root: PurePath, wake: threading.Event) -> None:
        super().__init__()
        self._root = root
        self._wake = wake
        self.seen = 0

    def on_any_event(self, event: FileSystemEvent) -> None:
        if is_relevant(self._root, event):
            self.seen += 1
            self._wake.set()
