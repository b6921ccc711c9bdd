"""Security properties: trusted state dir only, no shell, safe file modes, atomic fsynced writes."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from reconciler import fsutil
from reconciler.drivers.runner import RunResult
from reconciler.drivers.virtnet_cli import VirtnetCli
from reconciler.loading import load_state

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "reconciler"


def _hotplug_doc(name: str = "web", mac: str = "0c:c4:7a:00:00:01", ib: str = "mlx5_0") -> str:
    return json.dumps(
        {
            "apiVersion": "virtnet/v1",
            "kind": "VirtioNetDevice",
            "metadata": {"name": name},
            "spec": {
                "type": "hotplug",
                "ib_device": ib,
                "mac": mac,
                "mtu": 1500,
                "max_queues": 4,
                "max_queue_size": 256,
            },
        }
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    root = tmp_path / "state"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    (root / "web.yaml").write_text(_hotplug_doc())
    (root / "web.yaml").chmod(0o644)
    return root


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "VIRTNET_BACKEND": "emulator",
        "VIRTNET_EMULATOR_ROOT": str(tmp_path / "emu"),
        "VIRTNET_STATUS_DIR": str(tmp_path / "status"),
    }
    env.pop("VIRTNET_DATA_DIR", None)
    return env


def _virtnet(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _hotplug_calls(tmp_path: Path) -> int:
    calls = tmp_path / "emu" / "calls.jsonl"
    if not calls.exists():
        return 0
    return sum(json.loads(line)["op"] == "hotplug" for line in calls.read_text().splitlines())


class TestStrictModes:
    """Like sshd's StrictModes: specs writable by others are refused, with the fix."""

    def test_group_writable_state_dir_fails_validate_with_the_fix(self, state, tmp_path):
        state.chmod(0o775)
        proc = _virtnet(tmp_path, "validate", "-f", str(state))
        assert proc.returncode == 1
        assert "chmod go-w" in proc.stderr
        assert str(state) in proc.stderr

    def test_world_writable_spec_file_fails_validate_naming_the_file(self, state, tmp_path):
        (state / "web.yaml").chmod(0o666)
        proc = _virtnet(tmp_path, "validate", "-f", str(state))
        assert proc.returncode == 1
        assert "web.yaml" in proc.stderr
        assert "go-w" in proc.stderr

    def test_spec_file_owned_by_another_user_is_refused(self, state, tmp_path):
        if os.geteuid() != 0:
            pytest.skip("needs root to chown")
        os.chown(state / "web.yaml", 4321, 4321)
        proc = _virtnet(tmp_path, "validate", "-f", str(state))
        assert proc.returncode == 1
        assert "uid 4321" in proc.stderr

    def test_apply_refuses_an_insecure_state_dir_before_any_call(self, state, tmp_path):
        state.chmod(0o777)
        proc = _virtnet(tmp_path, "apply", "-f", str(state))
        assert proc.returncode == 1
        assert "go-w" in proc.stderr
        assert _hotplug_calls(tmp_path) == 0

    def test_apply_does_not_hotplug_from_a_world_writable_file(self, state, tmp_path):
        (state / "web.yaml").chmod(0o646)
        proc = _virtnet(tmp_path, "apply", "-f", str(state))
        assert proc.returncode == 1
        assert _hotplug_calls(tmp_path) == 0

    def test_override_flag_accepts_and_warns_loudly(self, state, tmp_path):
        state.chmod(0o777)
        proc = _virtnet(tmp_path, "validate", "--insecure-skip-permission-check", "-f", str(state))
        assert proc.returncode == 0
        assert "permission_check_disabled" in proc.stdout + proc.stderr


