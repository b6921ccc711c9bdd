"""Side by side on one emulator: ``virtnet apply`` vs an Ansible playbook vs a shell loop.

Run: ``python benchmarks/bench_compare.py [--n 128] [--reps 3] [--skip-ansible]``
(needs ``pip install ansible-core`` and ``jq``; see benchmarks/requirements.txt).

Each tool gets a fresh emulated DPU with N VFs and the same desired state (MAC and
MTU per VF), and does the same idempotent work twice: a no-op (the world already
matches) and a 10% change (the MTU of N/10 devices). All three call the emulator
through its vendor-compatible executable ``virtnet-emu``. The shell loop and Ansible
run once per case (seconds to a minute each); ``virtnet apply``, which is over in a
fraction of a second and so the most sensitive to noise, takes the median of ``--reps``
no-op runs. N = 128 keeps the Ansible side under a minute per run on two cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Sandbox, median, vf_mac

HERE = Path(__file__).resolve().parent / "compare"
BIN = Path(sys.executable).parent  # console scripts of this interpreter (no pyenv shims)
TARGETS = {"ansible": 20, "shell": 5}


def desired(n: int, changed: bool) -> list[dict]:
    """Every VF at MTU 1500; with ``changed``, every 10th of the first N/10*10 at 9000."""
    return [
        {"vf": vf, "mac": vf_mac(0, vf), "mtu": 9000 if changed and vf % 10 == 0
         and vf // 10 < n // 10 else 1500}
        for vf in range(n)
    ]


class Tool:
    """One way of converging the DPU; ``apply`` returns a ProcResult."""

    name = ""

    def __init__(self, box: Sandbox, vuids: dict[int, str]):
        self.box, self.vuids = box, vuids

    def write(self, devices: list[dict]) -> None: ...

    def apply(self): ...


class Virtnet(Tool):
    name = "virtnet apply"

    def write(self, devices):
        for d in devices:
            (self.box.state / f"vf-{d['vf']}.yaml").write_text(
                f"apiVersion: virtnet/v1\nkind: VirtioNetDevice\nmetadata:\n  name: vf-{d['vf']}\n"
                f"spec:\n  type: vf\n  pf_id: 0\n  vf_id: {d['vf']}\n  mac: \"{d['mac']}\"\n"
                f"  mtu: {d['mtu']}\n"
            )

    def apply(self):
        return self.box.virtnet("apply")


class Shell(Tool):
    name = "shell loop (bash + jq)"

    def write(self, devices):
        (self.box.root / "desired.tsv").write_text(
            "".join(f"{self.vuids[d['vf']]}\t{d['mac']}\t{d['mtu']}\n" for d in devices)
        )

    def apply(self):
        return self.box.run(["bash", str(HERE / "shell_loop.sh"), str(BIN / "virtnet-emu"),
                             str(self.box.root / "desired.tsv")])


class Ansible(Tool):
    name = "ansible-playbook"

    def write(self, devices):
        rows = [{**d, "vuid": self.vuids[d["vf"]]} for d in devices]
        (self.box.root / "desired.json").write_text(json.dumps({"devices": rows}))

    def apply(self):
        self.box.env.update({
            "ANSIBLE_HOME": str(self.box.root / "ansible"),
            "ANSIBLE_LOCAL_TEMP": str(self.box.root / "ansible" / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
        })
        return self.box.run([
            str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
            str(HERE / "playbook.yml"), "-e", f"@{self.box.root / 'desired.json'}",
            "-e", f"emu={BIN / 'virtnet-emu'}",
            "-e", f"ansible_python_interpreter={sys.executable}",
        ], timeout=175)


def run_tool(cls, n: int, reps: int) -> dict:
    with Sandbox() as box:
        box.init(n)
        vuids = {d["vf_id"]: d["vuid"] for d in box.emu_json("query", "-a", "-b")["devices"]
                 if d.get("pf_id") == 0 and "vf_id" in d}
        tool = cls(box, vuids)
        tool.write(desired(n, changed=False))
        box.emu("calls", "--clear")
        noop = [tool.apply() for _ in range(reps if cls is Virtnet else 1)]
        assert all(r.returncode == 0 for r in noop), f"{tool.name}: no-op run failed"
        noop_calls = box.mutating_calls()
        tool.write(desired(n, changed=True))
        box.emu("calls", "--clear")
        change = tool.apply()
        assert change.returncode == 0, f"{tool.name}: change run failed"
        changed = sum(1 for d in box.emu_json("query", "-a", "-b")["devices"]
                      if d.get("mtu") == "9000")
        assert changed == n // 10, f"{tool.name}: {changed} devices at MTU 9000"
        return {"tool": tool.name, "noop_s": median([r.wall_s for r in noop]),
                "change_s": change.wall_s, "noop_mutating": noop_calls,
                "change_mutating": box.mutating_calls()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-ansible", action="store_true")
    args = parser.parse_args()
    tools = [Virtnet, Shell]
    if not args.skip_ansible:
        if not (BIN / "ansible-playbook").exists():
            print("ansible-playbook not found: pip install ansible-core (or --skip-ansible)")
            return 2
        tools.append(Ansible)
    if shutil.which("jq") is None:
        print("jq not found (the shell loop parses JSON with it)")
        return 2
    rows = [run_tool(cls, args.n, args.reps) for cls in tools]
    base = rows[0]
    print(f"N = {args.n} VFs; 10% change = MTU of {args.n // 10} devices")
    print(f"{'tool':<24} {'no-op (s)':>10} {'ratio':>7} {'10% change (s)':>15} {'ratio':>7} "
          f"{'mutating calls (no-op / change)':>32}")
    for r in rows:
        print(f"{r['tool']:<24} {r['noop_s']:>10.2f} {r['noop_s'] / base['noop_s']:>6.1f}x "
              f"{r['change_s']:>15.2f} {r['change_s'] / base['change_s']:>6.1f}x "
              f"{r['noop_mutating']:>16} / {r['change_mutating']}")
    for r, key in zip(rows[1:], ("shell", "ansible"), strict=False):
        worst = min(r["noop_s"] / base["noop_s"], r["change_s"] / base["change_s"])
        print(f"target virtnet >= {TARGETS[key]}x faster than {r['tool']}: "
              f"{'met' if worst >= TARGETS[key] else 'MISSED'} (worst ratio {worst:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
