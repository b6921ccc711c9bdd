"""The Kubernetes manifests: valid against the API schemas, least privilege, mount what they use."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
import yaml
from deploy_helpers import (
    CONTAINERFILE,
    IMAGE,
    K8S,
    arg_after,
    container,
    daemonsets,
    env_of,
    k8s_docs,
    mount_for,
    pod,
    run,
    tool,
    volume,
    workloads,
)

MANIFESTS = sorted(p.name for p in K8S.glob("*.yaml"))
RECONCILERS = ["daemonset.yaml", "daemonset-gitsync.yaml"]
# the oldest Kubernetes these manifests promise to work on; the newest is the tool's default
OLDEST_K8S = "1.33"


def _k8s_versions() -> list[str]:
    from kubernetes_validate.utils import latest_version, major_minor

    return [OLDEST_K8S, major_minor(latest_version())]


def _host_mounts(workload: dict, c: dict) -> dict[str, tuple[str, bool]]:
    """hostPath -> (mount path in the container, read-only?) for every host path it mounts."""
    out = {}
    for mount in c.get("volumeMounts", []):
        vol = volume(workload, mount["name"])
        if "hostPath" in vol:
            out[vol["hostPath"]["path"]] = (mount["mountPath"], bool(mount.get("readOnly")))
    return out


class TestKubernetesSchemas:
    """Every manifest validates offline, strictly, on the oldest and the newest Kubernetes."""

    @pytest.mark.parametrize("version", _k8s_versions())
    @pytest.mark.parametrize("name", MANIFESTS)
    def test_manifest_validates_strictly(self, name, version):
        exe = tool("kubernetes-validate")
        proc = run([exe, "--strict", "-k", version, str(K8S / name)], timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # a kind the tool has no schema for is only a warning: that must not pass quietly
        assert "WARN" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
        assert proc.stdout.count("passed for resource") == len(docs), proc.stdout

    def test_the_validator_rejects_an_unknown_field(self, tmp_path):
        """The check can fail: strict mode refuses a field the API does not have."""
        exe = tool("kubernetes-validate")
        ds = dict(daemonsets())["daemonset.yaml"]
        container(ds)["securityContext"]["privilegd"] = False
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(ds))
        proc = run([exe, "--strict", "-k", OLDEST_K8S, str(bad)], timeout=120)
        assert proc.returncode == 1
        assert "privilegd" in proc.stdout + proc.stderr


class TestLeastPrivilege:
    """The reconciler pods hold NET_ADMIN on the host network and nothing else."""

    @pytest.mark.parametrize("name", RECONCILERS)
    def test_reconciler_is_not_privileged_and_keeps_only_net_admin(self, name):
        ds = daemonsets()[name]
        sc = container(ds, "reconciler")["securityContext"]
        assert sc["privileged"] is False
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}
        assert pod(ds)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "seccompProfile" not in sc  # the pod's RuntimeDefault is not overridden

    @pytest.mark.parametrize("name", RECONCILERS)
    def test_pod_shares_only_the_host_network(self, name):
        spec = pod(daemonsets()[name])
        assert spec["hostNetwork"] is True
        assert not spec.get("hostPID")
        assert not spec.get("hostIPC")
        assert spec["automountServiceAccountToken"] is False

    @pytest.mark.parametrize("name", RECONCILERS)
    def test_host_paths_are_narrow_and_writable_only_where_written(self, name):
        ds = daemonsets()[name]
        mounts = _host_mounts(ds, container(ds, "reconciler"))
        data_dir = next(p for p in mounts if p.startswith("/var/lib/virtnet-reconciler/"))
        assert mounts == {
            data_dir: ("/var/lib/virtnet-reconciler", False),
            "/opt/mellanox/mlnx_virtnet/recovery": ("/opt/mellanox/mlnx_virtnet/recovery", False),
            "/opt/mellanox/mlnx_virtnet": ("/opt/mellanox/mlnx_virtnet", True),
            "/usr/sbin/virtnet": ("/usr/sbin/virtnet", True),
        }
        for c in pod(ds)["containers"]:
            for mount in c.get("volumeMounts", []):
                assert not PurePosixPath(mount["mountPath"]).is_relative_to("/dev"), mount

    @pytest.mark.parametrize("name", RECONCILERS)
    def test_every_path_written_is_on_a_writable_volume(self, name):
        """With a read-only root, status, data, recovery records and temp files need volumes."""
        ds = daemonsets()[name]
        c = container(ds, "reconciler")
        env = env_of(c)
        for var in ("VIRTNET_STATUS_DIR", "VIRTNET_DATA_DIR", "VIRTNET_RECOVERY_DIR", "HOME"):
            mount = mount_for(c, env[var])
            assert mount is not None, f"{var}={env[var]} is on the read-only root"
            assert not mount.get("readOnly"), f"{var}={env[var]} must be writable"
        assert not mount_for(c, "/tmp").get("readOnly")
        for var in ("VIRTNET_STATUS_DIR", "VIRTNET_DATA_DIR", "VIRTNET_RECOVERY_DIR"):
            vol = volume(ds, mount_for(c, env[var])["name"])
            assert "hostPath" in vol, f"{var} must outlive the pod"

    @pytest.mark.parametrize("name", RECONCILERS)
    def test_every_path_read_is_mounted(self, name):
        ds = daemonsets()[name]
        c = container(ds, "reconciler")
        env = env_of(c)
        for path in (arg_after(c["args"], "-f"), env["VIRTNET_CONF"], env["VIRTNET_VENDOR_CLI"]):
            mount = mount_for(c, path)
            assert mount is not None, f"{path} is not on a volume"
            assert mount["readOnly"] is True, f"{path}: nothing here is written"
        volumes = {v["name"] for v in pod(ds)["volumes"]}
        for mount in c["volumeMounts"]:
            assert mount["name"] in volumes, f"{mount['name']} is mounted but not defined"

    @pytest.mark.parametrize("name", RECONCILERS)
    def test_vendor_cli_comes_from_the_host_not_the_image(self, name):
        ds = daemonsets()[name]
        c = container(ds, "reconciler")
        cli = env_of(c)["VIRTNET_VENDOR_CLI"]
        vol = volume(ds, mount_for(c, cli)["name"])
        assert vol["hostPath"] == {"path": cli, "type": "File"}
        assert env_of(c)["VIRTNET_BACKEND"] == "vendor"

    def test_firmware_check_is_a_separate_privileged_job(self):
        """mlxconfig's privileges live in an opt-in Job that changes nothing, not in the loop."""
        job = workloads()["firmware-check-job.yaml"]
        assert job["kind"] == "Job"
        c = container(job)
        assert c["securityContext"]["privileged"] is True
        assert env_of(c)["VIRTNET_MLXCONFIG_DEVICE"]
        assert "virtnet diff" in " ".join(c["command"])  # diff, never apply
        for mount in c["volumeMounts"]:
            assert mount.get("readOnly") is True or mount["mountPath"] == "/tmp", mount
        for ds in daemonsets().values():
            for c in pod(ds)["containers"]:
                assert "VIRTNET_MLXCONFIG_DEVICE" not in env_of(c)


