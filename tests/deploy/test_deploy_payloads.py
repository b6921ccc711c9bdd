"""Every spec the examples ship passes `virtnet validate`: files, ConfigMap keys, gitops."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from deploy_helpers import EXAMPLES, K8S, container, daemonsets, k8s_docs, mount_for, pod, run

SUFFIXES = (".yaml", ".yml", ".json")


def _is_spec(doc) -> bool:
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("virtnet/")


def _spec_dirs() -> list[Path]:
    """Every directory under examples/ that holds a spec file (not a Kubernetes manifest)."""
    dirs = set()
    for path in EXAMPLES.rglob("*"):
        if path.suffix in SUFFIXES and path.is_file():
            docs = list(yaml.safe_load_all(path.read_text()))
            if any(_is_spec(d) for d in docs):
                assert all(_is_spec(d) for d in docs if d), f"{path} mixes specs and manifests"
                dirs.add(path.parent)
    return sorted(dirs)


def _configmaps() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in k8s_docs() if d["kind"] == "ConfigMap"}


def _safe_copy(src: Path, dst: Path) -> Path:
    """A copy with the modes the permission check wants, whatever the checkout's umask."""
    shutil.copytree(src, dst)
    for root, dirs, files in os.walk(dst):
        for d in dirs:
            os.chmod(Path(root) / d, 0o755)  # noqa: S103 - what the permission check wants
        for f in files:
            os.chmod(Path(root) / f, 0o644)
    os.chmod(dst, 0o755)  # noqa: S103 - what the permission check wants
    return dst


def validate(path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTNET_")}
    return run([sys.executable, "-m", "reconciler", "validate", "-f", str(path)], env=env)


class TestExampleSpecFiles:
    """Each example directory validates as shipped."""

    def test_the_examples_hold_the_known_spec_dirs(self):
        names = {str(p.relative_to(EXAMPLES)) for p in _spec_dirs()}
        assert {"quickstart", "vf-fleet", "lag", "gitops/dpu-specs/rack-a"} <= names

    @pytest.mark.parametrize("rel", [str(p.relative_to(EXAMPLES)) for p in _spec_dirs()])
    def test_spec_dir_validates(self, rel, tmp_path):
        proc = validate(_safe_copy(EXAMPLES / rel, tmp_path / "state"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith("ok: "), proc.stdout

    def test_gitops_repository_validates_from_its_root(self, tmp_path):
        """The layout a spec repository's CI checks: the whole tree, read recursively."""
        proc = validate(_safe_copy(EXAMPLES / "gitops", tmp_path / "repo") / "dpu-specs")
        assert proc.returncode == 0, proc.stdout + proc.stderr


class TestConfigMapSpecs:
    """The specs embedded in the ConfigMap are files of a state dir and validate as such."""

    @staticmethod
    def _materialise(cm: dict, into: Path) -> Path:
        into.mkdir(mode=0o755)
        for key, text in cm["data"].items():
            assert key.endswith(SUFFIXES), f"{key}: the loader ignores it"
            (into / key).write_text(text)
        return into

    @pytest.mark.parametrize("name", sorted(_configmaps()))
    def test_every_key_validates(self, name, tmp_path):
        cm = _configmaps()[name]
        for key in cm["data"]:
            one = self._materialise({"data": {key: cm["data"][key]}}, tmp_path / key)
            proc = validate(one)
            assert proc.returncode == 0, f"{key}: {proc.stdout}{proc.stderr}"
        proc = validate(self._materialise(cm, tmp_path / "all"))  # cross-spec checks too
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def test_the_spec_type_field_of_a_set_is_refused(self, tmp_path):
        """The check can fail: the defect this ConfigMap shipped with is caught, in one line."""
        cm = _configmaps()["virtnet-specs"]
        text = cm["data"]["tenant-vfs.yaml"].replace("spec:\n", "spec:\n  type: vf\n", 1)
        proc = validate(self._materialise({"data": {"tenant-vfs.yaml": text}}, tmp_path / "s"))
        assert proc.returncode == 1
        assert "tenant-vfs.yaml:" in proc.stderr + proc.stdout
        assert "spec.type: unknown field" in proc.stderr + proc.stdout

    def test_configmap_daemonset_reads_the_configmap_it_ships(self):
        ds = daemonsets()["daemonset.yaml"]
        c = container(ds, "reconciler")
        mount = mount_for(c, c["args"][c["args"].index("-f") + 1])
        vol = next(v for v in pod(ds)["volumes"] if v["name"] == mount["name"])
        assert vol["configMap"]["name"] in _configmaps()
        docs = [d for _, d in k8s_docs()]
        used = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
        assert used == {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}


def test_no_kubernetes_manifest_hides_among_the_specs():
    """examples/k8s/ holds manifests only; spec files live in the spec dirs validated above."""
    for path in K8S.glob("*.yaml"):
        assert not any(_is_spec(d) for d in yaml.safe_load_all(path.read_text())), path
