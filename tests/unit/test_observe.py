"""Specs of observe(): one query per cycle, cached capabilities, unreadable sources as notes."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest

from reconciler.backend import EmulatorBackend, VendorBackend
from reconciler.drivers import netlink, rdma
from reconciler.drivers.runner import RunResult, op_of
from reconciler.drivers.virtnet_cli import VirtnetCli
from reconciler.errors import BackendError
from reconciler.keys import Fw
from reconciler.model import Representor
from reconciler.observe import observe, read_config

DATA = Path(__file__).resolve().parents[1] / "data" / "cli"
ANSWERS = {
    "list": "list.out",
    "query": "query_all_brief.out",
    "update": "update_status_active.out",
    "mlxconfig": "mlxconfig_q_e.txt",
}


class OpRunner:
    """Answers each op with its golden output; ``down`` simulates a stopped controller."""

    def __init__(self, down: bool = False):
        self.down = down
        self.calls: Counter = Counter()
        self.argvs: list[tuple[str, ...]] = []

    def __call__(self, argv, *, timeout):
        op = op_of(argv)
        self.calls[op] += 1
        self.argvs.append(tuple(argv))
        if self.down:
            return RunResult(1, "", "ERR: Can't connect to virtio-net-controller\n", tuple(argv))
        return RunResult(0, (DATA / ANSWERS[op]).read_text(), "", tuple(argv))


def make_backend(
    tmp_path: Path, runner: OpRunner | None = None, mlx=True, *, emulator=False
) -> VendorBackend | EmulatorBackend:
    runner = runner or OpRunner()
    common = {
        "cli": VirtnetCli(runner),
        "recovery_dir": tmp_path / "recovery",
        "conf_path": tmp_path / "virtnet.conf",
        "data_dir": tmp_path / "data",
        "netns": None,
        "mlxconfig_runner": runner,
        "mlxconfig_args": ("mlxconfig", "-d", "emu", "q", "-e") if mlx else None,
    }
    if emulator:
        return EmulatorBackend(emulator_root=tmp_path, **common)
    return VendorBackend(restart_argv=("restart",), **common)


@pytest.fixture
def no_kernel(monkeypatch):
    """Representors from a fixed table, so unit tests do not depend on the host's links."""
    table = {"en3f0pf0sf2000": Representor("en3f0pf0sf2000", 12, True, 9000)}
    monkeypatch.setattr(netlink, "list_representors", lambda netns: dict(table))


class TestOneObservationPerCycle:
    """Exactly one query -a -b per observe; list only the first time."""

    def test_calls_are_counted_per_cycle(self, tmp_path, no_kernel):
        chosen = make_backend(tmp_path)
        first = observe(chosen)
        observe(chosen)
        assert chosen.cli.calls == {"list": 1, "query": 2}
        assert ("query", "-a", "-b") in chosen.cli.runner.argvs
        assert len(first.devices) == 3
        assert first.controller.max_hotplug_devices == 16

    def test_stopped_controller_raises(self, tmp_path, no_kernel):
        with pytest.raises(BackendError, match="not reachable"):
            observe(make_backend(tmp_path, OpRunner(down=True)))


class TestSecondarySources:
    """Recovery records, representors, RDMA, virtnet.conf: read or noted, never fatal."""

    def test_recovery_records_and_their_problems(self, tmp_path, no_kernel):
        (tmp_path / "recovery").mkdir()
        (tmp_path / "recovery" / "V1").write_text(json.dumps({"pf_id": 1, "sf_num": 2000}))
        (tmp_path / "recovery" / "V2").write_text("{not json")
        world = observe(make_backend(tmp_path))
        assert [r.vuid for r in world.recovery] == ["V1"]
        assert any("V2" in note and "not JSON" in note for note in world.notes)

    def test_representors_by_name(self, tmp_path, no_kernel):
        world = observe(make_backend(tmp_path))
        assert world.representors["en3f0pf0sf2000"].mtu == 9000

    def test_emulator_without_netns_has_no_kernel_side_to_read(self, tmp_path, no_kernel):
        chosen = make_backend(tmp_path, emulator=True)
        world = observe(chosen)
        assert world.representors is None
        assert any("emulator has no netns" in note for note in world.notes)

    def test_unreadable_netlink_gives_none_and_a_note(self, tmp_path):
        chosen = dataclasses.replace(make_backend(tmp_path), netns="virtnet-test-no-such-ns")
        world = observe(chosen)
        assert world.representors is None
        assert any("representors not read" in note for note in world.notes)

    def test_representors_not_asked_for_are_none_without_note(self, tmp_path):
        world = observe(make_backend(tmp_path), read_representors=False)
        assert world.representors is None
        assert world.notes == ()

    def test_rdma_problem_is_a_note(self, tmp_path, no_kernel, monkeypatch):
        monkeypatch.setattr(
            rdma, "list_rdma_devices", lambda: rdma.RdmaInventory(None, "pyverbs not installed")
        )
        world = observe(make_backend(tmp_path), read_rdma=True)
        assert world.rdma_devices is None
        assert "RDMA devices not read: pyverbs not installed" in world.notes

    def test_rdma_devices_listed(self, tmp_path, no_kernel, monkeypatch):
        monkeypatch.setattr(
            rdma, "list_rdma_devices", lambda: rdma.RdmaInventory(("mlx5_0", "mlx5_1"))
        )
        assert observe(make_backend(tmp_path), read_rdma=True).rdma_devices == ("mlx5_0", "mlx5_1")

    def test_config_on_disk(self, tmp_path, no_kernel):
        (tmp_path / "virtnet.conf").write_text('{"is_lag": 0, "recovery": 1}')
        world = observe(make_backend(tmp_path))
        assert dict(world.config_on_disk) == {"is_lag": 0, "recovery": 1}


class TestFirmwareAndLiveUpdate:
    """Optional controller facts: mlxconfig once per process, update -t per cycle."""

    def test_firmware_current_values_are_read_once(self, tmp_path, no_kernel):
        chosen = make_backend(tmp_path)
        observe(chosen, read_firmware=True)
        world = observe(chosen, read_firmware=True)
        assert world.controller.firmware[Fw.PF_TOTAL_SF] == 64
        assert chosen.cli.calls["mlxconfig"] == 1

    def test_unknown_mlxconfig_device_is_a_note(self, tmp_path, no_kernel):
        world = observe(make_backend(tmp_path, mlx=False), read_firmware=True)
        assert world.controller.firmware == {}
        assert any("VIRTNET_MLXCONFIG_DEVICE" in note for note in world.notes)

    def test_live_update_status(self, tmp_path, no_kernel):
        world = observe(make_backend(tmp_path), read_live_update=True)
        assert world.controller.live_update_active is True


class TestReadConfig:
    """virtnet.conf: absent is None; unusable is None plus a one-line reason."""

    def test_absent(self, tmp_path):
        assert read_config(tmp_path / "virtnet.conf") == (None, None)

    @pytest.mark.parametrize(
        ("text", "reason"), [('{"is_lag": ', "not valid JSON"), ("[1]", "not a JSON object")]
    )
    def test_unusable(self, tmp_path, text, reason):
        path = tmp_path / "virtnet.conf"
        path.write_text(text)
        config, note = read_config(path)
        assert config is None
        assert reason in note
        assert "\n" not in note
