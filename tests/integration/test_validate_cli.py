"""`virtnet validate` end to end as a subprocess: exit codes, one line per error, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def validate(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "validate",
            "-f",
            str(directory),
            "--insecure-skip-permission-check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


class TestValidateCommand:
    """Exit 0 with a summary for good specs, exit 1 with file:line errors for bad ones."""

    @pytest.mark.parametrize("example", ["quickstart", "vf-fleet", "lag", "gitops"])
    def test_examples_are_valid(self, example):
        result = validate(ROOT / "examples" / example)
        assert result.returncode == 0, result.stderr
        # the skip-permission warning may precede it (logs go where the CLI configures them)
        assert result.stdout.splitlines()[-1].startswith("ok: ")
        assert "Traceback" not in result.stderr

    def test_bad_specs_exit_1_with_one_line_per_error(self, tmp_path):
        (tmp_path / "bad.yaml").write_text(
            "apiVersion: virtnet/v1\nkind: VirtioNetDevice\n"
            "metadata: {name: x}\nspec: {type: hotplug, mtu: 1}\n"
        )
        (tmp_path / "junk.yaml").write_bytes(bytes(range(256)))
        result = validate(tmp_path)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr + result.stdout
        lines = result.stderr.splitlines()
        error_lines = [line for line in lines if line.startswith(str(tmp_path))]
        assert any("bad.yaml:4:" in line for line in error_lines)
        assert any("junk.yaml" in line and "not UTF-8" in line for line in error_lines)

    def test_missing_dir_is_an_error_not_a_traceback(self, tmp_path):
        result = validate(tmp_path / "absent")
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
