"""Specs of the netlink driver on a real kernel: ifb links named like SF representors in a netns."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.drivers.netlink import list_representors, set_representor
from reconciler.errors import BackendError

pytestmark = pytest.mark.netns

REPRESENTORS = ("en3f0pf0sf2000", "en3f0pf0sf3003")


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def netns():
    """A fresh namespace with two representor-named ifb links and one unrelated link."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (ip netns add)")
    name = f"virtnet-h3-{os.getpid()}"
    created = _ip("netns", "add", name)
    if created.returncode != 0:
        pytest.skip(f"ip netns add does not work here: {created.stderr.strip()}")
    try:
        for link in (*REPRESENTORS, "ifb-other"):
            added = _ip("-n", name, "link", "add", link, "type", "ifb")
            if added.returncode != 0:
                pytest.skip(f"cannot create ifb links: {added.stderr.strip()}")
        yield name
    finally:
        _ip("netns", "del", name)


class TestListRepresentors:
    """Only links named en3f<port>pf<pf>sf<sf> are representors."""

    def test_lists_representor_named_links_only(self, netns):
        found = list_representors(netns)
        assert sorted(found) == list(REPRESENTORS)
        rep = found["en3f0pf0sf2000"]
        assert (rep.up, rep.mtu) == (False, 1500)
        assert rep.ifindex > 0

    def test_missing_namespace_is_a_clear_error_and_is_not_created(self):
        if os.geteuid() != 0:
            pytest.skip("needs root")
        name = f"virtnet-h3-absent-{os.getpid()}"
        with pytest.raises(BackendError, match="does not exist"):
            list_representors(name)
        assert not Path("/var/run/netns", name).exists()


class TestSetRepresentor:
    """Admin state and MTU are set in one request and read back from the kernel."""

    def test_up_and_mtu(self, netns):
        set_representor("en3f0pf0sf3003", up=True, mtu=9000, netns=netns)
        rep = list_representors(netns)["en3f0pf0sf3003"]
        assert (rep.up, rep.mtu) == (True, 9000)
        set_representor("en3f0pf0sf3003", up=False, netns=netns)
        rep = list_representors(netns)["en3f0pf0sf3003"]
        assert (rep.up, rep.mtu) == (False, 9000)

    def test_missing_link_is_a_backend_error(self, netns):
        with pytest.raises(BackendError, match="does not exist"):
            set_representor("en3f0pf0sf9999", up=True, netns=netns)

    @pytest.mark.parametrize("mtu", [-1, 0, 1 << 32, "9000"])
    def test_impossible_mtu_is_a_backend_error_with_einval(self, netns, mtu):
        with pytest.raises(BackendError, match="invalid MTU") as caught:
            set_representor("en3f0pf0sf2000", mtu=mtu, netns=netns)
        assert caught.value.errno == 22
        assert list_representors(netns)["en3f0pf0sf2000"].mtu == 1500
