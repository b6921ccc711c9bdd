"""No-op reconcile at 64, 512 and 4096 devices: cold ``virtnet diff`` and a kept-alive Engine.

Run: ``python benchmarks/bench_noop.py [--sizes 64,512,4096] [--reps 5]
[--plot docs/reconcile-time.png]``. Peak RSS is that of the diff process (or of its
largest child, the emulator, whichever is larger: ``wait4``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, Sandbox, median, write_vf_fleet

TARGETS = {"cold_s": 1.0, "loop_s": 0.3, "rss_mb": 80}


def measure(n: int, reps: int) -> dict:
    """One fresh DPU with ``n`` VFs, converged, then timed no-op cycles both ways."""
    with Sandbox() as box:
        box.init(n)
        write_vf_fleet(box.state, n)
        first = box.virtnet("apply")
        assert first.returncode == 0, f"apply at N={n} did not converge (exit {first.returncode})"
        cold, rss = [], []
        for _ in range(reps):
            done = box.virtnet("diff")
            assert done.returncode == 0, f"diff at N={n} is not a no-op (exit {done.returncode})"
            cold.append(done.wall_s)
            rss.append(done.maxrss_kb / 1024)
        loop = {}
        for label, in_process in (("loop_subprocess_s", False), ("loop_in_process_s", True)):
            engine = box.engine(in_process=in_process)
            engine.reconcile()  # first cycle: parse everything, read capabilities/firmware
            times, mutating = [], 0
            for _ in range(reps):
                started = time.perf_counter()
                result = engine.reconcile()
                times.append(time.perf_counter() - started)
                mutating += result.mutating_calls
            assert mutating == 0, f"a no-op cycle issued {mutating} mutating calls"
            loop[label] = median(times)
        return {"n": n, "cold_s": median(cold), "rss_mb": max(rss), **loop}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot(ns, [r["cold_s"] for r in rows], "o-", label="cold `virtnet diff` (whole process)")
    ax.plot(
        ns,
        [r["loop_subprocess_s"] for r in rows],
        "s-",
        label="in loop, virtnet-emu subprocess (as `virtnet watch`)",
    )
    ax.plot(ns, [r["loop_in_process_s"] for r in rows], "^-", label="in loop, in-process emulator")
    ax.axhline(TARGETS["cold_s"], color="grey", ls="--", lw=0.8)
    ax.axhline(TARGETS["loop_s"], color="grey", ls=":", lw=0.8)
    for key, label in (("cold_s", "cold target 1.0 s"), ("loop_s", "loop target 0.3 s")):
        ax.text(
            ns[-1], TARGETS[key] * 1.02, label, fontsize=8, color="grey", ha="right", va="bottom"
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("devices (VFs)")
    ax.set_ylabel("no-op reconcile time, median (s)")
    ax.set_title("No-op reconcile time against N (2-core machine)")
    top = max([r["cold_s"] for r in rows] + [TARGETS["cold_s"]])
    ax.set_ylim(0, top * 1.35)  # room for the legend above the curves
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="64,512,4096")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--plot", type=Path, help=f"write a PNG (e.g. {REPO}/docs/reconcile-time.png)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    rows = [measure(int(n), args.reps) for n in args.sizes.split(",")]
    print(
        f"{'N':>6} {'cold diff (s)':>14} {'loop, subproc (s)':>18} "
        f"{'loop, in-proc (s)':>18} {'peak RSS (MB)':>14}"
    )
    for r in rows:
        print(
            f"{r['n']:>6} {r['cold_s']:>14.3f} {r['loop_subprocess_s']:>18.3f} "
            f"{r['loop_in_process_s']:>18.3f} {r['rss_mb']:>14.1f}"
        )
    big = rows[-1]
    print(
        f"targets at N={big['n']}: cold < {TARGETS['cold_s']} s: "
        f"{'met' if big['cold_s'] < TARGETS['cold_s'] else 'MISSED'}; "
        f"loop < {TARGETS['loop_s']} s: "
        f"{'met' if big['loop_subprocess_s'] < TARGETS['loop_s'] else 'MISSED'}; "
        f"RSS < {TARGETS['rss_mb']} MB: "
        f"{'met' if big['rss_mb'] < TARGETS['rss_mb'] else 'MISSED'}"
    )
    if args.json:
        print(json.dumps(rows))
    if args.plot:
        plot(rows, args.plot)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
