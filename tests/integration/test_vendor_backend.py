"""The vendor-CLI backend, unchanged, against `virtnet-emu` standing in for /usr/sbin/virtnet."""

from __future__ import annotations

import os
import stat

import pytest


@pytest.fixture
def vendor(sandbox, tmp_path):
    """Point the vendor backend at a `virtnet` executable that runs the emulator."""
    import sys

    fake = tmp_path / "bin" / "virtnet"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\nfrom reconciler.emulator.cli import main\nraise SystemExit(main())\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    emu = sandbox.root / "emu"
    sandbox.env.update(
        {
            "VIRTNET_BACKEND": "vendor",
            "VIRTNET_VENDOR_CLI": str(fake),
            "VIRTNET_RECOVERY_DIR": str(emu / "recovery"),
            "VIRTNET_CONF": str(emu / "virtnet.conf"),
            "VIRTNET_DATA_DIR": str(tmp_path / "data"),
        }
    )
    return sandbox


class TestVendorBackend:
    """Same argv, same parsing: what works on the emulator backend works on the vendor one."""

    def test_apply_then_diff_converges_through_the_vendor_binary(self, vendor):
        for i in range(3):
            vendor.hotplug(f"hp-{i}", f"0c:c4:7a:00:02:0{i}")
        vendor.virtnet("apply", check=0)
        assert len(vendor.hotplugs()) == 3
        vendor.clear_calls()
        vendor.virtnet("apply", check=0)
        assert vendor.mutating_calls() == 0
        vendor.virtnet("diff", check=0)

    def test_other_verbs_pass_through_to_the_vendor_binary(self, vendor):
        proc = vendor.virtnet("version", check=0)
        assert "Original Controller" in proc.stdout

    def test_the_data_dir_is_where_the_environment_says(self, vendor, tmp_path):
        vendor.hotplug("web", "0c:c4:7a:00:02:10")
        vendor.virtnet("apply", check=0)
        inventory = tmp_path / "data" / "inventory.json"
        assert inventory.exists()
        assert stat.S_IMODE(os.stat(inventory).st_mode) == 0o600