class TestTwoReconcilersNeverShareADPU:
    """The ConfigMap and git-sync DaemonSets: own labels, own node label value, own data dir."""

    def test_selectors_are_distinct_and_match_their_own_pods(self):
        selectors = []
        for ds in daemonsets().values():
            match = ds["spec"]["selector"]["matchLabels"]
            labels = ds["spec"]["template"]["metadata"]["labels"]
            assert match.items() <= labels.items()
            selectors.append(match)
        for i, a in enumerate(selectors):
            for b in selectors[i + 1 :]:
                assert not a.items() <= b.items(), (a, b)
                assert not b.items() <= a.items(), (a, b)

    def test_node_label_values_exclude_each_other(self):
        """One node holds one value of a label, so at most one of them schedules there."""
        values = {}
        for name, ds in daemonsets().items():
            selector = pod(ds)["nodeSelector"]
            values[name] = selector["virtnet.nvidia.com/specs"]
        assert len(set(values.values())) == len(values), values

    def test_data_dirs_on_the_host_are_distinct(self):
        dirs = []
        for ds in daemonsets().values():
            c = container(ds, "reconciler")
            data = env_of(c)["VIRTNET_DATA_DIR"]
            dirs.append(volume(ds, mount_for(c, data)["name"])["hostPath"]["path"])
        assert len(set(dirs)) == len(dirs), dirs


