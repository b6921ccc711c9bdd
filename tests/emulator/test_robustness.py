"""``virtnet-emu`` on damaged or unusable storage: one ``ERR:`` line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

MAC = "0c:c4:7a:ff:22:93"

# a subprocess whose client fails in a way no code path anticipates
_BOOM = (
    "import sys\n"
    "from reconciler.emulator import client\n"
    "from reconciler.emulator.cli import main\n"
    "def boom(*args, **kwargs):\n"
    "    raise RuntimeError('disk on fire')\n"
    "client.execute = boom\n"
    "raise SystemExit(main(['list']))\n"
)


def _assert_err_line(proc: subprocess.CompletedProcess, prefix: str) -> str:
    """Exit 1, nothing on stdout, exactly one stderr line starting with ``prefix``."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


class TestCorruptState:
    """A dpu.json that is not the emulator's own is refused, and init starts over."""

    def test_unparseable_state_is_one_err_line(self, emu):
        assert emu.run("list").returncode == 0
        emu.run("stop")
        (emu.root / "dpu.json").write_text("{not json")
        line = _assert_err_line(emu.run("list"), "ERR: emulator state ")
        assert str(emu.root / "dpu.json") in line
        assert "is corrupt" in line
        assert "init --force" in line

    def test_state_of_the_wrong_shape_is_corrupt_too(self, emu):
        assert emu.run("list").returncode == 0
        emu.run("stop")
        for text in ("[1, 2]", "{}", '{"stopped": false, "firmware": 3}'):
            (emu.root / "dpu.json").write_text(text)
            _assert_err_line(emu.run("list"), "ERR: emulator state ")
            _assert_err_line(emu.run("mlxconfig", "q"), "ERR: emulator state ")

    def test_init_force_recovers_from_corrupt_state(self, emu):
        assert emu.run("list").returncode == 0
        emu.run("stop")
        (emu.root / "dpu.json").write_text("\x00garbage")
        assert emu.run("init", "--force").returncode == 0
        assert len(emu.json("list")["devices"]) > 0


class TestUnreadableRecoveryRecords:
    """The controller ignores record files it cannot parse and leaves them on disk."""

    def test_record_that_is_a_json_list_is_skipped_at_restart(self, emu):
        vuid = emu.hotplug(MAC)["vuid"]
        record = emu.root / "recovery" / vuid
        record.write_text("[1, 2, 3]")
        proc = emu.run("restart")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
        vuids = {d["vuid"] for d in emu.json("list")["devices"]}
        assert vuid not in vuids  # a hotplug PF without a usable record is gone
        assert record.read_text() == "[1, 2, 3]"

    def test_unparseable_record_does_not_block_the_others(self, emu):
        kept = emu.hotplug(MAC)["vuid"]
        broken = emu.hotplug("0c:c4:7a:ff:22:94")["vuid"]
        (emu.root / "recovery" / broken).write_bytes(b"\xff\xfe not json")
        assert emu.run("restart").returncode == 0
        vuids = {d["vuid"] for d in emu.json("list")["devices"]}
        assert kept in vuids
        assert broken not in vuids
        assert (emu.root / "recovery" / broken).exists()


class TestUnusableRoot:
    """A root that cannot be created is reported, not crashed on."""

    def test_root_under_a_file_is_one_err_line(self, emu):
        proc = emu.run("list", VIRTNET_EMULATOR_ROOT="/dev/null/x")
        line = _assert_err_line(proc, "ERR: emulator root /dev/null/x is unusable")
        assert "Not a directory" in line


class TestLastResortHandler:
    """Whatever goes wrong inside, the caller sees one ERR line; VIRTNET_DEBUG=1 shows it all."""

    def _run(self, emu, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", _BOOM],
            env={**os.environ, "VIRTNET_EMULATOR_ROOT": str(emu.root), **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def test_unexpected_exception_is_internal_error_line(self, emu):
        proc = self._run(emu, VIRTNET_DEBUG="0")
        line = _assert_err_line(proc, "ERR: internal emulator error: ")
        assert line == "ERR: internal emulator error: RuntimeError: disk on fire"

    def test_debug_env_re_raises(self, emu):
        proc = self._run(emu, VIRTNET_DEBUG="1")
        assert proc.returncode == 1
        assert "Traceback" in proc.stderr
        assert "RuntimeError: disk on fire" in proc.stderr
