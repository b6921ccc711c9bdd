"""The emulator against the documentation: ``virtnet-emu`` output has the documented shapes.

Each check runs the ``virtnet-emu`` executable in a private emulator root and compares
what it prints with the hand-written fixtures of tests/data/vendor (sources in
SOURCES.toml): the keys and JSON types of the documented examples, not their bytes.
Where the documentation is only a reconstruction ([UNV] in the reference: most of
``list``/``query``, the error wording) the emulator may choose: missing keys and other
spellings are accepted, and only keys both print must agree in type (numbers printed
as strings stay strings). What the page or a README states ([DOC], [README]) must hold.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

VENDOR = Path(__file__).resolve().parents[1] / "data" / "vendor"
ENTRIES = tomllib.loads((VENDOR / "SOURCES.toml").read_text())["files"]
_BIN = Path(sys.executable).parent / "virtnet-emu"
EMU = str(_BIN) if _BIN.exists() else (shutil.which("virtnet-emu") or "virtnet-emu")
VERSION = re.compile(r"^v\d+(\.\d+)+$")


def documented_text(name: str) -> str:
    return (VENDOR / name).read_text()


def documented_json(name: str):
    """The documented value(s) of a fixture, after its params echo line."""
    (value,) = json_after_echo(documented_text(name))
    return value


def json_after_echo(stdout: str) -> list:
    """The JSON values of an answer, skipping a first line that is a Python-repr params dict."""
    first, _, rest = stdout.partition("\n")
    if first.startswith("{'"):
        assert isinstance(ast.literal_eval(first), dict), first
        stdout = rest
    decoder, values, pos = json.JSONDecoder(), [], 0
    while pos < len(stdout):
        if stdout[pos].isspace() or stdout[pos] == ",":
            pos += 1
            continue
        value, pos = decoder.raw_decode(stdout, pos)
        values.append(value)
    return values


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def type_mismatches(documented, emulated, path: str = "$") -> list[str]:
    """Where a key both print holds different JSON types (lists: each item vs the first)."""
    if isinstance(documented, dict) and isinstance(emulated, dict):
        out = []
        for key, value in documented.items():
            if key in emulated:
                out += type_mismatches(value, emulated[key], f"{path}.{key}")
        return out
    if isinstance(documented, list) and isinstance(emulated, list):
        if not documented:
            return []
        return [m for item in emulated for m in type_mismatches(documented[0], item, f"{path}[]")]
    if _kind(documented) != _kind(emulated):
        return [f"{path}: emulator prints {_kind(emulated)}, documented {_kind(documented)}"]
    return []


def bitfield_problems(field, path: str) -> list[str]:
    """A bitfield is {"value": "0x..", "<bit>": NAME} with a name for set bits only.

    Bit keys are padded ("  0") in the 4.3 example and not ("0") in 4.4: either is fine.
    """
    if not isinstance(field, dict) or not isinstance(field.get("value"), str):
        return [f"{path}: not a bitfield: {field!r}"]
    value = int(field["value"], 16)
    return [
        f"{path}: bit {key.strip()} is named but not set in {field['value']}"
        for key in field
        if key != "value" and not (key.strip().isdecimal() and value >> int(key.strip()) & 1)
    ]


class Emu:
    """One emulated DPU in its own root, driven only through the ``virtnet-emu`` executable."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {**os.environ, "VIRTNET_EMULATOR_ROOT": str(root)}
        self.env.pop("VIRTNET_EMULATOR_NETNS", None)

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [EMU, *argv], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def ok(self, *argv: str) -> str:
        proc = self.run(*argv)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc.stdout

    def value(self, *argv: str):
        (value,) = json_after_echo(self.ok(*argv))
        return value

    def record(self, vuid: str) -> dict:
        """The recovery file of a device (DESIGN 6: ``<root>/recovery/<VUID>``)."""
        return json.loads((self.root / "recovery" / vuid).read_text())

    def stop_service(self) -> None:
        self.run("stop")


def _emu(tmp_path_factory, name: str, *init: str):
    emu = Emu(tmp_path_factory.mktemp(name) / "emu")
    if init:
        emu.ok("init", *init)
    return emu


