"""Fuzzing the vendor-CLI output parser with hostile sizes and mutated real outputs.

tests/unit/test_parse.py already feeds random text and random JSON shapes; this file
adds what a compromised or broken CLI could print: huge numbers and strings, deep
nesting, byte-level mutations of captured outputs, all under a hypothesis deadline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.drivers.parse import (
    HotplugResult,
    parse_controller,
    parse_devices,
    parse_hotplug,
    parse_live_update_active,
    parse_output,
    parse_version,
)
from reconciler.errors import BackendError
from reconciler.model import ControllerInfo

_CAPTURED = sorted((Path(__file__).resolve().parents[1] / "data" / "cli").glob("*.out"))
_PARSERS = (parse_devices, parse_controller, parse_hotplug, parse_version, parse_live_update_active)
_FAST = settings(
    max_examples=200,
    deadline=1000,  # ms: a hang or blow-up fails the example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _parse_all(stdout: str, returncode: int = 0) -> list:
    """Every parser's result or BackendError; any other exception fails the calling test."""
    try:
        values = parse_output(returncode, stdout, "", ["query", "-a"])
    except BackendError as exc:
        return [exc]
    outcomes: list = []
    for parser in _PARSERS:
        try:
            outcomes.append(parser(values, ["query", "-a"]))
        except BackendError as exc:
            outcomes.append(exc)
    return outcomes


def _typed(outcomes: list) -> bool:
    return bool(outcomes) and all(
        isinstance(o, BackendError | tuple | ControllerInfo | HotplugResult | str | bool)
        for o in outcomes
    )


def _devices(stdout: str):
    """The parsed device tuple, or the BackendError."""
    try:
        return parse_devices(parse_output(0, stdout, "", ["query"]), ["query"])
    except BackendError as exc:
        return exc


def _device(**fields) -> str:
    base = {
        "pf_id": 0,
        "function_type": "hotplug PF",
        "vuid": "MT0VNETS1D0F0",
        "mac": "0C:C4:7A:00:00:01",
        "mtu": "1500",
        "sf_num": 2000,
    }
    return json.dumps({"devices": [{**base, **fields}], "errno": 0, "errstr": "Success"})


class TestHostileSizes:
    """Numbers and strings of absurd size are refused or carried, never a crash or a hang."""

    @pytest.mark.parametrize("digits", [20, 4300, 4301, 100_000])
    def test_huge_integer_in_a_number_field(self, digits):
        for text in (_device(mtu="9" * digits), _device().replace('"1500"', "9" * digits)):
            result = _devices(text)
            assert isinstance(result, BackendError) or result[0].mtu == 10**digits - 1

    @pytest.mark.parametrize(
        "number", ["1e400", "-1e400", "1e-400", "NaN", "Infinity", "0x" + "f" * 10_000, "-0", "1.5"]
    )
    def test_odd_json_numbers(self, number):
        for text in (_device().replace('"1500"', number), _device(mtu=number)):
            result = _devices(text)
            assert isinstance(result, BackendError) or isinstance(result[0].mtu, int)

    def test_a_ten_megabyte_string_is_carried_not_choked_on(self):
        (device,) = _devices(_device(vuid="V" * 10_000_000))
        assert len(device.vuid) == 10_000_000

    @pytest.mark.parametrize("depth", [1000, 100_000])
    def test_deep_nesting_is_a_backend_error_not_a_recursion_error(self, depth):
        assert isinstance(_devices("[" * depth + "]" * depth), BackendError)
        assert isinstance(_devices('{"devices": ' + "[" * depth + "]" * depth + "}"), BackendError)
        nested = _device(features={"value": "0x1", "n": json.loads("[" * 500 + "]" * 500)})
        assert _typed(_parse_all(nested))

    def test_a_controller_error_with_a_huge_code_keeps_its_type(self):
        text = (
            'request:\n{"method": "query"}\nGot JSON-RPC error response\nresponse:\n'
            '{"code": -' + "9" * 5000 + ', "message": "' + "m" * 100_000 + '"}\n'
        )
        with pytest.raises(BackendError):
            parse_output(1, text, "", ["query"])


class TestMutatedCapturedOutputs:
    """Byte flips, truncations and splices of real outputs: typed errors only."""

    @_FAST
    @given(
        index=st.integers(0, max(len(_CAPTURED) - 1, 0)),
        cut=st.integers(0, 4000),
        noise=st.text(max_size=40),
        code=st.sampled_from([0, 1, 2, 255]),
    )
    def test_truncated_and_spliced(self, index, cut, noise, code):
        text = _CAPTURED[index].read_text()
        assert _typed(_parse_all(text[:cut] + noise + text[cut:], code))
        assert _typed(_parse_all(text[:cut], code))

    @_FAST
    @given(
        index=st.integers(0, max(len(_CAPTURED) - 1, 0)),
        flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=8),
    )
    def test_byte_flips(self, index, flips):
        data = bytearray(_CAPTURED[index].read_bytes())
        for pos, byte in flips:
            if data:
                data[pos % len(data)] = byte
        assert _typed(_parse_all(data.decode("utf-8", "replace")))

    @_FAST
    @given(
        value=st.one_of(
            st.integers(),
            st.floats(),
            st.text(max_size=2000),
            st.binary(max_size=64).map(lambda b: b.hex()),
        )
    )
    def test_any_scalar_in_any_device_field(self, value):
        for key in (
            "mtu",
            "num_queues",
            "max_queue_size",
            "sf_num",
            "pf_id",
            "vf_id",
            "mac",
            "vuid",
            "function_type",
            "features",
            "dev_status",
            "num_msix",
        ):
            assert _typed(_parse_all(_device(**{key: value})))

    def test_the_corpus_is_not_empty(self):
        assert len(_CAPTURED) >= 5
