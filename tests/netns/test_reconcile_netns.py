"""End to end on a real kernel: `virtnet apply` sets a representor netdev's state in a netns."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.netns

SPEC = """apiVersion: virtnet/v1
kind: VirtioNetDevice
metadata: {name: web}
spec:
  type: hotplug
  ib_device: mlx5_0
  mac: "0c:c4:7a:00:00:51"
  mtu: 1500
  representor: {up: true, mtu: 9000}
"""


@pytest.fixture
def env(tmp_path, netns):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "web.yaml").write_text(SPEC)
    environ = {
        **os.environ,
        "VIRTNET_BACKEND": "emulator",
        "VIRTNET_EMULATOR_ROOT": str(tmp_path / "emu"),
        "VIRTNET_EMULATOR_NETNS": netns,
        "VIRTNET_STATUS_DIR": str(tmp_path / "status"),
        "VIRTNET_STATE_DIR": str(state),
    }
    # a small controller: every device's representor is a real netdev
    subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler.emulator",
            "init",
            "--num-pf",
            "1",
            "--num-vf",
            "2",
            "--force",
        ],
        env=environ,
        check=True,
        capture_output=True,
    )
    return environ, netns


def _virtnet(environ, *args):
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _link(netns: str, name: str) -> dict:
    out = subprocess.run(
        ["ip", "-n", netns, "-j", "link", "show", name], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)[0]


def _representor_of(environ) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "reconciler.emulator", "query", "-a", "-b"],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    devices = json.loads(out[out.index("{") :])["devices"]
    (dev,) = [d for d in devices if d["mac"].lower() == "0c:c4:7a:00:00:51"]
    return dev["sf_rep_net_device"]


class TestRepresentorReconcile:
    """The spec's representor block is made true on the kernel, and kept true."""

    def test_apply_brings_the_representor_up_with_its_mtu_then_repairs_drift(self, env):
        environ, netns = env
        first = _virtnet(environ, "apply")
        assert first.returncode == 0, first.stdout + first.stderr
        name = _representor_of(environ)
        link = _link(netns, name)
        assert link["mtu"] == 9000
        assert "UP" in link["flags"]
        assert _virtnet(environ, "diff").returncode == 0

        subprocess.run(["ip", "-n", netns, "link", "set", name, "down"], check=True)
        drift = _virtnet(environ, "diff", "-o", "json")
        assert drift.returncode == 2
        (change,) = json.loads(drift.stdout)["changes"]
        assert (change["action"], change["name"]) == ("representor", "web")
        assert _virtnet(environ, "apply").returncode == 0
        assert "UP" in _link(netns, name)["flags"]
