"""The vendor-output parser against the documentation's own examples (tests/data/vendor).

The fixtures are written by hand from the vendor page and the reference (their
sources are in tests/data/vendor/SOURCES.toml) and never regenerated, so the
parser is checked against what the vendor documents, not against our emulator.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from reconciler.drivers.parse import (
    parse_controller,
    parse_devices,
    parse_hotplug,
    parse_live_update_active,
    parse_output,
    parse_version,
)
from reconciler.drivers.recovery import read_records
from reconciler.errors import BackendError, BusyError
from reconciler.model import DeviceType

VENDOR = Path(__file__).resolve().parents[1] / "data" / "vendor"
MANIFEST = tomllib.loads((VENDOR / "SOURCES.toml").read_text())
ENTRIES: dict[str, dict] = MANIFEST["files"]
CONFIDENCE = {"DOC", "README", "3P", "INF", "UNV"}  # the reference's legend (its section 0)


def text(name: str) -> str:
    return (VENDOR / name).read_text()


def argv(name: str) -> list[str]:
    return list(ENTRIES[name]["argv"])


def values(name: str) -> list:
    """The JSON values of a documented successful answer, read as the driver reads them."""
    assert ENTRIES[name]["exit"] == 0
    return parse_output(0, text(name), "", argv(name))


class TestEveryFixtureNamesItsSource:
    """Each file is listed with its source and confidence; nothing unlisted slips in."""

    def test_every_file_in_the_directory_is_listed(self):
        listed = set(ENTRIES) | {"SOURCES.toml"}
        present = {p.name for p in VENDOR.iterdir()}
        assert present - listed == set(), "fixtures without a SOURCES.toml entry"
        assert listed - present == set(), "SOURCES.toml entries without a file"

    @pytest.mark.parametrize("name", sorted(ENTRIES))
    def test_entry_names_a_source_and_a_confidence_tag(self, name):
        entry = ENTRIES[name]
        assert entry["source"].strip()
        assert entry["confidence"] in CONFIDENCE

    def test_every_older_cli_fixture_is_classified_too(self):
        """tests/data/cli holds our conventions as much as vendor examples: each says which."""
        cli = VENDOR.parent / "cli"
        entries = tomllib.loads((cli / "SOURCES.toml").read_text())["files"]
        assert {p.name for p in cli.iterdir()} == set(entries) | {"SOURCES.toml"}
        origins = {entry["origin"] for entry in entries.values()}
        assert origins <= {"documented", "adapted", "convention"}


class TestDocumentedHotplugResults:
    """reference 4.1 and the 1.x README: the identity of the new PF."""

    @pytest.mark.parametrize("name", ["hotplug.out", "hotplug_params_echo.out"])
    def test_reference_block_with_and_without_params_echo(self, name):
        result = parse_hotplug(values(name), argv(name))
        assert result.vuid == "MT2151X03152VNETS1D0F0"
        assert (result.pf_id, result.sf_num, result.bdf) == (1, 2001, "84:0.0")
        assert result.representor == "en3f0pf0sf2001"

    def test_readme_shape_without_vuid_takes_the_sf_from_the_representor(self):
        result = parse_hotplug(values("hotplug_1x.out"), argv("hotplug_1x.out"))
        assert result.vuid is None
        assert (result.pf_id, result.sf_num, result.representor) == (1, 1001, "en3f0pf0sf1001")


class TestDocumentedListAndQuery:
    """reference 4.3 / 4.4, quirks kept: string numbers, padded bit keys, upper-case MACs."""

    def test_list_capabilities_from_string_numbers_and_padded_bitfield(self):
        info = parse_controller(values("list.out"), ["list"])
        assert (info.max_hotplug_devices, info.max_virt_queues) == (16, 256)
        assert info.supported_features == 0x8B00037700EF982F

    def test_list_device_normalised(self):
        (device,) = parse_devices(values("list.out"), ["list"])
        assert (device.vuid, device.type, device.pf_id, device.vf_id) == (
            "MT2151X03152VNETS0D0F2",
            DeviceType.STATIC_PF,
            0,
            None,
        )
        assert device.mac == "5a:94:07:04:f6:1c"
        assert (device.mtu, device.max_queues, device.max_queue_size, device.msix_num) == (
            1500,
            8,
            256,
            64,
        )
        assert (device.sf_num, device.ib_device, device.representor) == (
            1000,
            "mlx5_0",
            "en3f0pf0sf1000",
        )
        assert (device.bdf, device.legacy) == ("14:00.2", False)
        assert device.features is None  # the documented list prints no per-device features

    def test_query_vf_with_queues_and_dev_status(self):
        (vf,) = parse_devices(values("query.out"), argv("query.out"))
        assert (vf.type, vf.pf_id, vf.vf_id, vf.vuid) == (DeviceType.VF, 0, 0, "...")
        assert (vf.mac, vf.mtu, vf.msix_num, vf.max_queues) == ("00:00:00:00:33:00", 1500, 10, 8)
        assert (vf.sf_num, vf.representor, vf.bdf) == (3000, "en3f0pf0sf3000", "af:04.5")
        assert vf.driver_status == 0xF
        assert vf.driver_bound


class TestDocumentedSmallAnswers:
    """unplug/modify (4.2), update -t in both documented spellings (4.5), version (4.6)."""

    def test_unplug_result_is_a_success_with_or_without_json_required(self):
        name = "unplug_modify.out"
        assert parse_output(0, text(name), "", argv(name), require_json=False) == [
            {"errno": 0, "errstr": "Success"}
        ]

    @pytest.mark.parametrize("name", ["update_status_v2407.out", "update_status_v2410.out"])
    def test_update_status_inactive_in_both_spellings(self, name):
        assert parse_live_update_active(values(name), argv(name)) is False

    @pytest.mark.parametrize(
        ("name", "running"),
        [("version_page.out", "v24.10.13"), ("version_list.out", "v24.10.17")],
    )
    def test_version_is_the_original_controller(self, name, running):
        assert parse_version(values(name), argv(name)) == running


class TestDocumentedFailures:
    """The JSON-RPC error block of the sibling client, "migrating", "Can't connect"."""

    def test_error_block_keeps_errno_message_and_names_the_verb(self):
        name = "error_unplug_static.out"
        with pytest.raises(BackendError) as caught:
            parse_output(ENTRIES[name]["exit"], text(name), "", argv(name))
        error = caught.value
        assert not isinstance(error, BusyError)
        assert (error.errno, error.errstr, error.returncode) == (1, "Operation not permitted", 1)
        assert str(error).startswith("virtnet unplug: ")

    def test_migrating_is_a_busy_error(self):
        name = "error_migrating.out"
        with pytest.raises(BusyError, match=r"^virtnet modify: migrating"):
            parse_output(ENTRIES[name]["exit"], text(name), "", argv(name))

    def test_cannot_connect_on_stdout_is_unreachable(self):
        name = "cant_connect.out"
        with pytest.raises(BackendError, match=r"^virtnet list: controller not reachable"):
            parse_output(ENTRIES[name]["exit"], text(name), "", argv(name))

    def test_a_device_entry_that_only_says_migrating_is_busy(self):
        """The page: a migrating device 'appears as "migrating"' (where exactly is UNV)."""
        answer = json.dumps({"devices": ["migrating"]})
        with pytest.raises(BusyError, match=r"^virtnet query: "):
            parse_devices(parse_output(0, answer, "", ["query", "-a", "-b"]), ["query"])


class TestDocumentedRecoveryRecords:
    """The page's recovery file example and the 24.x one, read as the controller wrote them."""

    @pytest.mark.parametrize(
        ("name", "bdf_raw", "mq"),
        [("recovery_hotplug_pf.json", 26624, 1), ("recovery_hotplug_pf_24x.json", 57611, 3)],
    )
    def test_record_fields(self, tmp_path, name, bdf_raw, mq):
        (tmp_path / "MT2151X03152VNETS1D0F0").write_text(text(name))
        (record,), problems = read_records(tmp_path)
        assert problems == ()
        assert record.vuid == "MT2151X03152VNETS1D0F0"
        assert (record.port_ib_dev, record.pf_id, record.function_type) == ("mlx5_0", 0, "pf")
        assert (record.device_type, record.mac) == ("hotplug", "0c:c4:7a:ff:22:93")
        assert (record.pf_num, record.sf_num, record.bdf_raw, record.mq) == (0, 2000, bdf_raw, mq)


