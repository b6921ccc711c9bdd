"""Per-call cost of the emulated controller: a ``modify`` and a ``query -a -b`` per size.

Run: ``python benchmarks/bench_emulator.py [--sizes 256,4096,16384] [--repeat 9]``. Each call
is a real ``virtnet-emu`` process, as the reconciler's driver runs it; the figures are the
median and the minimum of ``--repeat`` calls (the minimum is the least disturbed by other
load on the machine). The calls that start the controller (``init`` and the first query)
are not measured. ``--pythonpath DIR`` runs the emulator of another source tree (for
example ``git archive <commit> reconciler | tar -x -C DIR``) to compare before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Sandbox, median


def measure(n: int, repeat: int, pythonpath: str | None) -> dict[str, list[float]]:
    with Sandbox() as box:
        if pythonpath:
            box.env["PYTHONPATH"] = pythonpath
        box.init(n)
        assert box.emu("query", "-p", "0", "-v", "0", "-b").returncode == 0
        times: dict[str, list[float]] = {"modify": [], "query -a -b": [], "query one": []}
        for i in range(repeat):
            done = box.emu("modify", "-p", "0", "-v", str(i % 8), "device", "-t", str(1500 + i))
            assert done.returncode == 0, done.stdout
            times["modify"].append(done.wall_s)
            done = box.emu("query", "-a", "-b")
            assert done.returncode == 0
            assert done.stdout.count('"vuid"') >= n
            times["query -a -b"].append(done.wall_s)
            times["query one"].append(box.emu("query", "-p", "0", "-v", "1", "-b").wall_s)
        box.emu("stop")
        return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="256,4096,16384")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--pythonpath", help="import the emulator from this directory")
    args = parser.parse_args()
    if args.pythonpath:
        os.chdir("/")  # the current directory would shadow PYTHONPATH for `-m`
    print(
        f"{'devices':>8} "
        + " ".join(f"{k + ' med/min (s)':>26}" for k in ("modify", "query -a -b", "query one"))
    )
    for n in (int(x) for x in args.sizes.split(",")):
        started = time.perf_counter()
        times = measure(n, args.repeat, args.pythonpath)
        cells = [f"{median(v):>13.3f} /{min(v):>10.3f}" for v in times.values()]
        print(
            f"{n:>8} "
            + " ".join(f"{c:>26}" for c in cells)
            + f"   ({time.perf_counter() - started:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
