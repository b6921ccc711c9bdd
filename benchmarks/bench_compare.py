"""Side by side, fairly: ``virtnet apply`` vs a shell loop vs an Ansible playbook.

Run: ``python benchmarks/bench_compare.py [--n 128] [--changed 12] [--hotplugs 4]
[--reps 5] [--skip-ansible] [--markdown]`` (needs ``jq`` and, for Ansible,
``pip install ansible-core``; see benchmarks/requirements.txt).

The contenders are what a competent operator writes (benchmarks/compare/): the shell
loop and the playbook each run ONE ``query -a -b``, compare locally, and run one
``modify`` per drifted VF and one ``hotplug`` per missing PF. Every contender:

- calls the controller through the same command ``virtnet apply`` itself uses for the
  emulator backend (so no contender pays a different per-call price);
- starts from the same world: a fresh emulated DPU built by the same deterministic
  ``virtnet-emu`` commands (``init``, then ``calls --clear``), never copied state files;
- runs in this one process, interleaved with the others, the order rotated every
  scenario and repetition so machine noise spreads evenly;
- is checked: after each run the DPU must match the desired state (every VF's MAC and
  MTU, each declared hotplug PF present exactly once), and its controller calls are
  counted from the emulator's call ledger (``virtnet-emu calls``), read before the check.

Scenarios on N VFs: no-op (the world already matches), ``--changed`` VFs with a new MTU,
and the same plus ``--hotplugs`` declared hotplug PFs that do not exist yet. Reported:
the median wall time of each contender per scenario, its ratio to ``virtnet apply``,
its calls, and a plain line for every case where ``virtnet apply`` is slower.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ProcResult, Sandbox, median, vf_mac

HERE = Path(__file__).resolve().parent / "compare"
BIN = Path(sys.executable).parent  # console scripts of this interpreter (no pyenv shims)
MUTATING = ("hotplug", "unplug", "modify")
NEW_MTU = 9000
HOTPLUG_PORTS = 16  # the README's PCI_SWITCH_EMULATION_NUM_PORT, the same for every run


@dataclass(frozen=True)
class Scenario:
    name: str
    changed: int
    hotplugs: int


@dataclass(frozen=True)
class Desired:
    """What every contender must make true: VFs (pf, vf, mac, mtu) and hotplug PFs."""

    vfs: list[dict]
    hotplugs: list[dict]


def desired(n: int, scenario: Scenario) -> Desired:
    """The fresh emulator's VFs, ``changed`` of them (spread evenly) at MTU 9000."""
    step = max(1, n // scenario.changed) if scenario.changed else 0
    changed = {i * step for i in range(scenario.changed)}
    vfs = [
        {"pf": 0, "vf": vf, "mac": vf_mac(0, vf), "mtu": NEW_MTU if vf in changed else 1500}
        for vf in range(n)
    ]
    hotplugs = [
        {
            "name": f"hp-{i}",
            "ib_device": "mlx5_0",
            "mac": f"0c:c4:7a:ff:{0x10 + i:02x}:01",
            "mtu": 1500,
            "max_queues": 4,
            "max_queue_size": 256,
        }
        for i in range(scenario.hotplugs)
    ]
    return Desired(vfs, hotplugs)


def controller_argv(box: Sandbox) -> list[str]:
    """The command ``virtnet apply`` runs for each controller call on this sandbox's DPU."""
    from reconciler.backend import resolve_backend

    runner = resolve_backend("emulator", env=box.env).cli.runner
    return list(runner.prefix)


class Contender:
    """One way of converging the DPU: ``write`` the desired state (untimed), ``run`` (timed)."""

    name = ""

    def write(self, box: Sandbox, want: Desired) -> None:
        raise NotImplementedError

    def run(self, box: Sandbox) -> ProcResult:
        raise NotImplementedError


class VirtnetApply(Contender):
    name = "virtnet apply"

    def write(self, box, want):
        docs = [
            "apiVersion: virtnet/v1\nkind: VirtioNetDevice\n"
            f"metadata:\n  name: vf-{d['vf']}\nspec:\n  type: vf\n  pf_id: {d['pf']}\n"
            f'  vf_id: {d["vf"]}\n  mac: "{d["mac"]}"\n  mtu: {d["mtu"]}\n'
            for d in want.vfs
        ]
        docs += [
            "apiVersion: virtnet/v1\nkind: VirtioNetDevice\n"
            f"metadata:\n  name: {h['name']}\nspec:\n  type: hotplug\n"
            f'  ib_device: {h["ib_device"]}\n  mac: "{h["mac"]}"\n  mtu: {h["mtu"]}\n'
            f"  max_queues: {h['max_queues']}\n  max_queue_size: {h['max_queue_size']}\n"
            for h in want.hotplugs
        ]
        (box.state / "devices.yaml").write_text("---\n".join(docs))

    def run(self, box):
        return box.virtnet("apply")


class ShellLoop(Contender):
    name = "shell loop: one query -a -b + jq, one call per change"

    def write(self, box, want):
        body = {"vfs": want.vfs, "hotplugs": want.hotplugs}
        (box.root / "desired.json").write_text(json.dumps(body))

    def run(self, box):
        script = str(HERE / "shell_loop.sh")
        return box.run(["bash", script, str(box.root / "desired.json"), *controller_argv(box)])


class AnsiblePlaybook(Contender):
    name = "Ansible: one query task, loop over drifted devices"

    def write(self, box, want):
        body = {"virtnet": controller_argv(box), "vfs": want.vfs, "hotplugs": want.hotplugs}
        (box.root / "desired.json").write_text(json.dumps(body))

    def run(self, box):
        box.env.update(
            {
                "ANSIBLE_HOME": str(box.root / "ansible"),
                "ANSIBLE_LOCAL_TEMP": str(box.root / "ansible" / "tmp"),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            }
        )
        argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local"]
        argv += [str(HERE / "playbook.yml"), "-e", f"@{box.root / 'desired.json'}"]
        return box.run(argv, timeout=175)


@dataclass
class Cell:
    """All runs of one contender in one scenario."""

    walls: list[float] = field(default_factory=list)
    calls: list[dict[str, int]] = field(default_factory=list)


def check_world(box: Sandbox, want: Desired) -> list[str]:
    """Where the DPU differs from the desired state (empty: converged)."""
    devices = box.emu_json("query", "-a", "-b")["devices"]
    slots = {(d["pf_id"], d["vf_id"]): d for d in devices if "vf_id" in d}
    wrong = []
    for w in want.vfs:
        got = slots.get((w["pf"], w["vf"]))
        if got is None or got["mac"].lower() != w["mac"] or int(got["mtu"]) != w["mtu"]:
            wrong.append(f"VF {w['pf']}/{w['vf']}: {got and (got['mac'], got['mtu'])}")
    hotplugged = [d for d in devices if d.get("function_type") == "hotplug PF"]
    for h in want.hotplugs:
        same = [d for d in hotplugged if d["mac"].lower() == h["mac"]]
        if len(same) != 1 or int(same[0]["mtu"]) != h["mtu"]:
            wrong.append(f"hotplug {h['mac']}: {len(same)} found")
    if len(hotplugged) != len(want.hotplugs):
        wrong.append(f"{len(hotplugged)} hotplug PFs, {len(want.hotplugs)} declared")
    return wrong


def run_once(contender: Contender, n: int, scenario: Scenario) -> tuple[float, dict[str, int]]:
    """One timed run on a fresh DPU; raises if the contender failed or left the DPU wrong."""
    want = desired(n, scenario)
    with Sandbox(prefix="virtnet-compare-") as box:
        try:
            box.init(n, hotplug_ports=HOTPLUG_PORTS)
            contender.write(box, want)
            box.emu("calls", "--clear")
            result = contender.run(box)
            if result.returncode != 0:
                raise SystemExit(f"{contender.name} / {scenario.name}: exit {result.returncode}")
            calls = box.emu_json("calls")  # before the check, whose query is ours
            wrong = check_world(box, want)
            if wrong:
                raise SystemExit(f"{contender.name} / {scenario.name}: DPU differs: {wrong[:3]}")
            return result.wall_s, calls
        finally:
            box.emu("stop")  # an emulator run as a service must not outlive its sandbox


def measure(contenders, scenarios, n: int, reps: int) -> dict[tuple[str, str], Cell]:
    cells = {(c.name, s.name): Cell() for c in contenders for s in scenarios}
    for rep in range(reps):
        for index, scenario in enumerate(scenarios):
            shift = (rep + index) % len(contenders)
            for contender in contenders[shift:] + contenders[:shift]:
                wall, calls = run_once(contender, n, scenario)
                cell = cells[contender.name, scenario.name]
                cell.walls.append(wall)
                cell.calls.append(calls)
                print(
                    f"  rep {rep + 1} {scenario.name:<24} {contender.name:<54} {wall:6.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return cells


def calls_text(cell: Cell) -> str:
    """Total controller calls (mutating ones) per run; a range if the runs differ."""
    totals = sorted({sum(c.values()) for c in cell.calls})
    mutating = sorted({sum(c.get(op, 0) for op in MUTATING) for c in cell.calls})
    show = lambda v: str(v[0]) if len(v) == 1 else f"{v[0]}-{v[-1]}"  # noqa: E731
    return f"{show(totals)} ({show(mutating)})"


def report(cells, contenders, scenarios, *, markdown: bool) -> None:
    """Two tables (time with the ratio to ``virtnet apply``; calls), then one line per loss."""
    base = contenders[0].name

    def time_cell(c, s) -> str:
        mine, ref = median(cells[c.name, s.name].walls), median(cells[base, s.name].walls)
        return f"{mine:.2f} s" if c.name == base else f"{mine:.2f} s ({mine / ref:.2f}x)"

    tables = [
        ("median wall time (ratio to `virtnet apply`)", time_cell),
        ("controller calls per run (mutating)", lambda c, s: calls_text(cells[c.name, s.name])),
    ]
    for title, value in tables:
        head = [title] + [s.name for s in scenarios]
        rows = [[c.name] + [value(c, s) for s in scenarios] for c in contenders]
        if markdown:
            print("| " + " | ".join(head) + " |")
            print("| --- |" + " ---: |" * len(scenarios))
            for row in rows:
                print("| " + " | ".join(row) + " |")
        else:
            widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
            for row in [head, *rows]:
                print("  ".join(col.ljust(w) for col, w in zip(row, widths, strict=True)))
        print()
    print("Calls by operation (first run of each):")
    for c in contenders:
        ops = "; ".join(
            f"{s.name}: "
            + ", ".join(f"{op} {k}" for op, k in sorted(cells[c.name, s.name].calls[0].items()))
            for s in scenarios
        )
        print(f"- {c.name}: {ops}")
    print()
    for c in contenders[1:]:
        for s in scenarios:
            mine, ref = median(cells[c.name, s.name].walls), median(cells[base, s.name].walls)
            if ref > mine:
                verdict = f"LOSES: it is {ref / mine:.1f}x slower"
            else:
                verdict = f"wins: it is {mine / ref:.1f}x faster"
            print(
                f"- {s.name}, against {c.name}: `virtnet apply` {verdict} "
                f"({ref:.2f} s vs {mine:.2f} s)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=128, help="VFs on the DPU")
    parser.add_argument("--changed", type=int, default=12, help="VFs given a new MTU")
    parser.add_argument("--hotplugs", type=int, default=4, help="hotplug PFs to create")
    parser.add_argument("--reps", type=int, default=5, help="runs per contender and scenario")
    parser.add_argument("--skip-ansible", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    if shutil.which("jq") is None:
        print("jq not found (the shell loop compares with it)")
        return 2
    contenders: list[Contender] = [VirtnetApply(), ShellLoop()]
    if not args.skip_ansible:
        if not (BIN / "ansible-playbook").exists():
            print("ansible-playbook not found: pip install ansible-core (or --skip-ansible)")
            return 2
        contenders.append(AnsiblePlaybook())
    scenarios = [Scenario("no-op", 0, 0), Scenario(f"{args.changed} changed", args.changed, 0)]
    if args.hotplugs:
        name = f"{args.changed} changed + {args.hotplugs} hotplugs"
        scenarios.append(Scenario(name, args.changed, args.hotplugs))
    if args.hotplugs > HOTPLUG_PORTS:
        print(f"--hotplugs: at most {HOTPLUG_PORTS} (the emulated switch ports)")
        return 2
    load = os.getloadavg()[0]
    cells = measure(contenders, scenarios, args.n, args.reps)
    print(
        f"N = {args.n} VFs; medians of {args.reps} interleaved runs per cell; "
        f"load average {load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print("calls = controller calls per run from the emulator ledger (mutating in brackets)")
    print()
    report(cells, contenders, scenarios, markdown=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
