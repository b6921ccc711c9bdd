"""A read-only mount excuses the 0777 root of a Kubernetes ConfigMap volume, and nothing else."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from reconciler.errors import PermissionProblem
from reconciler.loading import load_state

SPEC = """apiVersion: virtnet/v1
kind: VirtioNetDevice
metadata: {name: web}
spec: {type: hotplug, ib_device: mlx5_0, mac: "0c:c4:7a:00:00:01"}
"""


def _mount(*args: str) -> bool:
    proc = subprocess.run(["mount", *args], capture_output=True, check=False)
    return proc.returncode == 0


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A private tmpfs laid out like a ConfigMap volume (root dir 0777, ..data symlink)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    target = tmp_path / "volume"
    target.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)):
        pytest.skip("mount -t tmpfs is not permitted here")
    try:
        stamp = target / "..2026_11_25_00_00_00.000"
        stamp.mkdir()
        (stamp / "web.yaml").write_text(SPEC)
        os.symlink(stamp.name, target / "..data")
        os.symlink("..data/web.yaml", target / "web.yaml")
        os.chmod(target, 0o777)  # noqa: S103 - kubelet's ConfigMap volume root is 0777
        yield target
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["umount", str(target)], check=False)


class TestReadOnlyMount:
    """The permission check refuses a 0777 dir, unless nobody can write to it at all."""

    def test_world_writable_dir_is_refused_while_writable(self, tmpfs):
        with pytest.raises(PermissionProblem, match="chmod go-w"):
            load_state(tmpfs)

    def test_same_dir_is_accepted_once_mounted_read_only(self, tmpfs):
        assert _mount("-o", "remount,ro", str(tmpfs))
        desired = load_state(tmpfs)
        assert desired.errors == ()
        assert [d.name for d in desired.devices] == ["web"]


def _add_spec(volume: Path, name: str, mode: int) -> None:
    """A second spec inside the timestamped dir, reached through a visible symlink."""
    (stamp,) = volume.glob("..2*")
    path = stamp / f"{name}.yaml"
    path.write_text(SPEC.replace("name: web", f"name: {name}").replace(":01", ":02"))
    os.chmod(path, mode)
    os.symlink(f"..data/{name}.yaml", volume / f"{name}.yaml")


class TestReadOnlyMountKeepsFileChecks:
    """Only the root's mode is excused: files stay writable at their original path elsewhere."""

    def test_group_writable_file_is_still_refused(self, tmpfs):
        _add_spec(tmpfs, "loose", 0o666)
        assert _mount("-o", "remount,ro", str(tmpfs))
        desired = load_state(tmpfs)
        (error,) = desired.errors
        assert error.source.file == str(tmpfs / "loose.yaml")
        assert "writable by group or others" in error.message
        assert [d.name for d in desired.devices] == ["web"]

    def test_world_writable_timestamp_dir_is_refused(self, tmpfs):
        (stamp,) = tmpfs.glob("..2*")
        os.chmod(stamp, 0o777)  # noqa: S103 - the case under test
        assert _mount("-o", "remount,ro", str(tmpfs))
        desired = load_state(tmpfs)
        (error,) = desired.errors
        assert str(stamp) in error.message
        assert desired.devices == ()

    def test_world_writable_subdirectory_is_refused(self, tmpfs):
        sub = tmpfs / "team"
        sub.mkdir()
        os.chmod(sub, 0o777)  # noqa: S103 - the case under test
        assert _mount("-o", "remount,ro", str(tmpfs))
        desired = load_state(tmpfs)
        (error,) = desired.errors
        assert error.source.file == str(sub)
        assert [d.name for d in desired.devices] == ["web"]
