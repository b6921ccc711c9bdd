"""Specs of the mlxconfig parser: ``q`` and ``q -e`` tables with their value spellings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reconciler.drivers.mlxconfig import parse_mlxconfig, query_mlxconfig
from reconciler.drivers.runner import RunResult
from reconciler.errors import BackendError
from reconciler.keys import Fw

DATA = Path(__file__).resolve().parents[1] / "data" / "cli"


class TestParse:
    """Columns come from the header; values like True(1) and MODE(2) become ints."""

    def test_q_e_has_default_current_and_next_boot(self):
        values = parse_mlxconfig((DATA / "mlxconfig_q_e.txt").read_text())
        assert values.current[Fw.PF_TOTAL_SF] == 64
        assert values.default[Fw.PF_TOTAL_SF] == 0
        assert values.current[Fw.SWITCH_ENABLE] == 1
        assert values.default[Fw.SWITCH_ENABLE] == 0
        assert values.current["INTERNAL_CPU_MODEL"] == 1
        assert values.current["MEMIC_SIZE_LIMIT"] == 1

    def test_next_boot_differs_after_set_without_reboot(self):
        values = parse_mlxconfig((DATA / "mlxconfig_q_e.txt").read_text())
        assert values.current[Fw.SWITCH_NUM_PORT] == 16
        assert values.next_boot[Fw.SWITCH_NUM_PORT] == 8
        assert values.reboot_pending

    def test_unparsable_values_are_left_out(self):
        values = parse_mlxconfig((DATA / "mlxconfig_q_e.txt").read_text())
        assert "LOG_MAX_QUEUE" not in values.current

    def test_plain_q_has_next_boot_only(self):
        values = parse_mlxconfig((DATA / "mlxconfig_q.txt").read_text())
        assert values.next_boot[Fw.NUM_MSIX] == 16
        assert values.current == {}
        assert not values.reboot_pending

    def test_output_without_table_is_a_backend_error(self):
        with pytest.raises(BackendError, match="Configurations"):
            parse_mlxconfig("-E- Failed to open device\n")


class _Runner:
    def __init__(self, code, out, err=""):
        self.answer = (code, out, err)
        self.calls: Counter = Counter()

    def __call__(self, argv, *, timeout):
        self.calls["mlxconfig"] += 1
        return RunResult(*self.answer, ("mlxconfig", *argv))


class TestQuery:
    """The thin runner call: failures carry argv and the tool's -E- line."""

    def test_parses_successful_output(self):
        runner = _Runner(0, (DATA / "mlxconfig_q_e.txt").read_text())
        values = query_mlxconfig(runner, ["-d", "03:00.0", "q", "-e"])
        assert values.current[Fw.EMULATION_ENABLE] == 1
        assert runner.calls == {"mlxconfig": 1}

    def test_failure_reports_the_error_line(self):
        runner = _Runner(3, "", "-E- Failed to open the device\n")
        with pytest.raises(BackendError, match="Failed to open") as caught:
            query_mlxconfig(runner, ["-d", "nodev", "q"])
        assert caught.value.argv == ("mlxconfig", "-d", "nodev", "q")
