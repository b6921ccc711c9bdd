"""Controller calls per apply: first apply of N devices, then a re-apply (counted, not timed).

Run: ``python benchmarks/bench_calls.py [--sizes 64,512] [--hotplug 8]``. Counts come from the
emulator's ledger (``virtnet-emu calls``: what the controller received). The same figures
are asserted at a small N by tests/integration/test_call_counts.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Sandbox

OPS = ("hotplug", "unplug", "modify", "query", "list", "mlxconfig")


def write_specs(box: Sandbox, n_vfs: int, n_hotplug: int) -> None:
    """N VFs whose MTU differs from the booted one (one modify each) and new hotplug PFs."""
    for pf in range((n_vfs + 511) // 512):
        count = min(512, n_vfs - pf * 512)
        (box.state / f"fleet-{pf}.yaml").write_text(
            "apiVersion: virtnet/v1\nkind: VirtioNetDeviceSet\n"
            f'metadata:\n  name: fleet{pf}\nspec:\n  pf_id: {pf}\n  vf_ids: "0-{count - 1}"\n'
            f'  mac_base: "cc:48:15:{pf:02x}:00:00"\n  template:\n    mtu: 9000\n'
        )
    for i in range(n_hotplug):
        (box.state / f"hp-{i}.yaml").write_text(
            "apiVersion: virtnet/v1\nkind: VirtioNetDevice\n"
            f"metadata:\n  name: hp-{i}\nspec:\n  type: hotplug\n  ib_device: mlx5_0\n"
            f'  mac: "0c:c4:7a:00:02:{i:02x}"\n  mtu: 1500\n  max_queues: 4\n'
            "  max_queue_size: 256\n"
        )


def ledger(box: Sandbox) -> dict[str, int]:
    counts = box.emu_json("calls")
    box.emu("calls", "--clear")
    return {op: counts.get(op, 0) for op in OPS}


def run(n_vfs: int, n_hotplug: int) -> list[tuple[str, int, dict, float]]:
    with Sandbox() as box:
        box.init(n_vfs)
        write_specs(box, n_vfs, n_hotplug)
        box.emu("calls", "--clear")
        rows = []
        for label in ("first apply", "re-apply", "re-apply"):
            done = box.virtnet("apply")
            assert done.returncode == 0, f"{label} exited {done.returncode}"
            rows.append((label, n_vfs + n_hotplug, ledger(box), done.wall_s))
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="64,512", help="VF counts")
    parser.add_argument("--hotplug", type=int, default=8, help="hotplug PFs added to each run")
    args = parser.parse_args()
    started = time.perf_counter()
    print(
        f"{'run':<12} {'devices':>7} {'mutating':>8} "
        + " ".join(f"{op:>9}" for op in OPS)
        + f" {'wall (s)':>9}"
    )
    ok = True
    for n in (int(x) for x in args.sizes.split(",")):
        for label, devices, counts, wall in run(n, args.hotplug):
            mutating = counts["hotplug"] + counts["unplug"] + counts["modify"]
            expected = devices if label == "first apply" else 0
            ok &= mutating == expected and counts["query"] == (2 if expected else 1)
            print(
                f"{label:<12} {devices:>7} {mutating:>8} "
                + " ".join(f"{counts[op]:>9}" for op in OPS)
                + f" {wall:>9.2f}"
            )
    print(
        "query = observations (the cycle's one, plus one verification re-read after changes);"
        " list and mlxconfig: once per process"
    )
    print(
        f"expected counts: {'all met' if ok else 'MISSED'} "
        f"(total {time.perf_counter() - started:.0f} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
