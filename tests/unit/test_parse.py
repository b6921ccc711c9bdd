"""Specs of the vendor-output parser: golden outputs from docs/vendor-cli.md, errors, junk."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.drivers.parse import (
    HotplugResult,
    json_values,
    parse_controller,
    parse_device,
    parse_devices,
    parse_hotplug,
    parse_live_update_active,
    parse_output,
    parse_version,
    to_int,
)
from reconciler.errors import BackendError, BusyError
from reconciler.model import ControllerInfo, DeviceType

DATA = Path(__file__).resolve().parents[1] / "data" / "cli"


def golden(name: str) -> str:
    return (DATA / name).read_text()


def values_of(name: str, argv=("query",)) -> list:
    return parse_output(0, golden(name), "", argv)


class TestEnvelope:
    """The params echo, concatenated values and errno in results (reference section 4)."""

    def test_params_echo_line_in_python_repr_is_skipped(self):
        (result,) = values_of("hotplug.out")
        assert result["vuid"] == "MT2151X03152VNETS1D0F0"

    def test_concatenated_objects_are_all_returned(self):
        assert len(json_values(golden("version_concat.out"))) == 2

    def test_output_without_json_is_a_backend_error(self):
        with pytest.raises(BackendError, match="no JSON"):
            parse_output(0, "{'only': 'a repr'}\n", "", ["list"])

    def test_nonzero_errno_in_result_is_a_failure_with_errno_and_errstr(self):
        with pytest.raises(BackendError) as caught:
            parse_output(0, golden("errno_in_result.out"), "", ["unplug", "-u", "X"])
        assert caught.value.errno == 19
        assert caught.value.errstr == "No such device"
        assert caught.value.argv == ("unplug", "-u", "X")
        assert not isinstance(caught.value, BusyError)

    def test_nonzero_exit_without_structure_reports_stderr(self):
        with pytest.raises(BackendError, match="exit code 2") as caught:
            parse_output(2, "", "usage: virtnet hotplug ...\n", ["hotplug"])
        assert caught.value.returncode == 2


class TestControllerErrors:
    """JSON-RPC error blocks and connection failures become typed errors."""

    def test_json_rpc_error_keeps_errno_and_message(self):
        with pytest.raises(BackendError) as caught:
            parse_output(1, golden("error_nospc.out"), "", ["hotplug", "-i", "mlx5_0"])
        error = caught.value
        assert (error.errno, error.returncode) == (28, 1)
        assert error.errstr == "No free PCIe switch port for hotplug"
        assert error.argv[0] == "hotplug"
        assert not isinstance(error, BusyError)

    def test_ebusy_is_a_busy_error(self):
        with pytest.raises(BusyError) as caught:
            parse_output(1, golden("error_busy.out"), "", ["hotplug"])
        assert caught.value.errno == 16

    def test_a_migrating_message_is_a_busy_error_whatever_the_errno(self):
        with pytest.raises(BusyError):
            parse_output(1, golden("error_migrating.out"), "", ["modify"])

    def test_cannot_connect_is_reported_as_unreachable(self):
        with pytest.raises(BackendError, match="not reachable"):
            parse_output(1, "", golden("cant_connect.err"), ["list"])

    def test_unreadable_error_block_is_still_a_backend_error(self):
        text = "Got JSON-RPC error response\nresponse:\n{broken\n"
        with pytest.raises(BackendError, match="unreadable"):
            parse_output(1, text, "", ["list"])


class TestDevices:
    """Device objects are normalised like specs, so no false drift reaches the planner."""

    def test_three_function_types_map_to_device_types(self):
        devices = parse_devices(values_of("query_all_brief.out"))
        assert [d.type for d in devices] == [
            DeviceType.STATIC_PF,
            DeviceType.VF,
            DeviceType.HOTPLUG,
        ]

    def test_strings_become_ints_and_mac_lower_case(self):
        vf = parse_devices(values_of("query_all_brief.out"))[1]
        assert (vf.pf_id, vf.vf_id, vf.mtu, vf.max_queues, vf.msix_num) == (0, 3, 1500, 8, 10)
        assert vf.max_queue_size == 256
        assert vf.mac == "0c:c4:7a:ff:22:98"
        assert vf.features == 0x230047082B
        assert vf.sf_num == 3003

    def test_vendor_names_map_to_model_fields(self):
        hotplug = parse_devices(values_of("query_all_brief.out"))[2]
        assert hotplug.legacy is True
        assert hotplug.ib_device == "mlx5_0"
        assert hotplug.representor == "en3f0pf0sf2000"
        assert hotplug.bdf == "84:00.0"

    def test_dev_status_bitfield_becomes_driver_status(self):
        static, vf, _ = parse_devices(values_of("query_all_brief.out"))
        assert vf.driver_status == 0xF
        assert vf.driver_bound
        assert static.driver_status == 0
        assert not static.driver_bound

    def test_migrating_device_carries_identity_only(self):
        (device,) = parse_devices(values_of("query_migrating.out"))
        assert device.migrating
        assert (device.vuid, device.type, device.pf_id) == (
            "MT2151X03152VNETS1D0F0",
            DeviceType.HOTPLUG,
            1,
        )
        assert device.mac is None
        assert device.mtu is None

    def test_missing_keys_are_none_and_unknown_keys_ignored(self):
        device = parse_device({"vuid": "V", "function_type": "VF", "vf_id": "2", "new": [1]})
        assert (device.mac, device.mtu, device.features, device.sf_num) == (None,) * 4
        assert device.driver_status == 0

    def test_device_without_vuid_is_a_backend_error(self):
        with pytest.raises(BackendError, match="vuid"):
            parse_device({"function_type": "VF"})

    def test_unknown_function_type_is_a_backend_error(self):
        with pytest.raises(BackendError, match="function_type"):
            parse_device({"vuid": "V", "function_type": "blk"})

    def test_missing_function_type_is_never_guessed_as_hotplug(self):
        """A device of unknown kind must never become prunable."""
        assert parse_device({"vuid": "V"}).type is DeviceType.STATIC_PF
        assert parse_device({"vuid": "V", "vf_id": 0}).type is DeviceType.VF


class TestOtherResults:
    """list capabilities, hotplug, version and live-update status."""

    def test_list_controller_capabilities(self):
        info = parse_controller(values_of("list.out"))
        assert (info.max_hotplug_devices, info.max_virt_queues) == (16, 256)
        assert info.supported_features == 0x8B00037700EF982F

    def test_hotplug_result_identity(self):
        result = parse_hotplug(values_of("hotplug.out"))
        assert result.vuid == "MT2151X03152VNETS1D0F0"
        assert (result.pf_id, result.sf_num, result.bdf) == (1, 2001, "84:0.0")
        assert result.representor == "en3f0pf0sf2001"

    def test_hotplug_without_vuid_still_parses(self):
        result = parse_hotplug([{"bdf": "84:0.0", "id": 2, "errno": 0}])
        assert result.vuid is None
        assert result.pf_id == 2

    @pytest.mark.parametrize(
        ("name", "expected"),
        [("version_list.out", "v24.10.16"), ("version_concat.out", "v24.10.13")],
    )
    def test_version_is_the_original_controller(self, name, expected):
        assert parse_version(values_of(name)) == expected

    def test_version_without_original_is_an_error(self):
        with pytest.raises(BackendError):
            parse_version([[{"Destination Controller": "v1"}]])

    def test_live_update_status_both_spellings(self):
        assert parse_live_update_active(values_of("update_status_active.out")) is True
        assert parse_live_update_active(values_of("update_status_v19.out")) is False

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("16", 16), (16, 16), ("0x1f", 31), ({"value": "0xF"}, 15), (None, None), (True, 1)],
    )
    def test_to_int_accepts_every_vendor_number_form(self, raw, expected):
        assert to_int(raw) == expected

    @pytest.mark.parametrize("raw", ["sixteen", 1.5, [1], {"value": "zz"}])
    def test_to_int_rejects_non_numbers_with_backend_error(self, raw):
        with pytest.raises(BackendError):
            to_int(raw)


_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["vuid", "devices", "mac", "mtu", "function_type", "errno", "x", "status"]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


class TestJunkNeverCrashes:
    """Whatever the CLI prints, the parser raises BackendError or returns a value."""

    @settings(max_examples=300, deadline=None)
    @given(text=st.text(max_size=300), code=st.integers(-2, 3))
    def test_random_text(self, text, code):
        outcome = _outcome(parse_output, code, text, text[:20], ["query"])
        assert isinstance(outcome, list | BackendError)

    @settings(max_examples=300, deadline=None)
    @given(value=_json)
    def test_random_json_shapes_through_every_parser(self, value):
        expected = {
            parse_devices: tuple,
            parse_controller: ControllerInfo,
            parse_hotplug: HotplugResult,
            parse_version: str,
            parse_live_update_active: bool,
        }
        for parser, kind in expected.items():
            assert isinstance(_outcome(parser, [value], ["query"]), kind | BackendError)


def _outcome(function, *args):
    """The return value, or the BackendError raised; any other exception fails the test."""
    try:
        return function(*args)
    except BackendError as e:
        return e


class TestMissingDevices:
    """An answer without a device list is an error, never an empty controller."""

    def test_query_result_without_devices_key_raises(self):
        from reconciler.drivers.parse import parse_devices
        from reconciler.errors import BackendError

        with pytest.raises(BackendError, match="no 'devices'"):
            parse_devices([{"errno": 0, "errstr": "Success"}], ["query", "-a", "-b"])

    def test_empty_device_list_is_an_empty_controller(self):
        from reconciler.drivers.parse import parse_devices

        assert parse_devices([{"devices": []}], ["query", "-a", "-b"]) == ()
