"""Specs of backend selection (DESIGN.md section 4): flags, env vars, vendor CLI discovery."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from reconciler import backend as backend_module
from reconciler.backend import find_vendor_cli, resolve_backend
from reconciler.drivers.runner import InProcessRunner, SubprocessRunner
from reconciler.errors import BackendError


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def vendor_cli(tmp_path):
    return executable(tmp_path / "vendor-virtnet", "#!/bin/sh\necho '{}'\n")


@pytest.fixture
def own_script(tmp_path):
    body = "#!/usr/bin/python3\nimport sys\nfrom reconciler.cli import main\nsys.exit(main())\n"
    return executable(tmp_path / "virtnet", body)


@pytest.fixture(autouse=True)
def no_default_vendor_paths(monkeypatch, tmp_path):
    """The machine's /usr/sbin/virtnet must not decide these tests."""
    monkeypatch.setattr(backend_module, "VENDOR_CLI_PATHS", (str(tmp_path / "none"),))
    monkeypatch.setattr(backend_module, "_announced", True)


class TestSelection:
    """--backend beats $VIRTNET_BACKEND beats discovery."""

    def test_vendor_when_the_vendor_cli_is_found(self, vendor_cli):
        chosen = resolve_backend(None, env={"VIRTNET_VENDOR_CLI": str(vendor_cli)})
        assert chosen.kind == "vendor"
        assert chosen.cli.runner.prefix == (str(vendor_cli),)

    def test_emulator_when_no_vendor_cli(self, tmp_path):
        chosen = resolve_backend(None, env={"VIRTNET_EMULATOR_ROOT": str(tmp_path / "emu")})
        assert chosen.kind == "emulator"
        assert chosen.emulator_root == tmp_path / "emu"

    def test_env_var_chooses_emulator_even_with_a_vendor_cli(self, vendor_cli):
        env = {"VIRTNET_VENDOR_CLI": str(vendor_cli), "VIRTNET_BACKEND": "emulator"}
        assert resolve_backend(None, env=env).kind == "emulator"

    def test_flag_beats_env_var(self, vendor_cli):
        env = {"VIRTNET_VENDOR_CLI": str(vendor_cli), "VIRTNET_BACKEND": "emulator"}
        assert resolve_backend("vendor", env=env).kind == "vendor"

    def test_vendor_asked_for_but_missing_is_a_clear_error(self, tmp_path):
        env = {"VIRTNET_VENDOR_CLI": str(tmp_path / "absent")}
        with pytest.raises(BackendError, match="not an executable vendor virtnet CLI"):
            resolve_backend("vendor", env=env)

    def test_a_wrong_vendor_cli_path_never_falls_back_to_the_emulator(self, tmp_path):
        env = {"VIRTNET_VENDOR_CLI": str(tmp_path / "typo")}
        with pytest.raises(BackendError, match="choose --backend emulator"):
            resolve_backend(None, env=env)

    def test_emulator_asked_for_ignores_the_vendor_cli_variable(self, tmp_path):
        env = {
            "VIRTNET_VENDOR_CLI": str(tmp_path / "typo"),
            "VIRTNET_EMULATOR_ROOT": str(tmp_path / "emu"),
        }
        assert resolve_backend("emulator", env=env).kind == "emulator"

    def test_unknown_backend_name_is_an_error(self):
        with pytest.raises(BackendError, match="unknown backend"):
            resolve_backend("hardware", env={})

    def test_default_choice_is_announced_once_on_stderr(self, monkeypatch, tmp_path, capsys):
        monkeypatch.setattr(backend_module, "_announced", False)
        env = {"VIRTNET_EMULATOR_ROOT": str(tmp_path)}
        resolve_backend(None, env=env)
        resolve_backend(None, env=env)
        err = capsys.readouterr().err
        assert err.count("using the emulator backend") == 1


class TestOwnScriptIsNeverTheVendor:
    """Our own ``virtnet`` console script must not be mistaken for the vendor's."""

    def test_script_importing_reconciler_is_skipped(self, own_script):
        assert find_vendor_cli({"VIRTNET_VENDOR_CLI": str(own_script)}) is None

    def test_the_running_program_is_skipped(self, vendor_cli, monkeypatch):
        monkeypatch.setattr(sys, "argv", [str(vendor_cli)])
        assert find_vendor_cli({"VIRTNET_VENDOR_CLI": str(vendor_cli)}) is None

    def test_non_executable_file_is_skipped(self, tmp_path):
        plain = tmp_path / "virtnet"
        plain.write_text("#!/bin/sh\n")
        assert find_vendor_cli({"VIRTNET_VENDOR_CLI": str(plain)}) is None


