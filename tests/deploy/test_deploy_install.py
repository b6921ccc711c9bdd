"""The documented install works: a wheel of the checkout, in a fresh venv, runs `virtnet`."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from deploy_helpers import EXAMPLES, REPO, UNIT, run, tool

DOC = REPO / "docs" / "deploy.md"
# the interpreter of the distribution, as on a DPU: its pyverbs is a system package
SYSTEM_PYTHON = "/usr/bin/python3"


def _version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _doc_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """Build the wheel from a copy of the sources, install it as docs/deploy.md says."""
    if not Path(SYSTEM_PYTHON).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{SYSTEM_PYTHON} is missing in CI (.ci/run installs python3-venv)")
        pytest.skip(f"no distribution python at {SYSTEM_PYTHON}")
    tool("pyproject-build")  # the `build` package of the test extras
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "reconciler", src / "reconciler", ignore=shutil.ignore_patterns("__pycache__")
    )
    # --no-isolation: the build backend comes from this venv instead of a download;
    # the wheel is the same
    proc = run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp / "dist"),
            str(src),
        ]
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list((tmp / "dist").glob("*.whl"))
    assert [w.name for w in wheels] == [f"virtnet_reconciler-{_version()}-py3-none-any.whl"]
    prefix = tmp / "opt" / "virtnet-reconciler"
    proc = run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(prefix)])
    assert proc.returncode == 0, proc.stderr
    proc = run([str(prefix / "bin" / "pip"), "install", "-q", f"{wheels[0]}[metrics]"], timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    bin_dir = tmp / "usr-local-bin"
    bin_dir.mkdir()
    (bin_dir / "virtnet").symlink_to(prefix / "bin" / "virtnet")
    return {"prefix": prefix, "virtnet": bin_dir / "virtnet", "tmp": tmp}


def _env(tmp: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTNET_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["VIRTNET_EMULATOR_ROOT"] = str(tmp / "emu")
    return env


@pytest.mark.slow
class TestInstalledWheel:
    """What a DPU operator runs after the documented install, away from the checkout."""

    def test_validate_an_example_through_usr_local_bin(self, installed, tmp_path):
        state = tmp_path / "state"
        shutil.copytree(EXAMPLES / "quickstart", state)
        os.chmod(state, 0o755)  # noqa: S103 - the mode the permission check wants
        proc = run(
            [str(installed["virtnet"]), "validate", "-f", str(state)],
            env=_env(installed["tmp"]),
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # the same verdict as the checkout's own code on the same files
        here = run(
            [sys.executable, "-m", "reconciler", "validate", "-f", str(state)],
            env=_env(installed["tmp"]),
            cwd=REPO,
        )
        assert proc.stdout == here.stdout
        assert proc.stdout.startswith("ok: "), proc.stdout

    def test_runs_the_installed_copy_not_the_checkout(self, installed, tmp_path):
        python = installed["prefix"] / "bin" / "python"
        code = (
            "import importlib.metadata as m, reconciler; "
            "print(m.version('virtnet-reconciler')); print(reconciler.__file__)"
        )
        proc = run([str(python), "-c", code], env=_env(installed["tmp"]), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        version, where = proc.stdout.split()
        assert version == _version()
        assert Path(where).is_relative_to(installed["prefix"])

    def test_version_and_schema_verbs_run(self, installed, tmp_path):
        env = _env(installed["tmp"])
        proc = run([str(installed["virtnet"]), "--version"], env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip()
        proc = run([str(installed["virtnet"]), "schema", "VirtioNetDevice"], env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert '"VirtioNetDevice"' in proc.stdout

    def test_metrics_extra_and_system_pyverbs_are_importable(self, installed, tmp_path):
        python = installed["prefix"] / "bin" / "python"
        proc = run([str(python), "-c", "import prometheus_client"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        system = run([SYSTEM_PYTHON, "-c", "import pyverbs"], cwd=tmp_path)
        if system.returncode == 0:  # the distribution has python3-pyverbs: the venv sees it
            proc = run([str(python), "-c", "import pyverbs"], cwd=tmp_path)
            assert proc.returncode == 0, proc.stderr


class TestDocumentedPathMatchesTheUnit:
    """docs/deploy.md puts `virtnet` where the unit runs it, with the commands tested above."""

    def test_doc_links_the_command_the_unit_execs(self):
        exec_start = next(
            line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart=")
        )
        binary = exec_start.removeprefix("ExecStart=").split()[0]
        commands = _doc_commands()
        assert f"ln -sf /opt/virtnet-reconciler/bin/virtnet {binary}" in commands
        assert "python3 -m venv --system-site-packages /opt/virtnet-reconciler" in commands
        assert any(
            c.startswith("/opt/virtnet-reconciler/bin/pip install '")
            and c.endswith(f"-{_version()}-py3-none-any.whl[metrics]'")
            for c in commands
        )
        assert "python3 -m build --wheel" in commands

    def test_no_deployment_doc_promises_a_pypi_install(self):
        for path in [
            DOC,
            *(EXAMPLES / "k8s").glob("*.md"),
            *(EXAMPLES / "systemd").glob("*.md"),
            *(EXAMPLES / "container").glob("*"),
        ]:
            text = path.read_text()
            assert not re.search(r"pip install '?virtnet-reconciler", text), path
