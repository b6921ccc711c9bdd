"""Specs of the runners: a real subprocess (fake vendor CLI script) and the in-process path."""

from __future__ import annotations

import stat
import sys
import textwrap

import pytest

from reconciler.drivers.runner import InProcessRunner, SubprocessRunner, op_of
from reconciler.drivers.virtnet_cli import VirtnetCli
from reconciler.errors import BackendError

FAKE_CLI = """\
#!{python}
import json, os, sys, time
args = sys.argv[1:]
op = args[0] if args else ""
if op == "sleep":
    time.sleep(30)
elif op == "fail":
    print("usage: virtnet [-h] ...", file=sys.stderr)
    sys.exit(2)
elif op == "env":
    print(json.dumps({{"root": os.environ.get("FAKE_ROOT"), "path": bool(os.environ.get("PATH"))}}))
elif op == "query":
    print(json.dumps({{"devices": [{{"vuid": "V1", "function_type": "VF", "pf_id": 0,
                                   "vf_id": "1", "mac": "AA:BB:CC:DD:EE:01"}}],
                      "errno": 0, "errstr": "Success"}}, indent=2))
else:
    print(repr({{"argv": args}}))
    print(json.dumps({{"argv": args, "errno": 0, "errstr": "Success"}}, indent=2))
"""


@pytest.fixture
def fake_cli(tmp_path):
    path = tmp_path / "virtnet"
    path.write_text(FAKE_CLI.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


class TestSubprocessRunner:
    """argv lists only, timeouts become BackendError, calls are counted by op."""

    def test_runs_the_executable_with_the_argv_and_counts_by_op(self, fake_cli):
        runner = SubprocessRunner(fake_cli)
        result = runner(["modify", "-u", "V1", "device", "-t", "9000"], timeout=20)
        assert result.returncode == 0
        assert result.argv == (fake_cli, "modify", "-u", "V1", "device", "-t", "9000")
        assert '"argv"' in result.stdout
        runner(["modify", "-u", "V2", "device", "-t", "1500"], timeout=20)
        assert runner.calls == {"modify": 2}

    def test_a_timeout_is_a_backend_error_carrying_the_argv(self, fake_cli):
        runner = SubprocessRunner(fake_cli)
        with pytest.raises(BackendError, match="did not finish") as caught:
            runner(["sleep"], timeout=0.3)
        assert caught.value.argv == (fake_cli, "sleep")

    def test_nonzero_exit_is_returned_not_raised(self, fake_cli):
        result = SubprocessRunner(fake_cli)(["fail"], timeout=20)
        assert result.returncode == 2
        assert "usage" in result.stderr

    def test_missing_executable_is_a_backend_error(self, tmp_path):
        runner = SubprocessRunner(str(tmp_path / "absent"))
        with pytest.raises(BackendError, match="cannot run"):
            runner(["list"], timeout=5)

    def test_environment_passes_through_with_added_variables(self, fake_cli):
        runner = SubprocessRunner([sys.executable, fake_cli], env={"FAKE_ROOT": "/x"})
        out = runner(["env"], timeout=20).stdout
        assert '"root": "/x"' in out
        assert '"path": true' in out

    def test_stream_passes_output_through_unchanged(self, fake_cli, capfd):
        code = SubprocessRunner(fake_cli).stream(["fail"])
        assert code == 2
        assert "usage: virtnet" in capfd.readouterr().err


class TestDriverOverSubprocess:
    """VirtnetCli parses what a real child process prints."""

    def test_query_all_through_a_real_process(self, fake_cli):
        cli = VirtnetCli(SubprocessRunner(fake_cli), timeout=20)
        (device,) = cli.query_all()
        assert (device.vuid, device.vf_id, device.mac) == ("V1", 1, "aa:bb:cc:dd:ee:01")
        assert cli.calls == {"query": 1}

    def test_usage_error_exit_is_a_backend_error(self, fake_cli):
        cli = VirtnetCli(SubprocessRunner(fake_cli), timeout=20)
        with pytest.raises(BackendError) as caught:
            cli._run(["fail"])
        assert caught.value.returncode == 2


class _Emulator:
    def __init__(self):
        self.seen = []

    def run(self, argv):
        self.seen.append(argv)
        return 0, textwrap.dedent('{"errno": 0, "errstr": "Success"}\n'), "warn\n"


class TestInProcessRunner:
    """The in-process path calls ``emulator.run`` with the same argv and counts alike."""

    def test_calls_emulator_run_with_the_argv(self):
        emulator = _Emulator()
        runner = InProcessRunner(emulator)
        result = runner(["unplug", "-u", "V9"], timeout=1)
        assert emulator.seen == [["unplug", "-u", "V9"]]
        assert (result.returncode, result.argv) == (0, ("unplug", "-u", "V9"))
        assert runner.calls == {"unplug": 1}

    def test_passthrough_copies_output(self, capsys):
        cli = VirtnetCli(InProcessRunner(_Emulator()))
        assert cli.passthrough(["log", "-l", "info"]) == 0
        captured = capsys.readouterr()
        assert '"errstr": "Success"' in captured.out
        assert captured.err == "warn\n"


class TestOpOf:
    """Global options before the subcommand do not change which op is counted."""

    @pytest.mark.parametrize(
        ("argv", "op"),
        [
            (["hotplug", "-i", "x"], "hotplug"),
            (["--netns", "ns1", "unplug", "-u", "V"], "unplug"),
            (["-v"], "-v"),
            ([], ""),
        ],
    )
    def test_first_word_that_is_not_an_option(self, argv, op):
        assert op_of(argv) == op