@pytest.fixture
def emu(tmp_path_factory):
    """A fresh DPU: one static PF with two VFs, hotplug ports free."""
    emu = _emu(tmp_path_factory, "emu", "--num-pf", "1", "--num-vf", "2")
    yield emu
    emu.stop_service()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A static PF, two VFs and the README's hotplug, for the read-only checks."""
    emu = _emu(tmp_path_factory, "world", "--num-pf", "1", "--num-vf", "2")
    hotplug = json_after_echo(emu.ok(*ENTRIES["hotplug_1x.out"]["argv"]))[0]
    yield emu, hotplug
    emu.stop_service()


class TestHelp:
    """The page's `virtnet -h` and `virtnet log -h` (DOC)."""

    def test_every_documented_subcommand_and_option_is_offered(self, emu):
        documented = documented_text("virtnet_h.txt")
        verbs = re.search(r"\{([a-z,]+)\}", documented).group(1).split(",")
        shown = emu.ok("-h")
        offered = set(re.search(r"\{([a-z,-]+)\}", shown).group(1).split(","))
        assert shown.startswith("usage: virtnet ")
        assert set(verbs) - offered == set()
        assert "-h, --help" in shown
        assert "-v, --version" in shown

    def test_documented_log_levels_are_accepted(self, emu):
        levels = re.search(r"-l \{([a-z,]+)\}", documented_text("virtnet_log_h.txt")).group(1)
        for level in levels.split(","):
            emu.ok("log", "-l", level)

    def test_log_level_outside_the_documented_choices_is_a_usage_error(self, emu):
        assert emu.run("log", "-l", "verbose").returncode == 2

    def test_log_help_shows_the_documented_choices(self, emu):
        documented = documented_text("virtnet_log_h.txt").splitlines()[0]
        assert emu.ok("log", "-h").splitlines()[0] == documented


class TestVersions:
    """`virtnet -v` (a bare version) and `virtnet version` (Original / Destination) (DOC, 3P)."""

    def test_dash_v_prints_one_version_line(self, emu):
        assert VERSION.match(documented_text("version_flag.out").strip())
        (line,) = emu.ok("-v").splitlines()
        assert VERSION.match(line), line

    def test_version_names_original_and_destination_controllers(self, emu):
        found = json_after_echo(emu.ok("version"))
        items = found[0] if len(found) == 1 and isinstance(found[0], list) else found
        merged = {k: v for item in items for k, v in item.items()}
        documented = {
            k: v
            for item in json_after_echo(documented_text("version_page.out"))
            for k, v in item.items()
        }
        assert set(documented) <= set(merged)
        assert all(VERSION.match(merged[key]) for key in documented)


class TestUpdateStatus:
    """`update -t` in one of the two documented spellings, "inactive" when idle (DOC)."""

    def test_idle_status_matches_a_documented_shape(self, emu):
        status = emu.value("update", "-t")
        shapes = ["update_status_v2407.out", "update_status_v2410.out"]
        matching = [n for n in shapes if set(documented_json(n)) <= set(status)]
        assert matching, f"keys {sorted(status)} match neither documented update -t shape"
        documented = documented_json(matching[0])
        assert type_mismatches(documented, status) == []
        assert status.get("status", status.get("current status")) == "inactive"


class TestHotplugAnswer:
    """The README's hotplug, answered with its confirmed keys (README; 4.1 UNV for the rest)."""

    def test_readme_keys_with_documented_types(self, world):
        _, answer = world
        readme = documented_json("hotplug_1x.out")
        assert set(readme) - set(answer) == set()
        assert type_mismatches(readme, answer) == []
        assert type_mismatches(documented_json("hotplug.out"), answer) == []

    def test_values_look_like_the_documented_ones(self, world):
        _, answer = world
        assert re.fullmatch(r"[0-9a-f]{2}:[0-9a-f]{1,2}\.[0-7]", answer["bdf"]), answer["bdf"]
        assert answer["mac"].lower() == "0c:c4:7a:ff:22:93"
        # the page: representor names come from udev, but the SF number is always >= 1000
        assert int(re.search(r"(\d+)$", answer["sf_rep_net_device"]).group(1)) >= 1000

    def test_params_echo_when_printed_is_a_python_dict(self, world):
        emu, _ = world
        first = emu.ok("query", "-p", "0", "-v", "0").splitlines()[0]
        if first.startswith("{'"):
            assert isinstance(ast.literal_eval(first), dict)
        else:
            assert first.strip() in ("{", "[")


