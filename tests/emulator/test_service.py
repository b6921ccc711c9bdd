"""The emulated controller is a service (DESIGN 6), driven through ``virtnet-emu`` processes."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

MAC = "0c:c4:7a:ff:22:93"
CANT_CONNECT = "ERR: Can't connect to virtio-net-controller\n"
_HOTPLUG = ("hotplug", "-i", "mlx5_0", "-m", MAC, "-t", "1500", "-n", "4", "-s", "256")


def _faults_seen(emu) -> int:
    """Calls the fault plan has counted: a call is counted when the service receives it."""
    try:
        return json.loads((emu.root / "dpu.json").read_text())["faults"]["seen"]
    except (OSError, ValueError):
        return 0


class TestLifecycle:
    """Started on first use, stopped and started like systemctl, gone when idle or deleted."""

    def test_first_call_starts_one_service_that_later_calls_reach(self, emu):
        assert emu.pid() is None
        assert emu.run("list").returncode == 0
        pid = emu.pid()
        assert pid is not None
        assert (emu.root / "controller.sock").exists()
        emu.hotplug(MAC)
        assert emu.run("query", "-a", "-b").returncode == 0
        assert emu.pid() == pid
        assert emu.journal().count("starting") == 1

    def test_stop_gives_cant_connect_until_start(self, emu):
        vuid = emu.hotplug(MAC)["vuid"]
        emu.run("modify", "-u", vuid, "device", "-t", "9000")
        pid = emu.pid()
        assert emu.run("stop").returncode == 0
        assert not emu.alive(pid)
        assert emu.pid() is None
        calls_before = len(emu.calls())
        for argv in (("list",), ("query", "-a", "-b"), _HOTPLUG, ("guest", "bind", "-p", "0")):
            proc = emu.run(*argv)
            assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", CANT_CONNECT)
        # never sent, so the controller never saw them, and no service was started
        assert len(emu.calls()) == calls_before
        assert emu.pid() is None
        # the DPU itself still answers (firmware, the service's status)
        assert "VIRTIO_NET_EMULATION_ENABLE" in emu.run("mlxconfig", "q").stdout
        assert emu.run("service", "status").stdout.startswith("inactive (dead)")
        assert emu.run("start").returncode == 0
        assert emu.run("service", "status").stdout.startswith("active (running)")
        dev = emu.device("-u", vuid)
        assert (dev["mac"], dev["mtu"]) == (MAC.upper(), "1500")  # rebuilt from its record

    def test_service_restart_is_a_new_process_rebuilt_from_records(self, emu):
        vuid = emu.hotplug(MAC)["vuid"]
        emu.run("modify", "-u", vuid, "device", "-t", "9000")
        first = emu.pid()
        assert emu.run("service", "restart").returncode == 0
        second = emu.pid()
        assert second is not None
        assert second != first
        assert emu.device("-u", vuid)["mtu"] == "1500"

    def test_serve_in_the_foreground_until_sigterm(self, emu):
        proc = emu.popen("serve")
        try:
            emu.wait_until((emu.root / "controller.sock").exists)
            assert emu.pid() == proc.pid
            assert emu.hotplug(MAC)["mac"] == MAC.upper()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            proc.kill()
            proc.wait()
        # not stopped by the operator: the next call starts a new service, from records
        assert [d["mac"] for d in emu.json("query", "-a", "-b")["devices"]].count(MAC.upper()) == 1
        assert emu.pid() not in (None, proc.pid)

    def test_foreground_serve_refuses_a_root_already_served(self, emu):
        emu.run("list")
        proc = emu.run("serve")
        assert proc.returncode == 1
        assert "already runs" in proc.stderr

    def test_idle_service_exits_and_the_next_call_resumes_it_unchanged(self, emu):
        idle = {"VIRTNET_EMULATOR_IDLE_S": "1"}
        emu.run("modify", "-p", "0", "-v", "1", "device", "-t", "9000", **idle)
        emu.run("guest", "bind", "-p", "0", "-v", "1", **idle)
        emu.wait_until(lambda: emu.pid() is None)
        assert (emu.root / "hibernate.json").exists()
        dev = emu.device("-p", "0", "-v", "1")
        # what a restart would lose (MTU, the bound guest) is kept: an idle exit is no restart
        assert dev["mtu"] == "9000"
        assert dev["dev_status"]["value"] == "0xf"
        assert "resumed" in emu.journal()
        assert not (emu.root / "hibernate.json").exists()

    def test_service_exits_when_its_root_is_deleted(self, emu):
        emu.run("list")
        pid = emu.pid()
        shutil.rmtree(emu.root)
        emu.wait_until(lambda: not emu.alive(pid))
        assert not emu.root.exists()  # nothing written back into a deleted root

    def test_no_start_on_first_use_when_autostart_is_off(self, emu):
        proc = emu.run("list", VIRTNET_EMULATOR_AUTOSTART="0")
        assert (proc.returncode, proc.stderr) == (1, CANT_CONNECT)
        assert emu.pid() is None

    def test_concurrent_first_calls_start_one_service(self, emu):
        procs = [emu.popen("query", "-p", "0", "-b") for _ in range(6)]
        assert [p.wait(timeout=120) for p in procs] == [0] * 6
        for p in procs:
            p.communicate()
        assert emu.journal().count("starting") == 1

    def test_a_root_longer_than_a_socket_path_works(self, emu, tmp_path):
        deep = tmp_path / ("d" * 60) / ("e" * 60)
        emu = type(emu)(deep / "emu")
        assert len(str(emu.root / "controller.sock")) > 108
        assert emu.hotplug(MAC)["mac"] == MAC.upper()
        assert emu.run("stop").returncode == 0


class TestCallsOutliveTheirClient:
    """A received call runs to its end in the service, whether or not its client waits."""

    def test_a_killed_clients_call_still_lands(self, emu):
        emu.run("fault", "set", "--latency-ms", "1500", "--ops", "modify")
        proc = emu.popen("modify", "-p", "0", "-v", "1", "device", "-t", "9000")
        emu.wait_until(lambda: _faults_seen(emu) == 1)  # the service has the request
        proc.kill()
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        # nobody asks again: the call lands on its own, within the call deadline
        emu.wait_until(lambda: [c["op"] for c in emu.calls() if c["ok"]] == ["fault", "modify"])
        assert emu.device("-p", "0", "-v", "1")["mtu"] == "9000"

    def test_one_at_a_time_a_later_call_waits_for_an_earlier_one(self, emu):
        emu.run("fault", "set", "--latency-ms", "1500", "--ops", "modify")
        slow = emu.popen("modify", "-p", "0", "-v", "1", "device", "-t", "9000")
        emu.wait_until(lambda: _faults_seen(emu) == 1)
        assert emu.device("-p", "0", "-v", "1")["mtu"] == "9000"
        assert slow.wait(timeout=30) == 0
        slow.communicate()

    def test_concurrent_workers_answer_a_later_call_first(self, emu):
        emu.run("mode", "set", "rpc_workers=2")
        emu.run("service", "restart")  # the worker count applies from the next start
        emu.run("fault", "set", "--latency-ms", "3000", "--ops", "modify")
        slow = emu.popen("modify", "-p", "0", "-v", "1", "device", "-t", "9000")
        emu.wait_until(lambda: _faults_seen(emu) == 1)
        assert emu.device("-p", "0", "-v", "1")["mtu"] == "1500"  # answered meanwhile
        assert slow.poll() is None
        assert slow.wait(timeout=30) == 0
        slow.communicate()
        assert emu.device("-p", "0", "-v", "1")["mtu"] == "9000"

    def test_latency_beyond_the_call_deadline_is_refused(self, emu):
        assert emu.run("mode", "set", "call_deadline_s=1").returncode == 0
        err = emu.error("fault", "set", "--latency-ms", "1500")
        assert "deadline" in err["message"]
        assert emu.run("fault", "set", "--latency-ms", "900").returncode == 0

    def test_a_crash_after_the_work_answers_nobody_and_recovers_from_records(self, emu):
        emu.run("fault", "set", "--crash-at", "1")
        pid = emu.pid()
        proc = emu.run(*_HOTPLUG)
        assert proc.returncode == 1
        assert proc.stderr.startswith("ERR: virtio-net-controller closed the connection")
        emu.wait_until(lambda: not emu.alive(pid))  # the process died, as a crashed one does
        hot = [d for d in emu.json("list")["devices"] if d["function_type"] == "hotplug PF"]
        assert [d["mac"] for d in hot] == [MAC.upper()]
        assert "crashed" in emu.journal()


class TestPerCallWork:
    """A call costs the same at any device count: it touches O(1) files, imports no core."""

    def test_a_modify_rewrites_one_record_and_nothing_else_of_the_controller(self, emu):
        emu.run("init", "--num-vf", "64")
        vuid = emu.device("-p", "0", "-v", "5")["vuid"]

        def stamps():
            return {p: p.stat().st_mtime_ns for p in emu.root.rglob("*") if p.is_file()}

        before = stamps()
        time.sleep(0.01)  # a coarse clock must still see a rewrite
        assert emu.run("modify", "-u", vuid, "device", "-t", "9000").returncode == 0
        changed = {p.relative_to(emu.root).as_posix() for p, t in stamps().items()
                   if before.get(p) != t}  # fmt: skip
        assert changed == {f"recovery/{vuid}", "calls.jsonl"}

    def test_the_thin_client_imports_no_controller_code(self, emu):
        code = (
            "import sys\n"
            "from reconciler.emulator.cli import main\n"
            "assert main(['query', '-p', '0', '-b']) == 0\n"
            "print(sorted(m for m in sys.modules if m.startswith('reconciler')), file=sys.stderr)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=emu.env(), capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        loaded = set(eval(proc.stderr.strip().splitlines()[-1]))  # noqa: S307 - our own print
        assert "reconciler.emulator.client" in loaded
        heavy = {"core", "controller", "service", "handlers", "boot", "render", "state"}
        assert not {f"reconciler.emulator.{m}" for m in heavy} & loaded


class TestInProcess:
    """Tests' in-process emulator is the same client on the same core, for the same root."""

    def test_in_process_and_subprocess_clients_share_one_controller(self, emu):
        from reconciler.emulator import Emulator

        here = Emulator(emu.root)
        code, out, err = here.run(list(_HOTPLUG))
        assert code == 0, out + err
        # a subprocess client reaches the service this process hosts: no service process
        assert emu.device("-p", "2")["mac"] == MAC.upper()
        assert emu.pid() is None
        assert emu.run("modify", "-p", "2", "device", "-t", "9000").returncode == 0
        assert [d.mtu for d in here.devices() if d.kind == "hotplug"] == [9000]
        # and the bytes are the executable's
        assert here.run(["query", "-p", "2", "-b"])[1] == emu.run("query", "-p", "2", "-b").stdout

    def test_memory_emulator_stops_starts_and_crashes_like_the_service(self):
        from reconciler.emulator import Emulator

        emu = Emulator(None)
        assert emu.run(["init", "--num-pf", "1", "--num-vf", "1"])[0] == 0
        assert emu.run(["stop"])[0] == 0
        assert emu.run(["list"]) == (1, "", CANT_CONNECT)
        assert emu.run(["start"])[0] == 0
        emu.run(["fault", "set", "--crash-at", "1"])
        code, _out, err = emu.run(list(_HOTPLUG))
        assert (code, err) == (
            1,
            "ERR: virtio-net-controller closed the connection without a reply\n",
        )
        assert [d.mac for d in emu.devices() if d.kind == "hotplug"] == [MAC]
