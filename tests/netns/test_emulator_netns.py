"""SF representors of the emulator are real netdevs in a network namespace (needs root)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.netns


def _emu(root, netns, *argv):
    env = {**os.environ, "VIRTNET_EMULATOR_ROOT": str(root)}
    cmd = [sys.executable, "-m", "reconciler.emulator", "--netns", netns, *argv]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)


def _links(netns) -> dict[str, int]:
    out = subprocess.run(
        ["ip", "-n", netns, "-o", "link"], capture_output=True, text=True, check=True
    ).stdout
    links = {}
    for line in out.splitlines():
        index, name = line.split(":")[:2]
        links[name.strip().split("@")[0]] = int(index)
    return links


class TestRepresentorNetdevs:
    """Each device's representor exists in the netns and its ifindex is reported."""

    def test_hotplug_creates_and_unplug_removes_the_representor(self, tmp_path, netns):
        assert _emu(tmp_path, netns, "init", "--num-vf", "2").returncode == 0
        out = _emu(
            tmp_path,
            netns,
            "hotplug",
            "-i",
            "mlx5_0",
            "-m",
            "0c:c4:7a:ff:22:93",
            "-t",
            "1500",
            "-n",
            "4",
            "-s",
            "256",
        )
        assert out.returncode == 0, out.stdout + out.stderr
        links = _links(netns)
        assert {"en3f0pf0sf1000", "en3f0pf0sf3000", "en3f0pf0sf2000"} <= set(links)
        query = _emu(tmp_path, netns, "query", "-p", "2", "-b").stdout
        assert f'"sf_rep_net_ifindex": {links["en3f0pf0sf2000"]}' in query
        assert _emu(tmp_path, netns, "unplug", "-p", "2").returncode == 0
        assert "en3f0pf0sf2000" not in _links(netns)

    def test_a_udev_named_representor_is_a_netdev_of_that_name(self, tmp_path, netns):
        assert _emu(tmp_path, netns, "init", "--num-vf", "1").returncode == 0
        rule = ("udev", "add", "--sf-num", "2000", "--name", "vnet-web0")
        assert _emu(tmp_path, netns, *rule).returncode == 0
        hotplug = ("hotplug", "-i", "mlx5_0", "-m", "0c:c4:7a:ff:22:93", "-t", "1500",
                   "-n", "4", "-s", "256")  # fmt: skip
        out = _emu(tmp_path, netns, *hotplug)
        assert out.returncode == 0, out.stdout + out.stderr
        links = _links(netns)
        assert "vnet-web0" in links
        assert "en3f0pf0sf2000" not in links
        query = _emu(tmp_path, netns, "query", "-p", "2", "-b").stdout
        assert f'"sf_rep_net_ifindex": {links["vnet-web0"]}' in query
        assert _emu(tmp_path, netns, "unplug", "-p", "2").returncode == 0
        links = _links(netns)
        assert "vnet-web0" not in links
        assert "en3f0pf0sf1000" in links
