"""Cold start of ``virtnet validate`` on examples/quickstart, and its heaviest imports.

Run: ``python benchmarks/bench_validate.py [--reps 10] [--top 12]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, Sandbox, median

TARGET_S = 0.3


def import_times(env: dict, top: int) -> list[tuple[int, int, str]]:
    """``python -X importtime`` of one validate run: (cumulative us, self us, module)."""
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "reconciler",
            "validate",
            "-f",
            str(REPO / "examples" / "quickstart"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        own, cumulative, name = (part.strip() for part in line[12:].split("|"))
        rows.append((int(cumulative), int(own), name))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    with Sandbox() as box:
        argv = [
            sys.executable,
            "-m",
            "reconciler",
            "validate",
            "-f",
            str(REPO / "examples" / "quickstart"),
        ]
        runs = [box.run(argv) for _ in range(args.reps)]
        assert all(r.returncode == 0 for r in runs), "validate failed on the quickstart"
        bare = median([box.run([sys.executable, "-c", "pass"]).wall_s for _ in range(args.reps)])
        wall = median([r.wall_s for r in runs])
        print(
            f"virtnet validate examples/quickstart: median {wall:.3f} s over {args.reps} runs "
            f"(bare `python -c pass`: {bare:.3f} s); target < {TARGET_S} s: "
            f"{'met' if wall < TARGET_S else 'MISSED'}"
        )
        print(f"peak RSS {max(r.maxrss_kb for r in runs) / 1024:.1f} MB")
        print("top imports (python -X importtime), cumulative / self, ms:")
        for cumulative, own, name in import_times(box.env, args.top):
            print(f"  {cumulative / 1000:7.1f} {own / 1000:7.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
