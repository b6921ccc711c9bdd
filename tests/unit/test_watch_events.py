"""Which file-system events wake the loop: spec files, directories, ConfigMap `..` paths."""

from __future__ import annotations

from pathlib import PurePath

import pytest
from watchdog.events import (
    DirCreatedEvent,
    DirModifiedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from reconciler.watch.events import is_relevant

ROOT = PurePath("/etc/virtnet/state")


def _p(rel: str) -> str:
    return str(ROOT / rel)


class TestWakingEvents:
    """Anything that can change what the loader reads wakes the loop."""

    @pytest.mark.parametrize(
        "event",
        [
            FileModifiedEvent(_p("web.yaml")),
            FileCreatedEvent(_p("fleet/vf.yml")),
            FileDeletedEvent(_p("db.json")),
            FileMovedEvent(_p(".web.yaml.tmp"), _p("web.yaml")),  # editor atomic save
            FileMovedEvent(_p("web.yaml"), _p("web.yaml.bak")),  # a spec disappears
            DirCreatedEvent(_p("fleet")),
            FileCreatedEvent(_p("..data_tmp")),  # ConfigMap: new symlink
            FileMovedEvent(_p("..data_tmp"), _p("..data")),  # ConfigMap: the swap
            FileCreatedEvent(_p("..2026_11_25_12_00_00.1/web.yaml")),
        ],
        ids=lambda e: f"{e.event_type}:{PurePath(e.dest_path or e.src_path).name}",
    )
    def test_wakes(self, event):
        assert is_relevant(ROOT, event)


class TestIgnoredEvents:
    """Our own reads, editor leftovers and VCS internals do not wake it."""

    @pytest.mark.parametrize(
        "event",
        [
            FileOpenedEvent(_p("web.yaml")),
            FileClosedNoWriteEvent(_p("web.yaml")),
            DirModifiedEvent(str(ROOT)),
            FileCreatedEvent(_p(".web.yaml.swp")),
            FileCreatedEvent(_p("web.yaml~")),
            FileCreatedEvent(_p("README.md")),
            FileModifiedEvent(_p(".git/index")),
            FileCreatedEvent(_p("_drafts/web.yaml")),
            FileCreatedEvent("/tmp/elsewhere.yaml"),
        ],
        ids=lambda e: f"{e.event_type}:{e.src_path}",
    )
    def test_ignored(self, event):
        assert not is_relevant(ROOT, event)
