"""Per-type rules, set expansion, normalisation and cross-spec overlap checks of a state dir."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from reconciler.loading import load_state
from reconciler.model import DeviceType, RepresentorSpec
from reconciler.resources.device import generation as spec_generation
from reconciler.resources.device_set import expand_vf_ids

VENDOR_DATA = Path(__file__).resolve().parents[1] / "data" / "vendor"


def put(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.write_text(textwrap.dedent(text))
    path.chmod(0o644)
    return path


def dev(name: str, spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    return (
        f"apiVersion: virtnet/v1\nkind: VirtioNetDevice\nmetadata:\n  name: {name}\nspec:\n{body}\n"
    )


def errors_of(desired) -> list[str]:
    return [str(e) for e in desired.errors]


HOTPLUG = "type: hotplug\nib_device: mlx5_0\nmac: '0c:c4:7a:ff:22:{:02x}'"


class TestNormalisation:
    """Specs come out in one canonical form so that the planner never sees false drift."""

    def test_device_fields_are_normalised(self, state):
        put(
            state,
            "a.yaml",
            dev(
                "web",
                """
            type: hotplug
            ib_device: mlx5_0
            mac: "0C-C4-7A-FF-22-9A"
            features: [VIRTIO_NET_F_MQ, VIRTIO_F_VERSION_1]
            representor: {up: true, mtu: 9000}
        """,
            )
            + "  legacy: true\n",
        )
        (device,) = load_state(state).devices
        assert device.mac == "0c:c4:7a:ff:22:9a"
        assert device.features == (1 << 22) | (1 << 32)
        assert device.type is DeviceType.HOTPLUG
        assert device.representor == RepresentorSpec(up=True, mtu=9000)
        assert device.legacy is True

    def test_hex_features_become_an_int(self, state):
        put(state, "a.yaml", dev("web", HOTPLUG.format(1) + "\nfeatures: '0x230047082b'"))
        (device,) = load_state(state).devices
        assert device.features == 0x230047082B

    def test_labels_are_read_only(self, state):
        text = dev("web", HOTPLUG.format(1))
        text = text.replace("  name: web\n", "  name: web\n  labels: {team: a}\n")
        put(state, "a.yaml", text)
        (device,) = load_state(state).devices
        assert device.labels["team"] == "a"
        with pytest.raises(TypeError):
            device.labels["team"] = "b"  # type: ignore[index]

    def test_unknown_feature_name_is_an_error(self, state):
        put(state, "a.yaml", dev("web", HOTPLUG.format(1) + "\nfeatures: [VIRTIO_NET_F_TELEPORT]"))
        (line,) = errors_of(load_state(state))
        assert "spec.features: unknown feature name 'VIRTIO_NET_F_TELEPORT'" in line


class TestPerTypeRules:
    """Which fields each device type needs, with messages that say what to do."""

    @pytest.mark.parametrize(
        ("spec", "expected"),
        [
            ("type: hotplug\nmac: '0c:00:00:00:00:01'", "ib_device is required"),
            ("type: static_pf\nmac: '0c:00:00:00:00:01'", "pf_id is required"),
            ("type: vf\npf_id: 0\nmac: '0c:00:00:00:00:01'", "vf_id is required"),
            (
                "type: vf\npf_id: 0\nvf_id: 1\nmax_queues: 4\nmac: '0c:00:00:00:00:01'",
                "queue count follows msix_num",
            ),
            (
                "type: static_pf\npf_id: 0\nmsix_num: 8\nmac: '0c:00:00:00:00:01'",
                "msix_num applies to VFs only",
            ),
            (
                "type: hotplug\nib_device: mlx5_0\nmsix_num: 8\nmac: '0c:00:00:00:00:01'",
                "msix_num applies to VFs only",
            ),
            (
                "type: hotplug\nib_device: mlx5_0\npf_id: 3\nmac: '0c:00:00:00:00:01'",
                "gets its pf_id from the controller",
            ),
        ],
    )
    def test_type_specific_problem_is_reported(self, state, spec, expected):
        put(state, "a.yaml", dev("web", spec))
        desired = load_state(state)
        (line,) = errors_of(desired)
        assert expected in line
        assert desired.devices == ()
        assert "web" in desired.rejected

    @pytest.mark.parametrize(
        ("field", "value", "expected"),
        [
            ("mtu", 67, "less than the minimum of 68"),
            ("mtu", 9217, "greater than the maximum of 9216"),
            ("max_queues", 0, "less than the minimum of 1"),
            ("max_queues", 257, "greater than the maximum of 256"),
            ("max_queue_size", 100, "is not one of"),
            ("max_queue_size", 65536, "is not one of"),
            ("sf_num", 999, "less than the minimum of 1000"),
            ("legacy", 1, "is not of type 'boolean'"),
        ],
    )
    def test_ranges_are_enforced(self, state, field, value, expected):
        put(state, "a.yaml", dev("web", HOTPLUG.format(1) + f"\n{field}: {value}"))
        (line,) = errors_of(load_state(state))
        assert f"spec.{field}: " in line
        assert expected in line

    def test_ib_device_must_be_an_rdma_device_name(self, state):
        put(state, "a.yaml", dev("web", "type: hotplug\nib_device: eth0\nmac: '0c:00:00:00:00:01'"))
        (line,) = errors_of(load_state(state))
        assert ":7:14: spec.ib_device: 'eth0' does not match" in line

    @pytest.mark.parametrize(
        ("mac", "expected"),
        [
            ("01:00:5e:00:00:01", "multicast"),
            ("00:00:00:00:00:00", "all zeros"),
            ("0c:c4:7a:ff:22", "does not match"),
        ],
    )
    def test_bad_mac_is_refused(self, state, mac, expected):
        put(state, "a.yaml", dev("web", f"type: hotplug\nib_device: mlx5_0\nmac: '{mac}'"))
        (line,) = errors_of(load_state(state))
        assert "spec.mac: " in line
        assert expected in line


class TestDeviceSets:
    """A set expands to ``<set>-<index>`` with MAC = mac_base + index."""

    def test_vf_set_expands_ranges_and_lists(self, state):
        put(
            state,
            "s.yaml",
            """
            apiVersion: virtnet/v1
            kind: VirtioNetDeviceSet
            metadata: {name: fleet, labels: {tier: x}}
            spec:
              pf_id: 1
              vf_ids: "0-2, 7"
              mac_base: "cc:48:15:ff:00:fe"
              template: {mtu: 1500, msix_num: 4}
        """,
        )
        devices = {d.name: d for d in load_state(state).devices}
        assert sorted(devices) == ["fleet-0", "fleet-1", "fleet-2", "fleet-7"]
        assert devices["fleet-7"].vf_id == 7
        assert devices["fleet-7"].pf_id == 1
        assert devices["fleet-7"].type is DeviceType.VF
        assert devices["fleet-0"].mac == "cc:48:15:ff:00:fe"
        assert devices["fleet-2"].mac == "cc:48:15:ff:01:00"  # carries across octets
        assert devices["fleet-7"].msix_num == 4
        assert devices["fleet-1"].labels["tier"] == "x"

    def test_hotplug_set_uses_count(self, state):
        put(
            state,
            "s.yaml",
            """
            apiVersion: virtnet/v1
            kind: VirtioNetDeviceSet
            metadata: {name: hp}
            spec:
              count: 3
              mac_base: "0c:00:00:00:01:00"
              template: {ib_device: mlx5_1, max_queues: 2}
        """,
        )
        devices = load_state(state).devices
        assert [d.name for d in devices] == ["hp-0", "hp-1", "hp-2"]
        assert {d.type for d in devices} == {DeviceType.HOTPLUG}
        assert devices[2].mac == "0c:00:00:00:01:02"

    def test_a_set_needs_vf_ids_or_count_not_both(self, state):
        put(
            state,
            "s.yaml",
            """
            apiVersion: virtnet/v1
            kind: VirtioNetDeviceSet
            metadata: {name: both}
            spec: {pf_id: 0, vf_ids: "0-1", count: 2, mac_base: "0c:00:00:00:01:00", template: {}}
        """,
        )
        desired = load_state(state)
        (line,) = errors_of(desired)
        assert "not both" in line
        assert desired.rejected >= {"both-0", "both-1"}

    def test_invalid_set_rejects_every_name_it_would_produce(self, state):
        put(
            state,
            "s.yaml",
            """
            apiVersion: virtnet/v1
            kind: VirtioNetDeviceSet
            metadata: {name: bad}
            spec: {pf_id: 0, vf_ids: "0-3", mac_base: "0c:00:00:00:01:00", template: {mtu: 1}}
        """,
        )
        desired = load_state(state)
        assert desired.rejected >= {"bad-0", "bad-1", "bad-2", "bad-3"}

    @pytest.mark.parametrize(
        ("text", "ids"),
        [("0-3", [0, 1, 2, 3]), ("5", [5]), ("1,3-4, 9", [1, 3, 4, 9]), ([2, 1], [2, 1])],
    )
    def test_vf_id_expressions(self, text, ids):
        assert expand_vf_ids(text) == ids

    def test_backwards_range_is_an_error(self):
        with pytest.raises(ValueError, match="backwards"):
            expand_vf_ids("9-3")


class TestOverlaps:
    """Two specs claiming one thing: both reported with file:line, both rejected, none applied."""

    def test_same_mac_rejects_both_and_names_each_other(self, state):
        a = put(state, "a.yaml", dev("alpha", HOTPLUG.format(1)))
        b = put(state, "b.yaml", dev("beta", HOTPLUG.format(1)))
        keep = put(state, "c.yaml", dev("gamma", HOTPLUG.format(2)))
        desired = load_state(state)
        assert [d.name for d in desired.devices] == ["gamma"]
        assert desired.rejected == {"alpha", "beta"}
        lines = errors_of(desired)
        assert len(lines) == 2
        assert lines[0].startswith(f"{a}:1:1: alpha: MAC 0c:c4:7a:ff:22:01 is also claimed")
        assert f"'beta' ({b}:1:1)" in lines[0]
        assert f"'alpha' ({a}:1:1)" in lines[1]
        assert keep.exists()

    def test_duplicate_names_across_files_and_sets(self, state):
        put(state, "a.yaml", dev("fleet-1", HOTPLUG.format(9)))
        put(
            state,
            "s.yaml",
            """
            apiVersion: virtnet/v1
            kind: VirtioNetDeviceSet
            metadata: {name: fleet}
            spec: {pf_id: 0, vf_ids: "0-2", mac_base: "cc:00:00:00:00:00", template: {}}
        """,
        )
        desired = load_state(state)
        assert "fleet-1" in desired.rejected
        assert sorted(d.name for d in desired.devices) == ["fleet-0", "fleet-2"]
        assert any("name fleet-1 is also claimed" in line for line in errors_of(desired))

    def test_same_vf_twice_is_an_overlap(self, state):
        vf = "type: vf\npf_id: 0\nvf_id: 3\nmac: '0c:00:00:00:00:{:02x}'"
        put(state, "a.yaml", dev("one", vf.format(1)))
        put(state, "b.yaml", dev("two", vf.format(2)))
        desired = load_state(state)
        assert desired.rejected == {"one", "two"}
        assert all("VF 3 of PF 0 is also claimed" in line for line in errors_of(desired))

    def test_same_sf_num_is_an_overlap(self, state):
        put(state, "a.yaml", dev("one", HOTPLUG.format(1) + "\nsf_num: 2000"))
        put(state, "b.yaml", dev("two", HOTPLUG.format(2) + "\nsf_num: 2000"))
        desired = load_state(state)
        assert desired.rejected == {"one", "two"}
        assert desired.devices == ()


class TestControllerConfig:
    """virtnet.conf rules (reference section 5), at most one ControllerConfig."""

    @staticmethod
    def config(body: str, name: str = "conf") -> str:
        spec = textwrap.indent(textwrap.dedent(body).strip(), "  ")
        return (
            f"apiVersion: virtnet/v1\nkind: ControllerConfig\nmetadata:\n  name: {name}\n"
            f"spec:\n{spec}\n"
        )

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ("ib_dev_lag: mlx5_bond_0\nib_dev_p0: mlx5_0", "must not be set together"),
            ("is_lag: 1\nsingle_port: 1", "mutually exclusive"),
            ("sf_pool_percent: 101", "greater than the maximum of 100"),
            ("vf: {mac_base: 'cc:48:15:ff:00:00'}", "'vfs_per_pf' is a dependency of 'mac_base'"),
            ("vf: {mac_base: 'cc:48:15:ff:00', vfs_per_pf: 4}", "does not match"),
            ("eth_vq_workers: 25", "greater than the maximum of 24"),
            ("admin_cmd_workers: 0", "less than the minimum of 1"),
            ("features: 0xZZ", "'0xZZ' does not match"),
            ("is_lag: 2", "is not one of [0, 1]"),
            ("no_such_key: 1", "unknown field"),
            ("vf: {qp_num: 0}", "less than the minimum of 1"),
            ("vf: {qp_num: 129}", "greater than the maximum of 128"),
            ("vf: {qp_num: '4'}", "'4' is not of type 'integer'"),
            ("qp_num: 4", "unknown field"),  # a VF setting: only under vf
        ],
    )
    def test_invalid_config_is_reported(self, state, body, expected):
        put(state, "c.yaml", self.config(body))
        desired = load_state(state)
        assert desired.controller_config is None
        assert any(expected in line for line in errors_of(desired)), errors_of(desired)

    def test_valid_config_keeps_its_content(self, state):
        put(
            state,
            "c.yaml",
            self.config("""
            ib_dev_p0: mlx5_0
            ib_dev_p1: mlx5_1
            recovery: 1
            features: 0x230047082b
            vf: {mac_base: "cc:48:15:ff:00:00", vfs_per_pf: 100, features: "0x230047082b"}
        """),
        )
        desired = load_state(state)
        assert errors_of(desired) == []
        assert desired.controller_config.content["vf"]["vfs_per_pf"] == 100

    @pytest.mark.parametrize("fixture", ["virtnet_conf_non_lag.json", "virtnet_conf_lag.json"])
    def test_the_vendor_pages_own_examples_validate(self, state, fixture):
        # written from the vendor page (tests/data/vendor/SOURCES.toml); the non-LAG one
        # has vf.qp_num and a multicast static_pf.mac_base, as the page has them
        conf = (VENDOR_DATA / fixture).read_text()
        put(state, "c.yaml", self.config(conf))
        desired = load_state(state)
        assert errors_of(desired) == []
        assert dict(desired.controller_config.content) == json.loads(conf)

    def test_a_multicast_mac_base_loads_for_the_diff_to_warn_about(self, state):
        # the controller only checks a MAC's length, and the vendor's own example has one
        put(state, "c.yaml", self.config("static_pf: {mac_base: '11:22:33:44:55:66'}"))
        desired = load_state(state)
        assert errors_of(desired) == []
        assert desired.controller_config.content["static_pf"]["mac_base"] == "11:22:33:44:55:66"

    def test_two_controller_configs_are_both_refused(self, state):
        put(state, "a.yaml", self.config("recovery: 1", "one"))
        put(state, "b.yaml", self.config("recovery: 0", "two"))
        desired = load_state(state)
        assert desired.controller_config is None
        assert sum("at most one ControllerConfig" in line for line in errors_of(desired)) == 2


class TestFirmwareProfile:
    """mlxconfig names are checked; booleans become 0/1."""

    def test_values_are_normalised_to_ints(self, state):
        put(
            state,
            "f.yaml",
            """
            apiVersion: virtnet/v1
            kind: FirmwareProfile
            metadata: {name: fw}
            spec:
              values:
                VIRTIO_NET_EMULATION_ENABLE: true
                VIRTIO_NET_EMULATION_NUM_PF: 2
                PF_TOTAL_SF: 512
        """,
        )
        firmware = load_state(state).firmware
        assert dict(firmware.values) == {
            "VIRTIO_NET_EMULATION_ENABLE": 1,
            "VIRTIO_NET_EMULATION_NUM_PF": 2,
            "PF_TOTAL_SF": 512,
        }

    def test_unknown_parameter_is_an_error(self, state):
        put(
            state,
            "f.yaml",
            """
            apiVersion: virtnet/v1
            kind: FirmwareProfile
            metadata: {name: fw}
            spec: {values: {VIRTIO_NET_WARP_DRIVE: 1}}
        """,
        )
        desired = load_state(state)
        assert desired.firmware is None
        assert any("VIRTIO_NET_WARP_DRIVE" in line for line in errors_of(desired))


class TestSpecGeneration:
    """A short digest that changes with desired content, not with where the spec lives."""

    def test_generation_is_stable_and_content_sensitive(self, state):
        put(state, "a.yaml", dev("web", HOTPLUG.format(1) + "\nmtu: 1500"))
        first = spec_generation(load_state(state).devices[0])
        (state / "a.yaml").rename(state / "moved.yaml")
        assert spec_generation(load_state(state).devices[0]) == first
        put(state, "moved.yaml", dev("web", HOTPLUG.format(1) + "\nmtu: 9000"))
        changed = spec_generation(load_state(state).devices[0])
        assert changed != first
        assert len(first) == 12
