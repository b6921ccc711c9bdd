"""Specs of the VirtnetCli driver: the exact vendor argv per operation and typed results."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reconciler.drivers.runner import RunResult, op_of
from reconciler.drivers.virtnet_cli import VirtnetCli
from reconciler.errors import BackendError, BusyError, InternalError
from reconciler.fields import Spec
from reconciler.model import DeviceSpec, DeviceType

DATA = Path(__file__).resolve().parents[1] / "data" / "cli"
OK = '{\n  "errno": 0,\n  "errstr": "Success"\n}\n'


class FakeRunner:
    """Records every argv and answers with canned (code, stdout, stderr)."""

    def __init__(self, *answers: tuple[int, str, str]):
        self.answers = list(answers) or [(0, OK, "")]
        self.argvs: list[list[str]] = []
        self.calls: Counter = Counter()

    def __call__(self, argv, *, timeout):
        self.argvs.append(list(argv))
        self.calls[op_of(argv)] += 1
        code, out, err = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return RunResult(code, out, err, tuple(argv))


def golden(name: str) -> tuple[int, str, str]:
    return 0, (DATA / name).read_text(), ""


def hotplug_spec(**overrides) -> DeviceSpec:
    values = {
        "name": "web",
        "type": DeviceType.HOTPLUG,
        "mac": "0c:c4:7a:ff:22:93",
        "mtu": 1500,
        "max_queues": 3,
        "max_queue_size": 1024,
        "ib_device": "mlx5_0",
    }
    return DeviceSpec(**{**values, **overrides})


class TestHotplug:
    """hotplug -i IB -m MAC -t MTU -n Q -s QS [-u SF] [-f 0xFEAT] [-l]."""

    def test_required_options_in_vendor_order(self):
        runner = FakeRunner(golden("hotplug.out"))
        result = VirtnetCli(runner).hotplug(hotplug_spec())
        assert runner.argvs == [
            ["hotplug", "-i", "mlx5_0", "-m", "0c:c4:7a:ff:22:93", "-t", "1500", "-n", "3",
             "-s", "1024"]
        ]  # fmt: skip
        assert result.vuid == "MT2151X03152VNETS1D0F0"

    def test_optional_sf_features_and_legacy(self):
        runner = FakeRunner(golden("hotplug.out"))
        VirtnetCli(runner).hotplug(hotplug_spec(sf_num=2001, features=0x80000, legacy=True))
        assert runner.argvs[0][-5:] == ["-u", "2001", "-f", "0x80000", "-l"]

    def test_incomplete_spec_is_a_bug_not_a_controller_call(self):
        runner = FakeRunner()
        with pytest.raises(InternalError, match="-t"):
            VirtnetCli(runner).hotplug(hotplug_spec(mtu=None))
        assert runner.argvs == []

    def test_no_free_port_is_a_backend_error(self):
        runner = FakeRunner((1, (DATA / "error_nospc.out").read_text(), ""))
        with pytest.raises(BackendError) as caught:
            VirtnetCli(runner).hotplug(hotplug_spec())
        assert caught.value.errno == 28


class TestModify:
    """One modify call carries every changed field, by VUID."""

    def test_several_fields_in_one_call(self):
        runner = FakeRunner()
        changes = {Spec.MAC: "0c:c4:7a:ff:22:99", Spec.MTU: 9000, Spec.FEATURES: 0x230047082B}
        VirtnetCli(runner).modify("V1", changes)
        assert runner.argvs == [
            ["modify", "-u", "V1", "device", "-m", "0c:c4:7a:ff:22:99", "-t", "9000",
             "-f", "0x230047082b"]
        ]  # fmt: skip
        assert runner.calls == {"modify": 1}

    def test_msix_and_queue_size_flags(self):
        runner = FakeRunner()
        VirtnetCli(runner).modify("V1", {Spec.MSIX_NUM: 8, Spec.MAX_QUEUE_SIZE: 2048})
        assert runner.argvs[0][4:] == ["-n", "8", "-q", "2048"]

    def test_unmodifiable_field_is_refused_before_any_call(self):
        runner = FakeRunner()
        with pytest.raises(InternalError, match="max_queues"):
            VirtnetCli(runner).modify("V1", {Spec.MAX_QUEUES: 4})
        assert runner.argvs == []

    def test_migrating_device_raises_busy(self):
        runner = FakeRunner((1, (DATA / "error_migrating.out").read_text(), ""))
        with pytest.raises(BusyError):
            VirtnetCli(runner).modify("V1", {Spec.MTU: 9000})

    @pytest.mark.parametrize("stdout", ["", "{'vuid': 'V1', 'mtu': 9000}\n"])
    def test_success_without_json_is_accepted(self, stdout):
        """The vendor's modify/unplug output is unverified: exit 0 with no JSON is success."""
        runner = FakeRunner((0, stdout, ""))
        VirtnetCli(runner).modify("V1", {Spec.MTU: 9000})
        assert runner.calls == {"modify": 1}

    def test_query_without_json_is_an_error(self):
        with pytest.raises(BackendError, match="no JSON"):
            VirtnetCli(FakeRunner((0, "", ""))).query_all()


class TestOtherOperations:
    """query, list, unplug, update, version, restart: argv and results."""

    def test_query_all_is_one_brief_query(self):
        runner = FakeRunner(golden("query_all_brief.out"))
        devices = VirtnetCli(runner).query_all()
        assert runner.argvs == [["query", "-a", "-b"]]
        assert len(devices) == 3

    def test_capabilities_from_list(self):
        runner = FakeRunner(golden("list.out"))
        assert VirtnetCli(runner).capabilities().max_hotplug_devices == 16
        assert runner.argvs == [["list"]]

    def test_unplug_by_vuid(self):
        runner = FakeRunner(golden("modify.out"))
        VirtnetCli(runner).unplug("MT2151X03152VNETS1D0F0")
        assert runner.argvs == [["unplug", "-u", "MT2151X03152VNETS1D0F0"]]

    def test_update_status_version_and_restart(self):
        runner = FakeRunner(
            golden("update_status_active.out"), golden("version_list.out"), (0, OK, "")
        )
        cli = VirtnetCli(runner)
        assert cli.update_status() is True
        assert cli.version() == "v24.10.16"
        cli.restart()
        assert runner.argvs == [["update", "-t"], ["version"], ["restart"]]

    def test_controller_down_is_a_backend_error(self):
        runner = FakeRunner((1, "", (DATA / "cant_connect.err").read_text()))
        with pytest.raises(BackendError, match="not reachable"):
            VirtnetCli(runner).query_all()
