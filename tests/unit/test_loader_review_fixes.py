"""Loader review findings: any spec content is a located one-line error, never a crash."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.loading import load_state
from reconciler.loading.parse import parse_bytes
from reconciler.resources.device_set import expand_vf_ids


def put(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.write_text(textwrap.dedent(text).lstrip())
    path.chmod(0o644)
    return path


def a_set(name: str, spec: str) -> str:
    return (
        f"apiVersion: virtnet/v1\nkind: VirtioNetDeviceSet\nmetadata: {{name: {name}}}\n"
        f"spec: {spec}\n"
    )


def errors_of(desired) -> list[str]:
    return [str(e) for e in desired.errors]


class TestIntegralFloatsBecomeInts:
    """JSON Schema admits 2.0 as an integer; the loader hands the planner a real int."""

    def test_float_count_expands_like_an_int(self, state):
        put(
            state,
            "s.yaml",
            a_set(
                "hp", "{count: 2.0, mac_base: '0c:00:00:00:01:00', template: {ib_device: mlx5_0}}"
            ),
        )
        desired = load_state(state)
        assert errors_of(desired) == []
        assert [d.name for d in desired.devices] == ["hp-0", "hp-1"]

    def test_float_vf_ids_become_int_vf_ids_and_macs(self, state):
        put(
            state,
            "s.yaml",
            a_set(
                "v", "{pf_id: 0.0, vf_ids: [1.0, 2], mac_base: '0c:00:00:00:01:00', template: {}}"
            ),
        )
        desired = load_state(state)
        assert errors_of(desired) == []
        devices = {d.name: d for d in desired.devices}
        assert sorted(devices) == ["v-1", "v-2"]
        assert type(devices["v-1"].vf_id) is int
        assert type(devices["v-1"].pf_id) is int
        assert devices["v-1"].mac == "0c:00:00:00:01:01"

    def test_float_mtu_and_features_are_ints(self, state):
        put(
            state,
            "d.yaml",
            """
            apiVersion: virtnet/v1
            kind: VirtioNetDevice
            metadata: {name: web}
            spec: {type: hotplug, ib_device: mlx5_0, mac: "0c:c4:7a:00:00:01",
                   mtu: 1500.0, features: 5.0, representor: {mtu: 9000.0}}
        """,
        )
        desired = load_state(state)
        assert errors_of(desired) == []
        (device,) = desired.devices
        assert (device.mtu, device.features, device.representor.mtu) == (1500, 5, 9000)
        assert {type(device.mtu), type(device.features), type(device.representor.mtu)} == {int}

    def test_float_controller_and_firmware_values_are_ints(self, state):
        put(
            state,
            "c.yaml",
            """
            apiVersion: virtnet/v1
            kind: ControllerConfig
            metadata: {name: conf}
            spec: {is_lag: 0.0, sf_pool_percent: 10.0}
            ---
            apiVersion: virtnet/v1
            kind: FirmwareProfile
            metadata: {name: fw}
            spec: {values: {PF_TOTAL_SF: 512.0}}
        """,
        )
        desired = load_state(state)
        assert errors_of(desired) == []
        assert type(desired.controller_config.content["sf_pool_percent"]) is int
        assert type(desired.firmware.values["PF_TOTAL_SF"]) is int

    def test_non_integral_float_is_a_schema_error(self, state):
        put(
            state,
            "s.yaml",
            a_set(
                "hp", "{count: 2.5, mac_base: '0c:00:00:00:01:00', template: {ib_device: mlx5_0}}"
            ),
        )
        desired = load_state(state)
        (line,) = errors_of(desired)
        assert "spec.count" in line
        assert desired.devices == ()

    def test_invalid_set_with_float_count_still_declares_its_names(self, state):
        put(
            state,
            "s.yaml",
            a_set(
                "hp",
                "{count: 2.0, mac_base: '0c:00:00:00:01:00', "
                "template: {ib_device: mlx5_0, mtu: 1}}",
            ),
        )
        assert load_state(state).rejected >= {"hp-0", "hp-1"}


class TestVfIdStringsAreBounded:
    """A PF has at most 4096 VFs: the string form stops there, as the list form does."""

    def test_hostile_repeated_ranges_stop_at_the_total(self, state):
        put(
            state,
            "s.yaml",
            a_set(
                "v",
                "{pf_id: 0, vf_ids: '" + "0-4095," * 20 + "0', "
                "mac_base: '0c:00:00:00:01:00', template: {}}",
            ),
        )
        (line,) = errors_of(load_state(state))
        assert "spec.vf_ids" in line
        assert "more than 4096 VF ids" in line

    def test_expansion_refuses_the_total_not_just_each_range(self):
        with pytest.raises(ValueError, match="more than 4096"):
            expand_vf_ids("0-4095,0")

    @pytest.mark.parametrize("text", ["4096", "0-5000", "9" * 5000, "0-" + "9" * 5000])
    def test_id_above_4095_is_refused(self, text):
        with pytest.raises(ValueError, match="above 4095"):
            expand_vf_ids(text)

    def test_duplicates_are_named(self, state):
        put(
            state,
            "s.yaml",
            a_set(
                "v", "{pf_id: 0, vf_ids: '0-3,2,3', mac_base: '0c:00:00:00:01:00', template: {}}"
            ),
        )
        (line,) = errors_of(load_state(state))
        assert "vf ids listed twice: [2, 3]" in line

    def test_largest_legal_range_expands(self):
        assert len(expand_vf_ids("0-4095")) == 4096


class TestExpandedMacsAreUnicast:
    """base + index can carry into the first octet; every expanded MAC is checked."""

    def test_carry_into_a_multicast_octet_is_reported_at_mac_base(self, state):
        put(
            state,
            "s.yaml",
            a_set("v", "{pf_id: 0, vf_ids: '0-1',\n  mac_base: '00:ff:ff:ff:ff:ff', template: {}}"),
        )
        desired = load_state(state)
        (line,) = errors_of(desired)
        assert line.startswith(f"{state / 's.yaml'}:5:")
        assert "spec.mac_base" in line
        assert "01:00:00:00:00:00 is a multicast address" in line
        assert desired.devices == ()
        assert desired.rejected >= {"v-0", "v-1"}

    def test_all_zero_base_is_refused(self, state):
        put(
            state,
            "s.yaml",
            a_set("hp", "{count: 1, mac_base: '00:00:00:00:00:00', template: {ib_device: mlx5_0}}"),
        )
        (line,) = errors_of(load_state(state))
        assert "is all zeros" in line


class TestExpandedNamesFit:
    """Device names are at most 63 characters, expanded ones included."""

    def test_long_set_name_is_reported_at_metadata_name(self, state):
        name = "a" * 62
        put(
            state,
            "s.yaml",
            f"""
            apiVersion: virtnet/v1
            kind: VirtioNetDeviceSet
            metadata:
              name: {name}
            spec: {{count: 10, mac_base: '0c:00:00:00:01:00', template: {{ib_device: mlx5_0}}}}
        """,
        )
        desired = load_state(state)
        (line,) = errors_of(desired)
        assert line.startswith(f"{state / 's.yaml'}:4:")
        assert "metadata.name" in line
        assert "longer than 63" in line

    def test_name_that_just_fits_is_accepted(self, state):
        name = "a" * 61
        put(
            state,
            "s.yaml",
            a_set(
                name, "{count: 10, mac_base: '0c:00:00:00:01:00', template: {ib_device: mlx5_0}}"
            ),
        )
        desired = load_state(state)
        assert errors_of(desired) == []
        assert max(len(d.name) for d in desired.devices) == 63


class TestLabelsAreStrings:
    """Label keys and values are strings; YAML's 1, true and null keys are refused."""

    @pytest.mark.parametrize("labels", ["{1: a}", "{null: b}", "{true: c}", "{a: 1}", "{'': x}"])
    def test_non_string_label_is_refused(self, state, labels):
        put(
            state,
            "d.yaml",
            f"""
            apiVersion: virtnet/v1
            kind: VirtioNetDevice
            metadata: {{name: web, labels: {labels}}}
            spec: {{type: hotplug, ib_device: mlx5_0, mac: "0c:c4:7a:00:00:01"}}
        """,
        )
        desired = load_state(state)
        (line,) = errors_of(desired)
        assert "metadata.labels" in line
        assert desired.devices == ()

    def test_one_and_true_are_distinct_keys_not_a_duplicate(self):
        parsed = parse_bytes(b"labels: {1: a, true: b}\n", "x.yaml")
        assert parsed.errors == ()

    @pytest.mark.parametrize("text", [b"{1: a, 1: b}", b"{true: a, true: b}", b"{a: 1, a: 2}"])
    def test_real_duplicates_are_still_refused(self, text):
        (error,) = parse_bytes(text, "x.yaml").errors
        assert "duplicate key" in error.message