class TestPaths:
    """Where recovery records, virtnet.conf and mlxconfig come from per backend."""

    def test_vendor_defaults(self, vendor_cli):
        chosen = resolve_backend("vendor", env={"VIRTNET_VENDOR_CLI": str(vendor_cli)})
        assert chosen.recovery_dir == Path("/opt/mellanox/mlnx_virtnet/recovery")
        assert chosen.conf_path == Path("/opt/mellanox/mlnx_virtnet/virtnet.conf")
        assert chosen.mlxconfig_argv is None
        assert chosen.restart_argv[:2] == ("systemctl", "restart")

    def test_vendor_overrides(self, vendor_cli, tmp_path):
        env = {
            "VIRTNET_VENDOR_CLI": str(vendor_cli),
            "VIRTNET_RECOVERY_DIR": str(tmp_path / "rec"),
            "VIRTNET_CONF": str(tmp_path / "v.conf"),
            "VIRTNET_MLXCONFIG_DEVICE": "03:00.0",
        }
        chosen = resolve_backend("vendor", env=env)
        assert chosen.recovery_dir == tmp_path / "rec"
        assert chosen.conf_path == tmp_path / "v.conf"
        assert chosen.mlxconfig_argv == ("mlxconfig", "-d", "03:00.0", "q", "-e")

    def test_emulator_files_live_under_its_root(self, tmp_path):
        env = {"VIRTNET_EMULATOR_ROOT": str(tmp_path), "VIRTNET_EMULATOR_NETNS": "ns7"}
        chosen = resolve_backend("emulator", env=env)
        assert chosen.recovery_dir == tmp_path / "recovery"
        assert chosen.conf_path == tmp_path / "virtnet.conf"
        assert chosen.netns == "ns7"
        runner = chosen.cli.runner
        assert isinstance(runner, SubprocessRunner)
        assert runner.prefix == (sys.executable, "-m", "reconciler.emulator")
        assert runner.env == {
            "VIRTNET_EMULATOR_ROOT": str(tmp_path),
            "VIRTNET_EMULATOR_NETNS": "ns7",
        }
        assert chosen.mlxconfig_argv[-5:] == ("mlxconfig", "-d", "emu", "q", "-e")

    def test_relative_emulator_root_is_made_absolute(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        chosen = resolve_backend("emulator", env={})
        assert chosen.emulator_root == tmp_path / ".virtnet-emulator"


class TestEmulatorEndToEnd:
    """The same driver works over the in-process emulator and its real subprocess."""

    @pytest.mark.parametrize("in_process", [True, False])
    def test_hotplug_then_query_and_count(self, tmp_path, in_process):
        pytest.importorskip("reconciler.emulator")
        from reconciler.emulator.inprocess import in_process_backend
        from reconciler.model import DeviceSpec, DeviceType

        env = {"VIRTNET_EMULATOR_ROOT": str(tmp_path)}
        chosen = in_process_backend(env) if in_process else resolve_backend("emulator", env=env)
        assert isinstance(chosen.cli.runner, InProcessRunner) is in_process
        spec = DeviceSpec(
            name="web", type=DeviceType.HOTPLUG, mac="0c:c4:7a:ff:22:93", mtu=1500,
            max_queues=3, max_queue_size=1024, ib_device="mlx5_0",
        )  # fmt: skip
        created = chosen.cli.hotplug(spec)
        found = {d.vuid: d for d in chosen.cli.query_all()}
        assert found[created.vuid].mac == "0c:c4:7a:ff:22:93"
        assert found[created.vuid].type is DeviceType.HOTPLUG
        chosen.cli.unplug(created.vuid)
        assert created.vuid not in {d.vuid for d in chosen.cli.query_all()}
        assert chosen.cli.calls == {"hotplug": 1, "query": 2, "unplug": 1}


class TestWhatDiffersPerBackend:
    """Everything that differs between a DPU and the emulator is the backend's to say."""

    def test_data_dir_is_per_dpu_and_overridable(self, vendor_cli, tmp_path):
        emulated = resolve_backend("emulator", env={"VIRTNET_EMULATOR_ROOT": str(tmp_path)})
        assert emulated.data_dir == tmp_path / "reconciler"
        vendor = resolve_backend("vendor", env={"VIRTNET_VENDOR_CLI": str(vendor_cli)})
        assert vendor.data_dir == Path("/var/lib/virtnet-reconciler")
        env = {"VIRTNET_EMULATOR_ROOT": str(tmp_path), "VIRTNET_DATA_DIR": str(tmp_path / "d")}
        assert resolve_backend("emulator", env=env).data_dir == tmp_path / "d"

    def test_a_call_in_flight_may_land_for_the_cli_timeout_on_a_dpu_only(self, vendor_cli):
        vendor = resolve_backend("vendor", env={"VIRTNET_VENDOR_CLI": str(vendor_cli)}, timeout=7)
        assert vendor.interrupted_grace_s == 7
        assert resolve_backend("emulator", env={}).interrupted_grace_s == 0.0

    def test_rdma_devices_and_representors_are_read_on_a_dpu(self, vendor_cli, tmp_path):
        vendor = resolve_backend("vendor", env={"VIRTNET_VENDOR_CLI": str(vendor_cli)})
        assert vendor.has_rdma_devices
        assert vendor.representors_unavailable() is None
        emulated = resolve_backend("emulator", env={"VIRTNET_EMULATOR_ROOT": str(tmp_path)})
        assert not emulated.has_rdma_devices
        assert "no netns" in emulated.representors_unavailable()
        env = {"VIRTNET_EMULATOR_ROOT": str(tmp_path), "VIRTNET_EMULATOR_NETNS": "ns7"}
        assert resolve_backend("emulator", env=env).representors_unavailable() is None

    def test_restart_runs_the_unit_restart_and_forgets_the_capabilities(self, vendor_cli):
        from dataclasses import replace

        from reconciler.model import ControllerInfo

        vendor = resolve_backend("vendor", env={"VIRTNET_VENDOR_CLI": str(vendor_cli)})
        ok = replace(vendor, restart_argv=("true",))
        ok.cache.capabilities = ControllerInfo(max_hotplug_devices=16)
        ok.restart()
        assert ok.cache.capabilities is None
        with pytest.raises(BackendError, match="controller restart failed"):
            replace(vendor, restart_argv=("false",)).restart()

    def test_the_emulator_restarts_through_its_cli(self, tmp_path):
        emulated = resolve_backend("emulator", env={"VIRTNET_EMULATOR_ROOT": str(tmp_path)})
        emulated.cli.runner.prefix = ("true",)  # stands in for virtnet-emu: any call succeeds
        emulated.restart()
        assert emulated.cli.calls == {"restart": 1}
