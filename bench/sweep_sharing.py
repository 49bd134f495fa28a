"""Benchmark: a three-budget sweep with a shared candidate store against three independent searches.

    .venv/bin/python bench/sweep_sharing.py [--experiment tiny] [--episodes 3] [--k 3]

Runs ``search.py -m latency_budget.speedup=3,5,7`` twice, sequentially (basic launcher): once with a
fresh shared store (``search.shared_store=<tmp>``), once with sharing off (``search.shared_store=null``).
Prints wall time, distillations and reuses for each. Same seed for every job, as a user's sweep would have.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep(tmp: Path, name: str, store: str, args: argparse.Namespace) -> tuple[float, int, int]:
    sweep_dir = tmp / name
    cmd = [sys.executable, "search.py", "-m", f"latency_budget.speedup={args.speedups}", "logger=none",
           f"search.episodes={args.episodes}", f"search.candidates_per_episode={args.k}",
           f"search.shared_store={store}", f"hydra.sweep.dir={sweep_dir}", *args.overrides]
    if args.experiment:
        cmd.append(f"experiment={args.experiment}")
    print("$", " ".join(cmd[1:]), flush=True)
    started = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.time() - started
    distilled = reused = 0
    for table in sweep_dir.glob("*/candidates.csv"):
        with open(table) as handle:
            for row in csv.DictReader(handle):
                distilled += row["source"] == "distilled"
                reused += row["source"] == "reused"
    return wall, distilled, reused


def main() -> None:
    parser = argparse.ArgumentParser(description="budget sweep: shared store vs independent searches")
    parser.add_argument("--experiment", default="tiny", help="experiment overlay ('' for the full defaults)")
    parser.add_argument("--speedups", default="1.1,1.2,1.3")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="extra search.py overrides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kdnas-sweep-") as tmp:
        shared = sweep(Path(tmp), "shared", str(Path(tmp) / "store.sqlite"), args)
        independent = sweep(Path(tmp), "independent", "null", args)
    print("\n| sweep (3 budgets) | wall s | distilled | reused |\n|---|---|---|---|")
    print(f"| shared store | {shared[0]:.0f} | {shared[1]} | {shared[2]} |")
    print(f"| independent searches | {independent[0]:.0f} | {independent[1]} | {independent[2]} |")
    print(f"\nsharing saves {1 - shared[0] / independent[0]:.0%} of the wall time "
          f"({independent[1] - shared[1]} fewer distillations)")


if __name__ == "__main__":
    main()
