"""The pods' spec volumes rebuilt on real read-only bind mounts, reconciled end to end.

A ConfigMap volume (kubelet's layout: a 0777 root, ``..<timestamp>`` dirs, the ``..data``
symlink swapped on update) and a git-sync volume (``current`` -> ``.worktrees/<sha>``,
owned by git-sync's uid 65533), each mounted read-only where the reconciler reads it, as
the manifests mount them; updates are made on the writable source, as kubelet and
git-sync make them, and seen through the read-only mount.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from deploy_helpers import EXAMPLES, K8S, read_only_bind, run, tool

GIT_SYNC_UID = 65533


def _configmap_data() -> dict[str, str]:
    for doc in yaml.safe_load_all((K8S / "configmap.yaml").read_text()):
        if doc and doc["kind"] == "ConfigMap":
            return doc["data"]
    raise AssertionError("no ConfigMap in configmap.yaml")


class Pod:
    """One emulated DPU and the `virtnet` CLI as a subprocess, away from the checkout."""

    def __init__(self, root: Path, extra_env: dict[str, str] | None = None):
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTNET_")}
        self.env.update(
            VIRTNET_EMULATOR_ROOT=str(root / "emu"),
            VIRTNET_STATUS_DIR=str(root / "data"),
            VIRTNET_DATA_DIR=str(root / "data"),
            **(extra_env or {}),
        )

    def virtnet(self, *args: str):
        proc = run([sys.executable, "-m", "reconciler", *args], env=self.env, cwd=self.root)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def apply(self, state: Path):
        return self.virtnet("--backend", "emulator", "apply", "--prune", "-f", str(state))

    def pending(self, state: Path) -> list[dict]:
        proc = self.virtnet("--backend", "emulator", "diff", "-o", "json", "-f", str(state))
        assert proc.returncode in (0, 2), proc.stdout + proc.stderr
        return json.loads(proc.stdout)["changes"]

    def device(self, mac: str) -> dict:
        env = {**self.env}
        proc = run(
            [sys.executable, "-m", "reconciler.emulator", "query", "-a", "-b"],
            env=env,
            cwd=self.root,
        )
        out = proc.stdout
        devices = json.JSONDecoder().raw_decode(out[out.index("{") :])[0]["devices"]
        found = [d for d in devices if d.get("mac", "").lower() == mac.lower()]
        assert len(found) == 1, (mac, found)
        return found[0]


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text)
    os.chmod(path, mode)


def _swap_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (symlink + rename), as kubelet and git-sync do."""
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


class ConfigMapVolume:
    """kubelet's atomic writer layout for a ConfigMap volume, on a writable source dir."""

    def __init__(self, source: Path):
        self.source = source
        source.mkdir()
        os.chmod(source, 0o777)  # noqa: S103 - what kubelet makes (kubernetes#125876)
        self.generation = 0

    def publish(self, data: dict[str, str]) -> None:
        self.generation += 1
        stamp = self.source / f"..2026_11_29_12_00_{self.generation:02d}.{os.getpid()}"
        stamp.mkdir()
        os.chmod(stamp, 0o755)  # noqa: S103 - what kubelet makes
        for key, text in data.items():
            _write(stamp / key, text)
        _swap_symlink(self.source / "..data", stamp.name)
        for key in data:
            user_link = self.source / key
            if not user_link.is_symlink():
                os.symlink(f"..data/{key}", user_link)


