"""Soak benchmark of the shared candidate store: N parallel searches, a chaos loop that SIGKILLs random jobs and
restarts them, on each back-end (an SQLite file, a throw-away PostgreSQL server).

    .venv/bin/python bench/store_soak.py [--jobs 4] [--episodes 3] [--k 3] [--kills 6] [--backend both]

Every job is ``search.py experiment=tiny`` with the same seed (so one setting, overlapping proposals) and its
own budget and run directory; a killed job is restarted with the same command, so it resumes. At the end:

- **exactly once**: rows in the shared store = distinct architectures in it;
- **lost**: architectures some job finished (its own ``search.sqlite``) that are missing from the shared store;
- **redone**: architectures two jobs both distilled to the end; ``excused`` are those where one of the two
  was killed at some point (its owner died between finishing and sharing, or mid-distillation), the rest
  would be a bug;
- every job finished with its full ``candidates.csv``; wall time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.postgres_server: the throw-away server the tests use


def start(job: int, store: str, work: Path, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "search.py", "experiment=tiny", "logger=none", f"search.shared_store={store}",
           f"search.episodes={args.episodes}", f"search.candidates_per_episode={args.k}",
           f"search.lease_seconds={args.lease_seconds}", f"latency_budget.speedup={1.1 + 0.1 * job:.1f}",
           f"hydra.run.dir={work / f'job{job}'}"]
    log = open(work / f"job{job}.log", "ab")  # noqa: SIM115 - closed when the process is reaped
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)


def soak(backend: str, store: str, work: Path, args: argparse.Namespace) -> dict[str, object]:
    from kdnas.nas.store import THIS_RUN, CandidateStore

    rng = random.Random(args.seed)
    started = time.time()
    procs = {j: start(j, store, work, args) for j in range(args.jobs)}
    killed: set[int] = set()
    kills = restarts = 0
    while procs:
        time.sleep(rng.uniform(args.chaos_min, args.chaos_max))
        for j, p in list(procs.items()):
            if p.poll() is not None:
                if p.returncode != 0:
                    raise SystemExit(f"{backend}: job {j} failed ({p.returncode}); see {work / f'job{j}.log'}")
                del procs[j]
        if procs and kills < args.kills:
            j = rng.choice(sorted(procs))
            os.killpg(procs[j].pid, signal.SIGKILL)
            procs[j].wait()
            kills += 1
            killed.add(j)
            procs[j] = start(j, store, work, args)  # the same command: it resumes
            restarts += 1
    wall = time.time() - started

    settings = {json.loads((work / f"job{j}" / "summary.json").read_text())["setting"] for j in range(args.jobs)}
    assert len(settings) == 1, settings
    setting = settings.pop()
    shared = CandidateStore(store).measurements(setting)
    shared_ids = [m.arch.arch_id for m in shared]
    finished_by: dict[str, list[int]] = {}
    complete = 0
    for j in range(args.jobs):
        own = CandidateStore(work / f"job{j}" / "search.sqlite").measurements(setting)
        for m in own:
            if m.run == THIS_RUN:
                finished_by.setdefault(m.arch.arch_id, []).append(j)
        with open(work / f"job{j}" / "candidates.csv") as handle:
            complete += len(list(csv.DictReader(handle))) == args.episodes * args.k
    redone = {a: js for a, js in finished_by.items() if len(js) > 1}
    excused = {a for a, js in redone.items() if any(j in killed for j in js)}
    return {
        "backend": backend, "jobs": args.jobs, "candidates per job": args.episodes * args.k, "kills": kills,
        "restarts": restarts, "architectures": len(set(shared_ids)), "rows": len(shared_ids),
        "exactly once": len(shared_ids) == len(set(shared_ids)),
        "lost": len(set(finished_by) - set(shared_ids)), "redone": len(redone) - len(excused),
        "redone, owner killed": len(excused), "jobs complete": f"{complete}/{args.jobs}", "wall s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="shared candidate store under parallel jobs and SIGKILLs")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--kills", type=int, default=6, help="SIGKILLs over the whole run")
    parser.add_argument("--chaos-min", type=float, default=2.0, help="seconds between chaos steps, at least")
    parser.add_argument("--chaos-max", type=float, default=6.0)
    parser.add_argument("--lease-seconds", type=float, default=5.0)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kdnas-soak-")))
        for backend in ("sqlite", "postgresql"):
            if args.backend not in (backend, "both"):
                continue
            work = tmp / backend
            work.mkdir()
            if backend == "sqlite":
                store = str(work / "shared.sqlite")
            else:
                from tests.postgres_server import new_database, postgres_server

                store = new_database(stack.enter_context(postgres_server()))
            rows.append(soak(backend, store, work, args))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for r in rows:
        print("| " + " | ".join(str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