# The verb's parser for each documented single-value answer: a cut anywhere in it must fail.
_WHOLE_ANSWERS = {
    "list.out": (parse_controller, parse_devices),
    "query.out": (parse_devices,),
    "hotplug.out": (parse_hotplug,),
    "hotplug_params_echo.out": (parse_hotplug,),
    "hotplug_1x.out": (parse_hotplug,),
    "update_status_v2407.out": (parse_live_update_active,),
    "update_status_v2410.out": (parse_live_update_active,),
    "version_list.out": (parse_version,),
}
_QUERY_ECHO = "{'pf_id': 0, 'vf_id': 0}\n"  # what the client echoes for `query -p 0 -v 0` (INF)


def _cuts_not_refused(whole: str, call: list[str], parsers) -> list[tuple[int, str]]:
    """(cut length, outcome) for each cut that did not fail with an error naming the verb."""
    verb = next(word for word in call if not word.startswith("-"))
    wrong = []
    for cut in range(len(whole.rstrip())):
        for parser in parsers:
            try:
                outcome = repr(parser(parse_output(0, whole[:cut], "", call), call))
            except BackendError as exc:
                outcome = str(exc)
                if outcome.startswith(f"virtnet {verb}: "):
                    continue
            wrong.append((cut, outcome))
    return wrong


