"""Logging set-up: JSON lines off a TTY, key=value on one, always on stderr."""

from __future__ import annotations

import json

import pytest
import structlog

from reconciler.log import configure_logging


@pytest.fixture(autouse=True)
def _restore_structlog():
    yield
    structlog.reset_defaults()


class TestRenderers:
    """The renderer follows the reader: machines get JSON, people get key=value."""

    def test_json_lines_on_stderr_when_requested(self, capsys):
        configure_logging(json=True)
        structlog.get_logger("t").info("reconcile", changes=2, applied=1)
        err = capsys.readouterr().err.strip()
        record = json.loads(err)
        assert record["event"] == "reconcile"
        assert record["changes"] == 2
        assert record["level"] == "info"
        assert "timestamp" in record

    def test_json_is_the_default_when_stderr_is_not_a_tty(self, capsys):
        configure_logging()  # pytest captures stderr: not a terminal
        structlog.get_logger("t").info("change", device="web", field="mtu")
        assert json.loads(capsys.readouterr().err)["device"] == "web"

    def test_console_renderer_prints_key_values(self, capsys):
        configure_logging(json=False)
        structlog.get_logger("t").info("change", device="web", field="mtu")
        err = capsys.readouterr().err
        assert "device=web" in err
        assert "field=mtu" in err

    def test_nothing_goes_to_stdout(self, capsys):
        configure_logging(json=True)
        structlog.get_logger("t").warning("backoff", device="web")
        assert capsys.readouterr().out == ""


class TestLevels:
    """Events below the level are dropped; an unknown level is a clear error."""

    def test_debug_is_dropped_at_info(self, capsys):
        configure_logging(json=True, level="info")
        log = structlog.get_logger("t")
        log.debug("noise")
        log.info("signal")
        lines = capsys.readouterr().err.strip().splitlines()
        assert [json.loads(line)["event"] for line in lines] == ["signal"]

    def test_unknown_level_is_rejected(self):
        from reconciler.errors import ReconcilerError

        with pytest.raises(ReconcilerError, match="unknown log level"):
            configure_logging(level="chatty")