class TestConfigMapVolume:
    """The shipped ConfigMap, projected as kubelet does and mounted read-only, converges."""

    def test_reconciles_end_to_end_and_follows_an_update(self, tmp_path):
        (tmp_path / "kubelet").mkdir(mode=0o755)
        volume = ConfigMapVolume(tmp_path / "kubelet" / "configmap")
        data = _configmap_data()
        volume.publish(data)
        pod = Pod(tmp_path)
        with read_only_bind(volume.source, tmp_path / "pod" / "etc-virtnet-state") as state:
            with pytest.raises(OSError, match="Read-only file system"):
                (state / "intruder.yaml").write_text("x")

            proc = pod.virtnet("validate", "-f", str(state))
            assert proc.returncode == 0, proc.stdout + proc.stderr
            proc = pod.apply(state)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert pod.pending(state) == []
            assert int(pod.device("0c:c4:7a:ff:22:98")["mtu"]) == 1500  # web-frontend, hotplugged

            # `kubectl edit configmap`: kubelet publishes a new generation and swaps ..data
            data["web-frontend.yaml"] = data["web-frontend.yaml"].replace("mtu: 1500", "mtu: 9000")
            volume.publish(data)
            assert [c["action"] for c in pod.pending(state)] == ["modify"]
            proc = pod.apply(state)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert int(pod.device("0c:c4:7a:ff:22:98")["mtu"]) == 9000
            assert pod.pending(state) == []

    def test_the_same_volume_is_refused_while_writable(self, tmp_path):
        """What the read-only mount changes: the 0777 root alone is refused, in one line."""
        volume = ConfigMapVolume(tmp_path / "configmap")
        volume.publish(_configmap_data())
        proc = Pod(tmp_path).virtnet("validate", "-f", str(volume.source))
        assert proc.returncode == 1
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        assert len(lines) == 1, lines
        assert "writable by group or others" in lines[0]


class GitSyncVolume:
    """git-sync v4's layout: a repository in --root, ``current`` -> ``.worktrees/<sha>``."""

    def __init__(self, root: Path, uid: int = GIT_SYNC_UID):
        self.root, self.uid = root, uid
        self.git = tool("git")
        self.upstream = root.parent / "upstream"
        root.mkdir()
        os.chmod(root, 0o777)  # noqa: S103 - an emptyDir, as kubelet makes it
        self._git(self.upstream.parent, "init", "-q", "-b", "main", str(self.upstream))
        self._git(self.root, "init", "-q")

    def _git(self, cwd: Path, *args: str) -> str:
        env = {
            "HOME": str(self.root.parent),
            "GIT_CONFIG_NOSYSTEM": "1",
            "PATH": os.environ["PATH"],
        }
        proc = run(
            [
                self.git,
                "-c",
                "user.name=ci",
                "-c",
                "user.email=ci@example.invalid",
                "-c",
                "safe.directory=*",
                *args,
            ],
            env=env,
            cwd=cwd,
        )
        assert proc.returncode == 0, (args, proc.stderr)
        return proc.stdout.strip()

    def push(self, tree: Path) -> None:
        """A commit of ``tree`` on main upstream, then one git-sync cycle."""
        for old in self.upstream.iterdir():
            if old.is_dir() and old.name != ".git":
                shutil.rmtree(old)
            elif old.is_file():
                old.unlink()
        shutil.copytree(tree, self.upstream, dirs_exist_ok=True)
        self._git(self.upstream, "add", "-A")
        self._git(self.upstream, "commit", "-q", "-m", "specs")
        self._sync()

    def _sync(self) -> None:
        self._git(self.root, "fetch", "-q", str(self.upstream), "main")
        sha = self._git(self.root, "rev-parse", "FETCH_HEAD")
        self._git(self.root, "worktree", "add", "-q", "--detach", f".worktrees/{sha}", sha)
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in [*dirnames, *filenames]:
                os.lchown(Path(dirpath) / name, self.uid, self.uid)
        _swap_symlink(self.root / "current", f".worktrees/{sha}")
        os.lchown(self.root / "current", self.uid, self.uid)


def _gitops_tree(tmp_path: Path, mtu: int | None = None) -> Path:
    tree = tmp_path / f"tree-{mtu}"
    shutil.copytree(EXAMPLES / "gitops", tree)
    if mtu is not None:
        tenants = tree / "dpu-specs" / "rack-a" / "tenants.yaml"
        tenants.write_text(tenants.read_text().replace("mtu: 1500", f"mtu: {mtu}"))
    return tree


@pytest.fixture
def git_sync(tmp_path):
    # tmp_path itself may be 0700: git-sync's files must stay reachable by path
    os.chmod(tmp_path, 0o755)  # noqa: S103 - not secret, and the walk needs it
    volume = GitSyncVolume(tmp_path / "emptydir")
    volume.push(_gitops_tree(tmp_path))
    with read_only_bind(volume.root, tmp_path / "pod" / "git") as mount:
        yield volume, mount


