"""Helpers of the deployment-artefact checks: the repo's files, tools, read-only mounts."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
K8S = EXAMPLES / "k8s"
UNIT = EXAMPLES / "systemd" / "virtnet-reconciler.service"
CONTAINERFILE = EXAMPLES / "container" / "Containerfile"
IMAGE = "ghcr.io/virtnet-reconciler/virtnet-reconciler"

# where each tool comes from, for the skip/fail message
_APT = {"systemd-analyze": "systemd", "strace": "strace", "mount": "mount", "git": "git"}


def tool(name: str) -> str:
    """The path of ``name`` (this venv's bin dir first), else skip or fail, saying why.

    CI installs every tool these checks use (.ci/run: apt packages; pyproject's test
    extras: pip packages), so there a missing tool fails the test instead of hiding it.
    """
    local = Path(sys.executable).parent / name
    found = str(local) if local.is_file() else shutil.which(name)
    if found:
        return found
    where = f"apt-get install {_APT[name]}" if name in _APT else "pip install -e '.[test]'"
    if os.environ.get("CI"):
        pytest.fail(f"{name} is missing in CI: .ci/run / the test extras must install it")
    pytest.skip(f"{name} is not installed here ({where}); CI installs it")


def need_root(why: str) -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs as root, but this run is not: {why}")
        pytest.skip(f"needs root: {why}")


def run(
    argv: list[str], *, env: dict | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False
    )


def k8s_docs() -> list[tuple[str, dict]]:
    """(file name, document) for every document of every manifest in examples/k8s/."""
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        out.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return out


def workloads() -> dict[str, dict]:
    """File name -> its DaemonSet or Job."""
    return {n: d for n, d in k8s_docs() if d["kind"] in ("DaemonSet", "Job")}


def daemonsets() -> dict[str, dict]:
    return {n: d for n, d in k8s_docs() if d["kind"] == "DaemonSet"}


def pod(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container(workload: dict, name: str | None = None) -> dict:
    """The named container, else the first one (the reconciler / the check)."""
    containers = pod(workload)["containers"]
    if name is None:
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def env_of(c: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def arg_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def mount_for(c: dict, path: str) -> dict | None:
    """The volumeMount that holds ``path`` (the deepest match), if any."""
    target = PurePosixPath(path)
    best = None
    for mount in c.get("volumeMounts", []):
        root = PurePosixPath(mount["mountPath"])
        if (target == root or root in target.parents) and (
            best is None or len(root.parts) > len(PurePosixPath(best["mountPath"]).parts)
        ):
            best = mount
    return best


def volume(workload: dict, name: str) -> dict:
    return next(v for v in pod(workload)["volumes"] if v["name"] == name)


def _mount(*args: str) -> None:
    proc = run([tool("mount"), *args], timeout=30)
    assert proc.returncode == 0, f"mount {' '.join(args)}: {proc.stderr}"


@contextlib.contextmanager
def read_only_bind(source: Path, target: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``target``, as kubelet mounts a volume with readOnly."""
    need_root("bind mounts")
    target.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), str(target))
    try:
        _mount("-o", "remount,bind,ro", str(target))
        yield target
    finally:
        subprocess.run(["umount", str(target)], capture_output=True, check=False)