class TestSymlinks:
    """Symlinks may not lead out of the state dir; the ConfigMap ``..data`` swap works."""

    def test_file_symlink_leaving_the_state_dir_is_refused(self, state, tmp_path):
        outside = tmp_path / "outside.yaml"
        outside.write_text(_hotplug_doc("evil", "0c:c4:7a:00:00:02"))
        (state / "evil.yaml").symlink_to(outside)
        desired = load_state(state)
        assert [d.name for d in desired.devices] == ["web"]
        assert any("outside the state dir" in str(e) for e in desired.errors)

    def test_directory_symlink_leaving_the_state_dir_is_refused(self, state, tmp_path):
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o755)
        (elsewhere / "evil.yaml").write_text(_hotplug_doc("evil", "0c:c4:7a:00:00:02"))
        (state / "more").symlink_to(elsewhere)
        desired = load_state(state)
        assert "evil" not in [d.name for d in desired.devices]
        assert any("outside the state dir" in str(e) for e in desired.errors)

    def test_configmap_data_layout_is_followed(self, tmp_path):
        root = tmp_path / "cm"
        version = root / "..2026_01_01_00_00_00.1"
        version.mkdir(parents=True, mode=0o755)
        root.chmod(0o755)
        (version / "web.yaml").write_text(_hotplug_doc())
        (root / "..data").symlink_to(version.name)
        (root / "web.yaml").symlink_to("..data/web.yaml")
        desired = load_state(root)
        assert desired.errors == ()
        assert [d.name for d in desired.devices] == ["web"]


_SHELL_CALLS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("os", "execlp"),
    ("os", "spawnlp"),
}


def _shell_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and (func.value.id, func.attr) in _SHELL_CALLS
        ):
            found.append(f"{path}:{node.lineno}: {func.value.id}.{func.attr}")
        for kw in node.keywords:
            if kw.arg == "shell" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is False
            ):
                found.append(f"{path}:{node.lineno}: shell={ast.unparse(kw.value)}")
    return found


class _Recorder:
    """A runner that records argv and answers like a successful vendor hotplug."""

    def __init__(self):
        self.argvs: list[list[str]] = []
        self.calls = Counter()

    def __call__(self, argv, *, timeout):
        self.argvs.append(list(argv))
        out = json.dumps({"bdf": "84:0.0", "vuid": "V", "id": 2, "errno": 0, "errstr": "Success"})
        return RunResult(0, out, "", tuple(argv))


_HOSTILE = [
    "x; reboot",
    "$(reboot)",
    "`reboot`",
    "a|b",
    "a && b",
    "a b",
    "-rf",
    "a\nb",
    "'\"",
    "mlx5_0;id",
    "0c:c4:7a:00:00:01;id",
]


class TestNoShell:
    """No spec value can reach a shell: none is ever started, and values stay one argv word."""

    def test_the_package_never_starts_a_shell(self):
        uses = [u for path in sorted(PACKAGE.rglob("*.py")) for u in _shell_uses(path)]
        assert uses == []

    def test_the_scanner_would_see_a_shell(self, tmp_path):
        bad = tmp_path / "bad.py"
        bad.write_text("import os, subprocess\nos.system('x')\nsubprocess.run('x', shell=True)\n")
        assert len(_shell_uses(bad)) == 2

    @pytest.mark.parametrize("hostile", _HOSTILE)
    @pytest.mark.parametrize("field", ["name", "mac", "ib"])
    def test_metacharacters_are_rejected_or_stay_one_argv_element(self, tmp_path, field, hostile):
        root = tmp_path / "s"
        root.mkdir(mode=0o755)
        root.chmod(0o755)
        (root / "d.json").write_text(_hotplug_doc(**{field: hostile}))
        (root / "d.json").chmod(0o644)
        desired = load_state(root)
        if not desired.devices:
            assert desired.errors  # rejected, with a reason
            return
        runner = _Recorder()
        VirtnetCli(runner).hotplug(desired.devices[0])
        (argv,) = runner.argvs
        value = {"mac": desired.devices[0].mac, "ib": desired.devices[0].ib_device}.get(field)
        if value is not None:
            assert argv.count(value) == 1  # passed whole, as one element, never split

    @pytest.mark.parametrize("field", ["name", "ib"])
    def test_a_trailing_newline_is_rejected(self, tmp_path, field):
        root = tmp_path / "s"
        root.mkdir(mode=0o755)
        root.chmod(0o755)
        value = {"name": "web\n", "ib": "mlx5_0\n"}[field]
        (root / "d.json").write_text(_hotplug_doc(**{field: value}))
        (root / "d.json").chmod(0o644)
        assert load_state(root).devices == ()