class TestRecoveryRecords:
    """One file per device named by its VUID, with the page example's keys and types (DOC)."""

    def test_hotplug_record_has_the_page_example_shape(self, world):
        emu, answer = world
        vuid = _vuid_of(emu, answer["mac"])
        record = emu.record(vuid)
        documented = json.loads(documented_text("recovery_hotplug_pf.json"))
        assert set(documented) - set(record) == set()
        assert type_mismatches(documented, record) == []
        assert (record["function_type"], record["device_type"]) == ("pf", "hotplug")
        assert record["mac"].lower() == answer["mac"].lower()
        assert record["sf_num"] >= 1000

    def test_vf_record_has_the_same_keys_plus_vf_id(self, world):
        emu, _ = world
        vf = next(d for d in emu.value("query", "-a", "-b")["devices"] if "vf_id" in d)
        record = emu.record(vf["vuid"])
        documented = json.loads(documented_text("recovery_hotplug_pf.json"))
        assert set(documented) - {"device_type"} - set(record) == set()
        assert record["function_type"] == "vf"
        assert isinstance(record["vf_id"], int)


def _vuid_of(emu: Emu, mac: str) -> str:
    devices = emu.value("query", "-a", "-b")["devices"]
    (vuid,) = [d["vuid"] for d in devices if d.get("mac", "").lower() == mac.lower()]
    return vuid


class TestListAndQuery:
    """list and query (4.3 / 4.4 are reconstructions: types of shared keys, README facts)."""

    def test_list_has_capabilities_and_devices_with_documented_types(self, world):
        emu, _ = world
        listed = emu.value("list")
        documented = documented_json("list.out")
        assert isinstance(listed["controller"], dict)
        assert listed["devices"]
        assert all(isinstance(d["vuid"], str) for d in listed["devices"])
        assert type_mismatches(documented, listed) == []

    def test_list_capabilities_carry_feature_bits_and_a_queue_bound(self, world):
        """README: list shows the supported feature bits and max_virtq (names are UNV)."""
        emu, _ = world
        caps = emu.value("list")["controller"]
        features = [k for k, v in caps.items() if "feature" in k and isinstance(v, dict)]
        assert features
        assert {"max_virt_queues", "max_virtq"} & set(caps)
        for key in features:
            assert bitfield_problems(caps[key], key) == []

    def test_query_of_one_vf_has_the_documented_device_shape(self, world):
        emu, _ = world
        answer = emu.value(*ENTRIES["query.out"]["argv"])
        documented = documented_json("query.out")
        (device,) = answer["devices"]
        assert isinstance(device["vuid"], str)
        assert isinstance(device["sf_rep_net_device"], str)
        assert device["queues"]
        assert type_mismatches(documented, answer) == []
        for key in ("dev_status", "features"):
            if key in device:
                assert bitfield_problems(device[key], key) == []

    def test_grep_for_the_representor_works_as_nvidia_documents(self, world):
        """`virtnet query -p 0 -v 0 | grep sf_rep_net_device` (NVIDIA's vhostd doc)."""
        emu, _ = world
        pattern = re.compile(r'\s*"sf_rep_net_device": "[^"]+",')
        assert pattern.fullmatch(documented_text("query_vf_grep_sf_rep.txt").rstrip("\n"))
        stdout = emu.ok(*ENTRIES["query_vf_grep_sf_rep.txt"]["argv"])
        hits = [line for line in stdout.splitlines() if "sf_rep_net_device" in line]
        assert len(hits) == 1
        assert pattern.fullmatch(hits[0]), hits

    def test_brief_drops_queues_and_full_query_keeps_them(self, world):
        """README: `--brief (or -b) can be used to ignore queue info`."""
        emu, _ = world
        assert all("queues" not in d for d in emu.value("query", "-a", "-b")["devices"])
        assert all("queues" in d for d in emu.value("query", "-a")["devices"])


