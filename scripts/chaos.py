"""Chaos test: random spec edits, faults, kills and drift, with invariants checked every round.

Each round edits the state dir, disturbs the emulated controller (injected failures,
crashes, restarts, live-update windows, guest binds, manual unplug/modify, devices
hotplugged by hand), runs one reconcile cycle under that disturbance (in process, or
as a real ``virtnet apply`` subprocess killed with -9 part-way), then lifts the
disturbance and checks that the reconciler converges within a bounded number of
cycles without breaking any safety invariant. Usage::

    python scripts/chaos.py --rounds 1000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reconciler.emulator.state import HOTPLUG, STATIC

__all__ = ["ChaosConfig", "ChaosReport", "check_invariants", "main", "run_chaos"]

_HOTPLUG_MAX = 8  # desired hotplug specs (the emulator has 16 switch ports)
_UNOWNED_MAX = 2  # devices hotplugged by hand, behind the reconciler's back
_VF_IDS = 8  # VFs of PF 0 the host created (sriov_numvfs)
_MTUS = (1500, 4000, 9000)
_QUEUE_SIZES = (128, 256, 512)
_MAX_QUEUES = (2, 4, 8)
_BROKEN = "broken.yaml"


@dataclass(frozen=True)
class ChaosConfig:
    """Size and mix of a run; fractions are per-round probabilities."""

    rounds: int = 100
    seed: int = 1
    subprocess_fraction: float = 0.1  # rounds whose cycle is a real `virtnet apply`, killed -9
    max_cycles: int = 6  # cycles allowed to converge once the disturbance is lifted
    update_seconds: float = 0.3  # length of an emulated live-update window
    progress_every: int = 0  # print a progress line to stderr every N rounds (0: never)
    # kill -9 the whole process group (a container or a systemd unit dying) instead of the
    # apply process alone (the OOM killer): then no orphaned vendor-CLI call lands later
    kill_group: bool = False
    workdir: Path | None = None


@dataclass
class ChaosReport:
    """What a run did: rounds, disturbances by kind, cycles used, and every violation."""

    rounds: int = 0
    violations: list[str] = field(default_factory=list)
    events: Counter = field(default_factory=Counter)
    cycles: Counter = field(default_factory=Counter)  # cycles-to-converge histogram
    seconds: float = 0.0

    def summary(self) -> str:
        events = ", ".join(f"{k}={v}" for k, v in sorted(self.events.items()))
        cycles = ", ".join(f"{k}:{v}" for k, v in sorted(self.cycles.items()))
        return (
            f"rounds run: {self.rounds}; invariant violations: {len(self.violations)}; "
            f"{self.seconds:.1f} s\nevents: {events}\ncycles to converge: {cycles}"
        )


class _World:
    """One sandbox: emulator root, state/status dirs, the desired specs and unowned MACs."""

    def __init__(self, root: Path, config: ChaosConfig):
        from reconciler.emulator import Emulator

        self.root = root
        self.state = root / "state"
        self.state.mkdir(mode=0o755, exist_ok=True)
        self.status = root / "status"
        self.emu_root = root / "emu"
        self.env = {
            **os.environ,
            "VIRTNET_BACKEND": "emulator",
            "VIRTNET_EMULATOR_ROOT": str(self.emu_root),
            "VIRTNET_STATUS_DIR": str(self.status),
            "VIRTNET_STATE_DIR": str(self.state),
            "VIRTNET_EMULATOR_UPDATE_SECONDS": str(config.update_seconds),
        }
        for key in (
            "VIRTNET_DATA_DIR",
            "VIRTNET_EMULATOR_NETNS",
            "VIRTNET_RECOVERY_DIR",
            "VIRTNET_CONF",
            "VIRTNET_VENDOR_CLI",
        ):
            self.env.pop(key, None)
        self.emu = Emulator(self.emu_root)
        self.specs: dict[str, dict] = {}  # name -> spec body
        self.unowned: set[str] = set()  # MACs of devices we hotplugged by hand
        self._mac_counter = 0
        self.engine = None

    def fresh_mac(self) -> str:
        self._mac_counter += 1
        n = self._mac_counter
        return f"0c:c4:7a:{(n >> 16) & 0xFF:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}"

    def call(self, *argv: str) -> tuple[int, str, str]:
        """One ``virtnet-emu`` call, in process (same code and files as the executable)."""
        return self.emu.run(list(argv))

    def write_spec(self, name: str) -> None:
        doc = {
            "apiVersion": "virtnet/v1",
            "kind": "VirtioNetDevice",
            "metadata": {"name": name},
            "spec": self.specs[name],
        }
        tmp = self.state / f".{name}.tmp"
        tmp.write_text(yaml.safe_dump(doc))
        tmp.replace(self.state / f"{name}.yaml")

    def remove_spec(self, name: str) -> None:
        del self.specs[name]
        (self.state / f"{name}.yaml").unlink()


def _make_engine(world: _World):
    from reconciler.apply import RetryPolicy
    from reconciler.emulator.inprocess import in_process_backend
    from reconciler.engine import Engine, EngineOptions

    backend = in_process_backend(world.env)
    options = EngineOptions(
        state_dir=world.state,
        prune=True,
        allow_replace=True,
        status_dir=world.status,
        verify_delay_s=0.02,
    )
    retry = RetryPolicy(attempts=3, first_delay_s=0.02, max_delay_s=0.1)
    return Engine(options, backend, retry=retry)


# ---- spec edits -----------------------------------------------------------------------


def _edit_specs(world: _World, rng: random.Random, report: ChaosReport) -> None:
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(("add_hotplug", "remove", "modify", "vf", "vf"))
        if kind == "add_hotplug" and _count(world, "hotplug") < _HOTPLUG_MAX:
            _add_hotplug(world, rng)
        elif kind == "remove" and world.specs:
            world.remove_spec(rng.choice(sorted(world.specs)))
        elif kind == "modify" and world.specs:
            _modify_spec(world, rng, rng.choice(sorted(world.specs)))
        elif kind == "vf":
            _set_vf(world, rng)
        else:
            continue
        report.events[f"spec_{kind}"] += 1


def _count(world: _World, spec_type: str) -> int:
    return sum(1 for s in world.specs.values() if s["type"] == spec_type)


def _add_hotplug(world: _World, rng: random.Random) -> None:
    name = f"hp-{world.fresh_mac()[-5:].replace(':', '')}"
    world.specs[name] = {
        "type": "hotplug",
        "ib_device": "mlx5_0",
        "mac": world.fresh_mac(),
        "mtu": rng.choice(_MTUS),
        "max_queues": rng.choice(_MAX_QUEUES),
        "max_queue_size": rng.choice(_QUEUE_SIZES),
    }
    world.write_spec(name)


def _modify_spec(world: _World, rng: random.Random, name: str) -> None:
    spec = dict(world.specs[name])
    choices = ["mtu", "mac"]
    if spec["type"] == "hotplug":
        choices += ["max_queue_size", "max_queues"]
    what = rng.choice(choices)
    if what == "mac":
        spec["mac"] = world.fresh_mac()
    elif what == "mtu":
        spec["mtu"] = rng.choice(_MTUS)
    elif what == "max_queue_size":
        spec["max_queue_size"] = rng.choice(_QUEUE_SIZES)
    else:
        spec["max_queues"] = rng.choice(_MAX_QUEUES)  # immutable: a replace
    world.specs[name] = spec
    world.write_spec(name)


def _set_vf(world: _World, rng: random.Random) -> None:
    vf_id = rng.randrange(_VF_IDS)
    name = f"vf-{vf_id}"
    if name in world.specs:
        _modify_spec(world, rng, name)
        return
    world.specs[name] = {
        "type": "vf",
        "pf_id": 0,
        "vf_id": vf_id,
        "mac": world.fresh_mac(),
        "mtu": rng.choice(_MTUS),
    }
    world.write_spec(name)


# ---- disturbances ---------------------------------------------------------------------


def _disturb(world: _World, rng: random.Random, report: ChaosReport) -> None:
    """Break things the way operators, guests and controllers do; counted by kind."""
    live = [d for d in world.emu.devices() if d.kind != STATIC]
    owned = [d for d in live if d.kind == HOTPLUG and d.mac not in world.unowned]

    def pick(devices) -> str:
        return rng.choice(devices).vuid

    actions = {
        "restart": (0.1, lambda: world.call("restart")),
        "drift_unplug": (0.15, lambda: owned and world.call("unplug", "-u", pick(owned))),
        "drift_modify": (
            0.15,
            lambda: (
                live
                and world.call("modify", "-u", pick(live), "device", "-t", str(rng.choice(_MTUS)))
            ),
        ),
        "unowned_hotplug": (0.1, lambda: _hotplug_unowned(world)),
        "guest_bind": (0.2, lambda: live and world.call("guest", "bind", "-u", pick(live))),
        "migrating": (
            0.05,
            lambda: live and world.call("debug", "migrating", "-u", pick(live), "on"),
        ),
        "live_update": (0.1, lambda: world.call("update", "-s")),
        "broken_file": (0.1, lambda: (world.state / _BROKEN).write_text("spec: {mtu: [oops\n")),
        "faults": (
            0.35,
            lambda: world.call(
                "fault",
                "set",
                "--fail-rate",
                str(rng.choice((0.2, 0.5))),
                "--seed",
                str(rng.randrange(10**6)),
                *(("--crash-at", str(rng.randint(1, 3))) if rng.random() < 0.4 else ()),
            ),
        ),
    }
    for kind, (probability, act) in actions.items():
        if rng.random() < probability:
            act()
            report.events[kind] += 1


def _hotplug_unowned(world: _World) -> None:
    if len(world.unowned) >= _UNOWNED_MAX:
        return
    mac = world.fresh_mac()
    code, _out, _err = world.call(
        "hotplug", "-i", "mlx5_0", "-m", mac.upper(), "-t", "1500", "-n", "2", "-s", "256"
    )
    if code == 0:
        world.unowned.add(mac)


def _lift(world: _World) -> None:
    """End every disturbance: faults off, guests unbound, migrations done, update over."""
    world.call("fault", "clear")
    world.call("start")  # a crash-at fault may have left the controller stopped
    (world.state / _BROKEN).unlink(missing_ok=True)
    for dev in world.emu.devices():
        if dev.driver_bound:
            world.call("guest", "unbind", "-u", dev.vuid)
        if dev.migrating_pin:
            world.call("debug", "migrating", "-u", dev.vuid, "off")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _code, out, _err = world.call("update", "-t")
        if '"active"' not in out:
            return
        time.sleep(0.05)


def _reset_tripped_loop_guard(world: _World, result, report: ChaosReport) -> None:
    """Do what the apply-loop error tells the operator, once the cause is gone.

    The guard stops a modify undone ``LOOP_LIMIT`` times within its quiet period (600 s
    of wall time); chaos rounds compress hours of restarts and drift into seconds, so
    it trips by design. Each trip is counted, then cleared as the message says.
    """
    if not any("apply loop" in (s.reason or "") for s in result.statuses):
        return
    report.events["loop_guard_tripped"] += 1
    loops = getattr(world.engine, "loops_path", None)
    if loops is not None:
        loops.unlink(missing_ok=True)


# ---- one cycle under disturbance -----------------------------------------------------


def _cycle_in_process(world: _World, report: ChaosReport) -> None:
    try:
        world.engine.reconcile()
    except Exception as exc:  # a chaos run records, it does not stop
        from reconciler.errors import ReconcilerError

        if not isinstance(exc, ReconcilerError):
            report.violations.append(f"traceback-worthy error: {type(exc).__name__}: {exc}")


def _cycle_killed(
    world: _World, rng: random.Random, config: ChaosConfig, report: ChaosReport
) -> None:
    """A real `virtnet apply` killed -9 after a random delay (slow calls widen the window)."""
    world.call("fault", "set", "--latency-ms", "40")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--prune", "--allow-replace"],
        env=world.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=config.kill_group,
    )
    try:
        _out, err = proc.communicate(timeout=rng.uniform(0.2, 1.5))
        if "Traceback" in err:
            report.violations.append(f"virtnet apply printed a traceback: {err[-300:]}")
        report.events["apply_finished_before_kill"] += 1
    except subprocess.TimeoutExpired:
        if config.kill_group:
            os.killpg(proc.pid, signal.SIGKILL)  # our own new session: the apply and its CLI
        else:
            proc.send_signal(signal.SIGKILL)
        proc.communicate()
        report.events["kill_9"] += 1
    _check_status_file(world, report, "after kill -9")


# ---- invariants -----------------------------------------------------------------------


def _check_status_file(world: _World, report: ChaosReport, when: str) -> None:
    path = world.status / "status.json"
    if not path.exists():
        return
    try:
        json.loads(path.read_text())
    except ValueError as exc:
        report.violations.append(f"status.json unparseable {when}: {exc}")


def _converge(world: _World, config: ChaosConfig, report: ChaosReport) -> bool:
    for cycle in range(1, config.max_cycles + 1):
        result = world.engine.reconcile()
        _check_status_file(world, report, f"after cycle {cycle}")
        _reset_tripped_loop_guard(world, result, report)
        if result.exit_code == 0 and not result.plan.changes:
            if (world.engine.data_dir / "journal.json").exists():
                report.violations.append("journal.json left behind after a successful cycle")
            report.cycles[str(cycle)] += 1
            return True
    report.cycles["never"] += 1
    return False


def check_invariants(world: _World) -> list[str]:
    """Safety invariants of the live controller; each violation as one line."""
    problems: list[str] = []
    devices = world.emu.devices()
    macs = Counter(d.mac for d in devices if d.mac and d.mac != "00:00:00:00:00:00")
    problems += [f"MAC {m} on {n} devices" for m, n in macs.items() if n > 1]
    problems += [
        f"unowned device {m} was unplugged" for m in sorted(world.unowned) if m not in macs
    ]
    sfs = Counter(d.sf_num for d in devices)
    problems += [f"SF {sf} used by {n} devices" for sf, n in sfs.items() if n > 1]
    records = world.emu.records()
    live = {d.vuid: d for d in devices}
    problems += [f"orphaned recovery record {v}" for v in sorted(set(records) - set(live))]
    problems += [f"device {v} has no recovery record" for v in sorted(set(live) - set(records))]
    for vuid in set(records) & set(live):
        rec, dev = records[vuid], live[vuid]
        if rec.get("mac") != dev.mac or rec.get("sf_num") != dev.sf_num:
            problems.append(f"recovery record of {vuid} disagrees with the live device")
    problems += _desired_present(world, devices)
    return problems


def _desired_present(world: _World, devices) -> list[str]:
    """Every desired hotplug spec's MAC is live exactly once (converged means it)."""
    hot = Counter(d.mac for d in devices if d.kind == HOTPLUG)
    return [
        f"desired device {name} ({s['mac']}) is not live"
        for name, s in world.specs.items()
        if s["type"] == "hotplug" and hot[s["mac"]] != 1
    ]


