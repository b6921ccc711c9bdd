"""The deployment examples: the systemd unit verifies, the k8s manifests mount what they read."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNIT = EXAMPLES / "systemd" / "virtnet-reconciler.service"
K8S = EXAMPLES / "k8s"


def _k8s_docs() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        out.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return out


def _daemonsets() -> list[tuple[str, dict]]:
    return [(n, d) for n, d in _k8s_docs() if d["kind"] == "DaemonSet"]


def _reconciler(ds: dict) -> dict:
    return next(
        c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "reconciler"
    )


def _mounted(container: dict, path: str) -> dict | None:
    """The volumeMount that holds ``path`` (deepest match), if any."""
    target = PurePosixPath(path)
    best = None
    for mount in container.get("volumeMounts", []):
        root = PurePosixPath(mount["mountPath"])
        if (target == root or root in target.parents) and (
            best is None or len(root.parts) > len(PurePosixPath(best["mountPath"]).parts)
        ):
            best = mount
    return best


def _arg_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


class TestSystemdUnit:
    """The unit runs `virtnet watch` and passes `systemd-analyze verify`."""

    def test_runs_watch_on_the_documented_dir(self):
        text = UNIT.read_text()
        assert "ExecStart=/usr/local/bin/virtnet watch -f /etc/virtnet/state\n" in text
        assert "Type=simple\n" in text
        assert "Restart=on-failure\n" in text
        assert "ExecReload=/bin/kill -HUP $MAINPID\n" in text

    def test_keeps_what_the_vendor_cli_and_netlink_need(self):
        text = UNIT.read_text()
        assert "AF_NETLINK" in text
        assert "CAP_NET_ADMIN" in text
        for line in text.splitlines():
            assert not line.startswith(("PrivateNetwork=", "PrivateDevices=", "PrivateTmp="))

    def test_systemd_analyze_verify_is_clean(self, tmp_path):
        tool = shutil.which("systemd-analyze")
        if tool is None:
            pytest.skip("systemd-analyze is not installed on this machine")
        # verify also checks that ExecStart exists: point it at one that does, keep the rest
        unit = tmp_path / UNIT.name
        unit.write_text(UNIT.read_text().replace("/usr/local/bin/virtnet", "/bin/true"))
        proc = subprocess.run(
            [tool, "verify", "--man=no", str(unit)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        problems = [line for line in proc.stderr.splitlines() if UNIT.name in line]
        assert proc.returncode == 0, proc.stderr
        assert problems == [], "\n".join(problems)


class TestKubernetesManifests:
    """Every YAML parses; each DaemonSet mounts what its container reads."""

    def test_every_document_parses_and_has_a_kind(self):
        kinds = {d["kind"] for _, d in _k8s_docs()}
        assert {"Namespace", "ConfigMap", "DaemonSet"} <= kinds

    def test_there_are_a_configmap_and_a_git_sync_daemonset(self):
        names = {n for n, _ in _daemonsets()}
        assert names == {"daemonset.yaml", "daemonset-gitsync.yaml"}

    @pytest.mark.parametrize("name", ["daemonset.yaml", "daemonset-gitsync.yaml"])
    def test_daemonset_mounts_every_path_the_container_reads(self, name):
        ds = dict(_daemonsets())[name]
        pod = ds["spec"]["template"]["spec"]
        container = _reconciler(ds)
        volumes = {v["name"]: v for v in pod["volumes"]}
        for mount in container["volumeMounts"]:
            assert mount["name"] in volumes, f"{mount['name']} is mounted but not defined"
        args = container["args"]
        state = _arg_after(args, "-f")
        assert _mounted(container, state), f"state dir {state} is not on a volume"
        env = {e["name"]: e.get("value") for e in container["env"]}
        for var in ("VIRTNET_STATUS_DIR", "VIRTNET_DATA_DIR", "VIRTNET_RECOVERY_DIR"):
            mount = _mounted(container, env[var])
            assert mount is not None, f"{var}={env[var]} is not on a volume"
            assert "hostPath" in volumes[mount["name"]], f"{var} must survive the pod"
            assert not mount.get("readOnly"), f"{var} must be writable"

    @pytest.mark.parametrize("name", ["daemonset.yaml", "daemonset-gitsync.yaml"])
    def test_daemonset_runs_on_dpu_nodes_on_the_host_network(self, name):
        ds = dict(_daemonsets())[name]
        pod = ds["spec"]["template"]["spec"]
        container = _reconciler(ds)
        assert pod["nodeSelector"]
        assert pod["hostNetwork"] is True
        assert container["command"] == ["virtnet", "watch"]
        assert container["securityContext"].get("privileged") is True

    @pytest.mark.parametrize("name", ["daemonset.yaml", "daemonset-gitsync.yaml"])
    def test_liveness_probe_asks_the_metrics_port_for_healthz(self, name):
        container = _reconciler(dict(_daemonsets())[name])
        address = _arg_after(container["args"], "--metrics-address")
        probe = container["livenessProbe"]["httpGet"]
        assert probe["path"] == "/healthz"
        assert address.endswith(f":{probe['port']}")

    def test_configmap_daemonset_reads_the_configmap_it_ships(self):
        ds = dict(_daemonsets())["daemonset.yaml"]
        container = _reconciler(ds)
        mount = _mounted(container, _arg_after(container["args"], "-f"))
        volume = next(
            v for v in ds["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
        )
        configmaps = {d["metadata"]["name"]: d for _, d in _k8s_docs() if d["kind"] == "ConfigMap"}
        assert volume["configMap"]["name"] in configmaps
        assert mount["mountPath"] == "/etc/virtnet/state"
        keys = configmaps[volume["configMap"]["name"]]["data"]
        assert all(k.endswith((".yaml", ".yml", ".json")) for k in keys)
        for text in keys.values():
            spec = yaml.safe_load(text)
            assert spec["apiVersion"] == "virtnet/v1"

    def test_git_sync_sidecar_shares_the_volume_the_reconciler_reads(self):
        ds = dict(_daemonsets())["daemonset-gitsync.yaml"]
        containers = {c["name"]: c for c in ds["spec"]["template"]["spec"]["containers"]}
        sync = containers["git-sync"]
        root = next(a.split("=", 1)[1] for a in sync["args"] if a.startswith("--root="))
        link = next(a.split("=", 1)[1] for a in sync["args"] if a.startswith("--link="))
        state = _arg_after(containers["reconciler"]["args"], "-f")
        assert state.startswith(f"{root}/{link}/")
        reader = _mounted(containers["reconciler"], state)
        writer = _mounted(sync, state)
        assert reader["name"] == writer["name"]
        assert reader.get("readOnly") is True