class TestMutatingAnswers:
    """unplug / modify answers (4.2, UNV: JSON when printed is an errno 0 object)."""

    def test_unplug_and_modify_answers(self, emu):
        documented = documented_json("unplug_modify.out")
        answer = json_after_echo(emu.ok(*ENTRIES["hotplug_1x.out"]["argv"]))[0]
        for argv in (
            ["modify", "-p", "0", "-v", "0", "device", "-t", "9000"],
            ["unplug", "-p", str(answer["id"])],
        ):
            for value in json_after_echo(emu.ok(*argv)):
                assert type_mismatches(documented, value) == []
                assert value.get("errno", 0) == 0


class TestFailures:
    """The JSON-RPC error block and "Can't connect" (reference 4 preamble, INF)."""

    def test_refused_call_prints_the_error_block_and_exits_1(self, emu):
        proc = emu.run(*ENTRIES["error_unplug_static.out"]["argv"])
        assert proc.returncode == ENTRIES["error_unplug_static.out"]["exit"]
        lines = proc.stdout.splitlines()
        marks = ["request:", "Got JSON-RPC error response", "response:"]
        assert all(mark in lines for mark in marks), proc.stdout
        positions = [lines.index(mark) for mark in marks]
        assert positions == sorted(positions)
        request = "\n".join(lines[positions[0] + 1 : positions[1]])
        assert isinstance(json.loads(request), dict)
        error = json.loads("\n".join(lines[positions[2] + 1 :]))
        documented = documented_text("error_unplug_static.out").split("response:\n", 1)[1]
        assert set(json.loads(documented)) <= set(error)
        assert type_mismatches(json.loads(documented), error) == []

    def test_stopped_controller_answers_cant_connect(self, emu):
        emu.run("stop")
        proc = emu.run("list")
        assert proc.returncode == ENTRIES["cant_connect.out"]["exit"]
        prefix = documented_text("cant_connect.out")[: len("ERR: Can't connect")]
        lines = (proc.stdout + proc.stderr).splitlines()
        assert any(line.startswith(prefix) for line in lines), lines


class TestDocumentedVirtnetConf:
    """The page's two virtnet.conf examples, read by the emulated controller at start (DOC)."""

    def _started_with(self, tmp_path_factory, name: str, *init: str) -> Emu:
        emu = Emu(tmp_path_factory.mktemp("conf") / "emu")
        emu.root.mkdir(parents=True)
        (emu.root / "virtnet.conf").write_text(documented_text(name))
        emu.ok("init", *init)
        return emu

    def test_non_lag_example_mac_bases(self, tmp_path_factory):
        """pf_mac -> pf_0, pf_mac + 1 -> pf_1; the VF base the same way (vfs_per_pf <= NUM_VF)."""
        emu = self._started_with(
            tmp_path_factory,
            "virtnet_conf_non_lag.json",
            "--num-pf",
            "1",
            "--num-vf",
            "100",
            "--sriov-numvfs",
            "2",
        )
        try:
            devices = emu.value("query", "-a", "-b")["devices"]
            macs = {(d["pf_id"], d.get("vf_id")): d["mac"].upper() for d in devices}
            assert macs[(0, None)] == "11:22:33:44:55:66"
            assert (macs[(0, 0)], macs[(0, 1)]) == ("CC:48:15:FF:00:00", "CC:48:15:FF:00:01")
        finally:
            emu.stop_service()

    def test_lag_example_puts_static_pfs_and_hotplugs_on_the_bond(self, tmp_path_factory):
        emu = self._started_with(tmp_path_factory, "virtnet_conf_lag.json", "--num-pf", "1")
        try:
            argv = list(ENTRIES["hotplug_1x.out"]["argv"])
            argv[argv.index("mlx5_0")] = "mlx5_bond_0"  # reference 10.4: hotplug -i mlx5_bond_0
            answer = json_after_echo(emu.ok(*argv))[0]
            devices = emu.value("query", "-a", "-b")["devices"]
            static = next(
                d for d in devices if "vf_id" not in d and d["vuid"] != _vuid_of(emu, answer["mac"])
            )
            assert emu.record(static["vuid"])["port_ib_dev"] == "mlx5_bond_0"
            assert emu.record(_vuid_of(emu, answer["mac"]))["port_ib_dev"] == "mlx5_bond_0"
        finally:
            emu.stop_service()
