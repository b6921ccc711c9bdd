"""The status file: atomic, merged so `since` survives, readable, rendered as a table."""

from __future__ import annotations

import json
import os
import stat

import pytest

from reconciler.errors import ReconcilerError
from reconciler.model import Action, Change, CycleResult, Plan, SpecState, SpecStatus
from reconciler.status import (
    StatusUnavailableError,
    default_status_dir,
    read_status,
    render_status,
    write_status,
)


def _cycle(*statuses: SpecStatus, applied=(), errors=(), failed=(), exit_code=0) -> CycleResult:
    return CycleResult(
        plan=Plan(),
        statuses=statuses,
        applied=applied,
        errors=errors,
        failed=failed,
        exit_code=exit_code,
        duration_s=0.25,
        mutating_calls=2,
    )


class TestWriteStatus:
    """Content, modes and the `since` merge."""

    def test_writes_the_documented_shape(self, tmp_path):
        write_status(
            tmp_path,
            _cycle(
                SpecStatus("web", SpecState.APPLIED, generation="abc"),
                errors=("a.yaml:1:1: bad",),
                failed=(("db", "EBUSY", True),),
                exit_code=3,
            ),
            now=100.0,
        )
        data = json.loads((tmp_path / "status.json").read_text())
        assert data["version"] == 1
        assert data["updated"] == 100.0
        assert data["cycle"] == {
            "exit_code": 3,
            "duration_ms": 250.0,
            "mutating_calls": 2,
            "errors": ["a.yaml:1:1: bad", "db: EBUSY"],
        }
        assert data["specs"]["web"] == {
            "state": "applied",
            "reason": None,
            "since": 100.0,
            "last_change": None,
            "generation": "abc",
            "temporary": False,
        }

    def test_file_is_0644_and_dir_0755(self, tmp_path):
        status_dir = tmp_path / "status"
        write_status(status_dir, _cycle(), now=1.0)
        assert stat.S_IMODE(os.stat(status_dir / "status.json").st_mode) == 0o644
        assert stat.S_IMODE(os.stat(status_dir).st_mode) == 0o755

    def test_since_is_kept_while_the_state_does_not_change(self, tmp_path):
        blocked = SpecStatus("web", SpecState.BLOCKED, reason="guest driver bound")
        write_status(tmp_path, _cycle(blocked), now=100.0)
        write_status(tmp_path, _cycle(blocked), now=130.0)
        assert read_status(tmp_path)["specs"]["web"]["since"] == 100.0
        write_status(tmp_path, _cycle(SpecStatus("web", SpecState.APPLIED)), now=160.0)
        assert read_status(tmp_path)["specs"]["web"]["since"] == 160.0

    def test_last_change_is_when_a_change_was_applied_and_is_kept_after(self, tmp_path):
        ok = SpecStatus("web", SpecState.APPLIED)
        write_status(tmp_path, _cycle(ok, applied=(Change(Action.MODIFY, "web"),)), now=50.0)
        write_status(tmp_path, _cycle(ok), now=80.0)
        assert read_status(tmp_path)["specs"]["web"]["last_change"] == 50.0

    def test_removed_specs_disappear(self, tmp_path):
        write_status(tmp_path, _cycle(SpecStatus("old", SpecState.APPLIED)), now=1.0)
        write_status(tmp_path, _cycle(SpecStatus("new", SpecState.PENDING)), now=2.0)
        assert list(read_status(tmp_path)["specs"]) == ["new"]

    def test_a_corrupt_previous_file_is_replaced_not_fatal(self, tmp_path):
        (tmp_path / "status.json").write_text("{not json")
        write_status(tmp_path, _cycle(SpecStatus("web", SpecState.APPLIED)), now=5.0)
        assert read_status(tmp_path)["specs"]["web"]["since"] == 5.0


class TestReadStatus:
    """A missing or damaged file is a one-line error that says what to run."""

    def test_missing_file_says_to_run_apply_or_watch(self, tmp_path):
        with pytest.raises(StatusUnavailableError, match="no status yet: run virtnet apply"):
            read_status(tmp_path)

    def test_corrupt_file_is_the_same_clear_error(self, tmp_path):
        (tmp_path / "status.json").write_text("[1, 2")
        with pytest.raises(ReconcilerError, match="no status yet"):
            read_status(tmp_path)

    def test_default_dir_follows_the_environment(self, monkeypatch, tmp_path):
        monkeypatch.setenv("VIRTNET_STATUS_DIR", str(tmp_path))
        assert default_status_dir() == tmp_path
        monkeypatch.delenv("VIRTNET_STATUS_DIR")
        assert str(default_status_dir()) == "/var/lib/virtnet-reconciler"


class TestRenderStatus:
    """NAME STATE SINCE REASON, aligned; ANSI colours only when asked."""

    def _data(self, tmp_path):
        write_status(
            tmp_path,
            _cycle(
                SpecStatus("web-frontend", SpecState.BLOCKED, reason="guest driver bound"),
                SpecStatus("db", SpecState.APPLIED),
                errors=("x.yaml:2:3: spec.mtu: not an integer",),
            ),
            now=1000.0,
        )
        return read_status(tmp_path)

    def test_plain_table(self, tmp_path):
        text = render_status(self._data(tmp_path), color=False, now=1000.0 + 125)
        lines = text.splitlines()
        assert lines[0].split() == ["NAME", "STATE", "SINCE", "REASON"]
        assert lines[1].split() == ["db", "applied", "2m"]
        assert lines[2].split()[:3] == ["web-frontend", "blocked", "2m"]
        assert lines[2].endswith("guest driver bound")
        assert lines[1].index("applied") == lines[2].index("blocked")
        assert "error: x.yaml:2:3: spec.mtu: not an integer" in text
        assert "\033[" not in text

    def test_colour_only_when_requested(self, tmp_path):
        text = render_status(self._data(tmp_path), color=True, now=1000.0)
        assert "\033[31m" not in text  # no error state in this data
        assert "\033[35mblocked" in text
        assert "\033[32mapplied" in text


class TestExistingStatusDir:
    """Writing the status never changes the mode of a directory it did not create."""

    def test_a_sticky_world_writable_dir_keeps_its_mode(self, tmp_path):
        import os
        import stat

        from reconciler.model import CycleResult, Plan
        from reconciler.status import write_status

        shared = tmp_path / "shared"
        shared.mkdir()
        os.chmod(shared, 0o1777)  # noqa: S103 - a /tmp-like directory is the case under test
        write_status(shared, CycleResult(plan=Plan()))
        assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