@contextlib.contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


class TestFileModes:
    """State files get safe modes whatever the umask (0 here: the worst case)."""

    def test_lock_inventory_journal_status_and_data_dir_modes(self, state, tmp_path):
        from reconciler.emulator.inprocess import in_process_backend
        from reconciler.engine import Engine, EngineOptions

        env = {**_env(tmp_path), "VIRTNET_EMULATOR_ROOT": str(tmp_path / "emu")}
        with _umask(0):
            backend = in_process_backend(env)
            engine = Engine(EngineOptions(state_dir=state, status_dir=tmp_path / "status"), backend)
            journal_modes = []
            real_hotplug = backend.cli.hotplug

            def hotplug(spec):
                journal_modes.append(_mode(engine.journal.path))
                return real_hotplug(spec)

            object.__setattr__(backend.cli, "hotplug", hotplug)
            assert engine.reconcile().exit_code == 0
        assert journal_modes == [0o600]
        assert _mode(engine.data_dir / "lock") == 0o600
        assert _mode(engine.inventory_path) == 0o600
        assert _mode(tmp_path / "status" / "status.json") == 0o644
        assert not _mode(engine.data_dir) & 0o022
        assert not (engine.data_dir / "journal.json").exists()

    def test_directories_created_for_state_files_are_not_world_writable(self, tmp_path):
        with _umask(0):
            fsutil.atomic_write_json(tmp_path / "status" / "status.json", {"ok": True})
        assert not _mode(tmp_path / "status") & 0o022


class TestAtomicWrites:
    """A failure mid-write leaves the old file whole; data and directory are fsynced."""

    def test_failed_rename_leaves_the_old_file_and_no_temp(self, tmp_path, monkeypatch):
        target = tmp_path / "inventory.json"
        fsutil.atomic_write_json(target, {"version": 1, "owned": {}}, mode=0o600)
        before = target.read_bytes()

        def broken_replace(src, dst):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(fsutil.os, "replace", broken_replace)
        with pytest.raises(OSError, match="No space"):
            fsutil.atomic_write_json(target, {"version": 1, "owned": {"x": {}}}, mode=0o600)
        assert target.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.json"]

    def test_failed_write_leaves_the_old_file(self, tmp_path, monkeypatch):
        target = tmp_path / "status.json"
        fsutil.atomic_write_text(target, "old\n")

        def broken_fsync(fd):
            raise OSError(5, "I/O error")

        monkeypatch.setattr(fsutil.os, "fsync", broken_fsync)
        with pytest.raises(OSError, match="I/O"):
            fsutil.atomic_write_text(target, "new\n")
        assert target.read_text() == "old\n"
        assert [p.name for p in tmp_path.iterdir()] == ["status.json"]

    def test_file_and_directory_are_fsynced_before_and_after_the_rename(
        self, tmp_path, monkeypatch
    ):
        events = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            events.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
            real_fsync(fd)

        def replace(src, dst):
            events.append("replace")
            real_replace(src, dst)

        monkeypatch.setattr(fsutil.os, "fsync", fsync)
        monkeypatch.setattr(fsutil.os, "replace", replace)
        fsutil.atomic_write_json(tmp_path / "s.json", {"a": 1})
        assert events == ["fsync-file", "replace", "fsync-dir"]
        assert json.loads((tmp_path / "s.json").read_text()) == {"a": 1}

    def test_requested_mode_is_applied_before_the_data_is_visible(self, tmp_path):
        with _umask(0):
            fsutil.atomic_write_bytes(tmp_path / "j.json", b"{}", mode=0o600)
        assert _mode(tmp_path / "j.json") == 0o600