class TestMetrics:
    """/metrics and /healthz listen on loopback; the liveness probe asks there."""

    @pytest.mark.parametrize("name", RECONCILERS)
    def test_metrics_bind_to_loopback(self, name):
        c = container(daemonsets()[name], "reconciler")
        host, port = arg_after(c["args"], "--metrics-address").rsplit(":", 1)
        assert host == "127.0.0.1"
        probe = c["livenessProbe"]["httpGet"]
        assert probe == {"host": "127.0.0.1", "path": "/healthz", "port": int(port)}
        assert "ports" not in c  # nothing is offered on the node's address

    @pytest.mark.parametrize("name", RECONCILERS)
    def test_no_scrape_annotation_promises_an_unreachable_port(self, name):
        annotations = daemonsets()[name]["spec"]["template"]["metadata"].get("annotations", {})
        assert "prometheus.io/scrape" not in annotations


class TestGitSync:
    """git-sync writes the volume the reconciler reads; the reconciler trusts exactly its uid."""

    def _containers(self):
        ds = daemonsets()["daemonset-gitsync.yaml"]
        return ds, container(ds, "reconciler"), container(ds, "git-sync")

    def test_sidecar_shares_the_volume_read_only(self):
        _, reconciler, sync = self._containers()
        root = next(a.split("=", 1)[1] for a in sync["args"] if a.startswith("--root="))
        link = next(a.split("=", 1)[1] for a in sync["args"] if a.startswith("--link="))
        state = arg_after(reconciler["args"], "-f")
        assert state.startswith(f"{root}/{link}/")
        reader, writer = mount_for(reconciler, state), mount_for(sync, state)
        assert reader["name"] == writer["name"]
        assert reader["readOnly"] is True
        assert not writer.get("readOnly")

    def test_trusted_writer_uid_is_git_syncs_uid(self):
        _, reconciler, sync = self._containers()
        trusted = env_of(reconciler)["VIRTNET_TRUSTED_WRITER_UID"]
        assert trusted.split(",") == [str(sync["securityContext"]["runAsUser"])]

    def test_state_dir_is_one_dpu_group_of_the_gitops_example(self):
        """The path inside the repository names a directory the example repository has."""
        from deploy_helpers import EXAMPLES

        _, reconciler, sync = self._containers()
        root = next(a.split("=", 1)[1] for a in sync["args"] if a.startswith("--root="))
        link = next(a.split("=", 1)[1] for a in sync["args"] if a.startswith("--link="))
        inside = arg_after(reconciler["args"], "-f").removeprefix(f"{root}/{link}/")
        group = EXAMPLES / "gitops" / inside
        assert group.is_dir(), group
        assert not any(p.is_dir() for p in group.iterdir()), "one group, not a tree of them"

    def test_sidecar_is_unprivileged(self):
        _, _, sync = self._containers()
        sc = sync["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True


class TestImage:
    """Every workload runs the image the Containerfile builds, under the tags it documents."""

    def test_workloads_name_the_image_the_containerfile_builds(self):
        text = CONTAINERFILE.read_text()
        for name, workload in workloads().items():
            for c in pod(workload)["containers"]:
                if c["image"].startswith(IMAGE):
                    assert f"-t {c['image']} " in text, f"{name}: {c['image']} is not built"
        images = {c["image"] for w in workloads().values() for c in pod(w)["containers"]}
        assert any(i.startswith(IMAGE) for i in images)

    def test_manifest_kinds(self):
        kinds = sorted(d["kind"] for _, d in k8s_docs())
        assert kinds == ["ConfigMap", "DaemonSet", "DaemonSet", "Job", "Namespace"]
