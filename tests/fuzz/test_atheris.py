"""A short coverage-guided run of each atheris target (skipped when atheris is not installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

_TARGETS = Path(__file__).with_name("atheris_targets.py")


class TestCoverageGuidedFuzzing:
    """Thirty thousand guided inputs find no exception outside the documented ones."""

    @pytest.mark.parametrize("target", ["loader", "parse"])
    def test_target_survives_a_short_run(self, target, tmp_path):
        proc = subprocess.run(
            [
                sys.executable,
                str(_TARGETS),
                target,
                "-atheris_runs=30000",
                "-seed=1",
                "-max_len=2048",
                "-rss_limit_mb=1024",
                f"-artifact_prefix={tmp_path}/",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Done 30000 in" in proc.stderr