# ---- the run --------------------------------------------------------------------------


def _round(world: _World, rng: random.Random, config: ChaosConfig, report: ChaosReport) -> None:
    _edit_specs(world, rng, report)
    _disturb(world, rng, report)
    if rng.random() < config.subprocess_fraction:
        _cycle_killed(world, rng, config, report)
    else:
        _cycle_in_process(world, report)
    _check_status_file(world, report, "after the disturbed cycle")
    _lift(world)
    if not _converge(world, config, report):
        diff = world.engine.diff()
        pending = [f"{c.action.value}:{c.name}:{c.reason or ''}" for c in diff.plan.changes]
        report.violations.append(
            f"did not converge in {config.max_cycles} cycles: {pending} {list(diff.errors)}"
        )
    report.violations += check_invariants(world)


def run_chaos(config: ChaosConfig) -> ChaosReport:
    """Run ``config.rounds`` rounds in a fresh sandbox; violations are prefixed with the round."""
    from reconciler.log import configure_logging

    configure_logging(level="critical")
    report = ChaosReport()
    started = time.monotonic()
    rng = random.Random(config.seed)  # noqa: S311 - a reproducible test schedule, not crypto
    with tempfile.TemporaryDirectory(prefix="virtnet-chaos-", dir=config.workdir) as tmp:
        world = _World(Path(tmp), config)
        world.call("init", "--num-vf", str(_VF_IDS), "--sriov-numvfs", str(_VF_IDS), "--force")
        world.engine = _make_engine(world)
        for number in range(1, config.rounds + 1):
            before = len(report.violations)
            _round(world, rng, config, report)
            new = report.violations[before:]
            report.violations[before:] = [f"round {number}: {v}" for v in new]
            report.rounds = number
            if config.progress_every and number % config.progress_every == 0:
                print(
                    f"round {number}/{config.rounds}: {len(report.violations)} violation(s), "
                    f"{time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--subprocess-fraction", type=float, default=0.1)
    parser.add_argument("--max-cycles", type=int, default=6)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--progress", type=int, default=50, help="progress line every N rounds")
    parser.add_argument(
        "--kill-group",
        action="store_true",
        help="kill -9 the apply's whole process group, not the apply alone",
    )
    args = parser.parse_args(argv)
    config = ChaosConfig(
        rounds=args.rounds,
        seed=args.seed,
        max_cycles=args.max_cycles,
        subprocess_fraction=args.subprocess_fraction,
        workdir=args.workdir,
        progress_every=args.progress,
        kill_group=args.kill_group,
    )
    report = run_chaos(config)
    for violation in report.violations:
        print(violation)
    print(report.summary())
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