class TestGitSyncVolume:
    """The git-sync worktree, owned by git-sync's uid, read through a read-only mount."""

    STATE = "current/dpu-specs/rack-a"

    @pytest.mark.xfail(strict=True, reason="needs VIRTNET_TRUSTED_WRITER_UID (issue 17)")
    def test_reconciles_end_to_end_with_the_trusted_writer_uid_and_follows_a_push(
        self, git_sync, tmp_path
    ):
        volume, mount = git_sync
        state = mount / self.STATE
        pod = Pod(tmp_path, {"VIRTNET_TRUSTED_WRITER_UID": str(GIT_SYNC_UID)})
        proc = pod.virtnet("validate", "-f", str(state))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        proc = pod.apply(state)
        assert proc.returncode in (0, 3), proc.stdout + proc.stderr  # 3: virtnet.conf blocked
        assert int(pod.device("0c:c4:7a:10:01:00")["mtu"]) == 1500  # edge-gateway, hotplugged

        volume.push(_gitops_tree(tmp_path, mtu=9000))  # a new commit, a new worktree
        assert [c["action"] for c in pod.pending(state) if c["status"] == "ready"] == ["modify"]
        proc = pod.apply(state)
        assert proc.returncode in (0, 3), proc.stdout + proc.stderr
        assert int(pod.device("0c:c4:7a:10:01:00")["mtu"]) == 9000

    def test_foreign_owner_is_refused_without_the_setting(self, git_sync, tmp_path):
        """Trust in git-sync's uid is explicit: a read-only mount alone does not grant it."""
        _, mount = git_sync
        proc = Pod(tmp_path).virtnet("validate", "-f", str(mount / self.STATE))
        assert proc.returncode == 1
        assert f"owned by uid {GIT_SYNC_UID}" in proc.stdout + proc.stderr

    def test_another_uid_is_refused_even_with_the_setting(self, git_sync, tmp_path):
        """Naming one trusted writer does not trust every foreign owner."""
        _, mount = git_sync
        pod = Pod(tmp_path, {"VIRTNET_TRUSTED_WRITER_UID": str(GIT_SYNC_UID + 1)})
        proc = pod.virtnet("validate", "-f", str(mount / self.STATE))
        assert proc.returncode == 1
        assert f"uid {GIT_SYNC_UID}" in proc.stdout + proc.stderr

    def test_layout_is_git_syncs(self, git_sync):
        _, mount = git_sync
        link = os.readlink(mount / "current")
        assert link.startswith(".worktrees/")
        assert len(link.split("/")[1]) == 40
        assert (mount / "current" / ".git").is_file()  # a linked worktree
        assert (mount / "current" / "dpu-specs" / "rack-a" / "tenants.yaml").stat().st_uid == (
            GIT_SYNC_UID
        )
        with pytest.raises(OSError, match="Read-only file system"):
            (mount / "current" / "dpu-specs" / "rack-a" / "x.yaml").write_text("x")


class TestWhyVirtnetConfIsMountedAsADirectory:
    """A single-file bind mount pins the inode: an atomic replace on the host goes unseen."""

    def test_file_mount_goes_stale_directory_mount_does_not(self, tmp_path):
        host = tmp_path / "mlnx_virtnet"
        host.mkdir()
        conf = host / "virtnet.conf"
        _write(conf, '{"recovery": 1}\n')
        (tmp_path / "file-target").write_text("")
        with read_only_bind(host, tmp_path / "dir-mount") as dir_mount:
            need = tool("mount")
            proc = run([need, "--bind", str(conf), str(tmp_path / "file-target")])
            assert proc.returncode == 0, proc.stderr
            try:
                # what `virtnet apply --allow-restart` on the host does: temp file + rename
                tmp = host / ".virtnet.conf.tmp"
                _write(tmp, '{"recovery": 0}\n')
                os.replace(tmp, conf)
                assert (dir_mount / "virtnet.conf").read_text() == '{"recovery": 0}\n'
                assert (tmp_path / "file-target").read_text() == '{"recovery": 1}\n'
            finally:
                run(["umount", str(tmp_path / "file-target")])