class TestTruncatedAnswersAreErrors:
    """An answer cut anywhere is an error naming the verb, never partial capabilities or devices.

    Output cut at a buffer size (64/128 KiB) used to parse as capabilities all None
    or as the first complete inner object.
    """

    @pytest.mark.parametrize("name", sorted(_WHOLE_ANSWERS))
    def test_every_cut_of_a_documented_answer_fails(self, name):
        assert _cuts_not_refused(text(name), argv(name), _WHOLE_ANSWERS[name]) == []

    def test_every_cut_of_a_query_after_its_params_echo_fails(self):
        whole = _QUERY_ECHO + text("query.out")
        assert _cuts_not_refused(whole, argv("query.out"), (parse_devices,)) == []

    def test_the_whole_answers_parse(self):
        """The check above is meaningful only if the uncut answers are accepted."""
        for name, parsers in _WHOLE_ANSWERS.items():
            for parser in parsers:
                assert parser(values(name), argv(name)) is not None

    def test_trailing_garbage_after_the_answer_is_an_error(self):
        cut_and_retried = text("update_status_v2410.out") + '{"status": "ina'
        with pytest.raises(BackendError, match=r"^virtnet update: .*truncated"):
            parse_output(0, cut_and_retried, "", ["update", "-t"])

    def test_a_truncated_modify_answer_is_an_error(self):
        whole = text("unplug_modify.out")
        with pytest.raises(BackendError, match=r"^virtnet modify: "):
            parse_output(0, whole[: whole.index("errstr")], "", ["modify"], require_json=False)


class TestIncompleteCapabilities:
    """A complete answer that lacks the capabilities is an error too, not "no limits"."""

    def test_list_without_controller_block(self):
        documented = json.loads(text("list.out"))
        del documented["controller"]
        with pytest.raises(BackendError, match=r"^virtnet list: no 'controller'"):
            parse_controller([documented], ["list"])

    def test_controller_block_naming_no_capability(self):
        with pytest.raises(BackendError, match=r"^virtnet list: .*names no capability"):
            parse_controller([{"controller": {"emulation_manager": "mlx5_0"}}], ["list"])

    def test_readme_queue_bound_name_max_virtq_is_read(self):
        """The 1.x README bounds -n by "max_virtq from virtnet list"."""
        info = parse_controller([{"controller": {"max_virtq": "64"}}], ["list"])
        assert (info.max_virt_queues, info.max_hotplug_devices) == (64, None)
