"""The headline benchmark: search under cpu_7x, distil the recommendations on the full corpus, evaluate.

    .venv/bin/python bench/headline.py --out bench/headline_run [--train-steps 1000] [--curve-steps 200]
    .venv/bin/python bench/headline.py --budget cpu_10x --full-budgets 10x --curve-steps 0 --out bench/stretch_run

Stages (each skipped when its outputs exist, so a killed run resumes):
  1. ``search.py latency_budget=<--budget> latency_budget.hard=true`` -> recommendations.yaml
  2. ``train.py arch_file=<recommendation>`` on the full training split, default recipe (``--levers`` adds overrides):
     the ``--full-budgets`` (7x, 10x) recommendations for ``--train-steps``, the other budgets' for
     ``--curve-steps`` (the retention-vs-speed-up curve); ``--parallel`` jobs at a time, one thread each
  3. ``evaluate.py student=<dir>`` for each, one at a time on an otherwise idle machine: teacher and
     student side by side, same run, the budget's latency profile (the headline students also with
     ``prune_vocab=true``: the vocabulary-pruned copy measured the same way)
Prints the commands it runs and a table; writes ``headline.json`` and ``retention_vs_speedup.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import yaml

ROOT = Path(__file__).resolve().parents[1]
LEVERS: list[str] = []  # the defaults: hidden-state + sentence-relation + cross-lingual losses on translation pairs
HEADLINE_BUDGETS = ("7x", "10x")


def start(cmd: list[str], log: Path, threads: int | None = None) -> subprocess.Popen[bytes]:
    print("$", shlex.join(cmd), flush=True)
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def run(cmd: list[str], log: Path) -> float:
    started = time.time()
    if start(cmd, log).wait():
        sys.exit(f"failed: {shlex.join(cmd)} (see {log})")
    return time.time() - started


def run_parallel(jobs: list[tuple[str, list[str], Path]], parallel: int) -> dict[str, float]:
    """Run ``(name, cmd, log)`` jobs ``parallel`` at a time, one thread each; wall seconds per job."""
    walls: dict[str, float] = {}
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < parallel:
            name, cmd, log = pending.pop(0)
            running.append((name, start(cmd, log, threads=1 if parallel > 1 else None), time.time(), log))
        time.sleep(5)
        for item in list(running):
            name, proc, started, log = item
            if proc.poll() is not None:
                running.remove(item)
                walls[name] = time.time() - started
                if proc.returncode:
                    sys.exit(f"failed: {name} (see {log})")
    return walls


def plot(points: list[dict[str, float | str]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for p in points:
        ax.scatter(p["speedup"], p["retention"], color="C0" if p["full"] else "C1")
        ax.annotate(f"{p['budgets']}: {p['arch']}\n{p['steps']} steps", (p["speedup"], p["retention"]),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.axhline(0.9, color="grey", ls="--", lw=0.8)
    ax.axvline(7, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("CPU speed-up over the teacher (1 thread, batch 1, 128 tokens)")
    ax.set_ylabel("macro retention (retrieval, language id)")
    ax.set_title("Search recommendations, distilled and evaluated")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description="search -> distil -> evaluate (cpu_7x by default)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "headline_run")
    parser.add_argument("--budget", default="cpu_7x", help="the search's latency_budget preset (cpu_10x: the stretch)")
    parser.add_argument("--full-budgets", nargs="*", default=list(HEADLINE_BUDGETS),
                        help="recommendations distilled for --train-steps")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=1000, help="for the 7x and 10x recommendations")
    parser.add_argument("--curve-steps", type=int, default=200, help="for the other budgets' (0: skip them)")
    parser.add_argument("--parallel", type=int, default=2, help="training jobs at a time")
    parser.add_argument("--levers", nargs="*", default=LEVERS, help="train.py overrides")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    walls: dict[str, float] = {}

    search_dir = out / "search"
    if not (search_dir / "recommendations.yaml").is_file():
        walls["search"] = run([py, "search.py", f"latency_budget={args.budget}", "latency_budget.hard=true",
                               f"search.episodes={args.episodes}", "logger=csv", f"hydra.run.dir={search_dir}"],
                              out / "search.log")
    recs = yaml.safe_load((search_dir / "recommendations.yaml").read_text())["budgets"]

    # one training per distinct architecture; the headline budgets get the long schedule
    archs: dict[str, dict] = {}
    for budget, rec in recs.items():
        if rec is None:
            print(f"no architecture met {budget}")
            continue
        entry = archs.setdefault(rec["arch_id"], {"arch": rec["arch"], "budgets": [], "search_speedup": rec["speedup"]})
        entry["budgets"].append(budget)
    jobs = []
    for arch_id, entry in archs.items():
        full = any(b in args.full_budgets for b in entry["budgets"])
        entry["steps"] = args.train_steps if full else args.curve_steps
        entry["full"] = full
        if not entry["steps"]:
            continue
        arch_file = out / f"arch_{arch_id}.yaml"
        arch_file.write_text(yaml.safe_dump(entry["arch"], sort_keys=False))
        train_dir = out / f"train_{arch_id}"
        entry["train_dir"] = train_dir
        if not (train_dir / "summary.json").is_file():
            jobs.append((f"train {'/'.join(entry['budgets'])}", [
                py, "train.py", f"arch_file={arch_file}", f"trainer.max_steps={entry['steps']}",
                f"trainer.val_check_interval={entry['steps']}", "logger=csv", *args.levers,
                f"hydra.run.dir={train_dir}"], out / f"train_{arch_id}.log"))
    jobs.sort(key=lambda j: not any(b in j[0].split()[-1].split("/") for b in args.full_budgets))  # headline first
    walls.update(run_parallel(jobs, args.parallel))

    points, reports = [], {}
    for arch_id, entry in archs.items():
        if "train_dir" not in entry:
            continue
        eval_dir = out / f"eval_{arch_id}"
        if not (eval_dir / "report.json").is_file():
            walls[f"eval {'/'.join(entry['budgets'])}"] = run(
                [py, "evaluate.py", f"student={entry['train_dir'] / 'student'}", f"latency_budget={args.budget}",
                 *(["prune_vocab=true"] if entry["full"] else []), f"hydra.run.dir={eval_dir}"], out / f"eval_{arch_id}.log")
        report = json.loads((eval_dir / "report.json").read_text())
        reports[arch_id] = report
        entry["steps"] = json.loads((entry["train_dir"] / "summary.json").read_text())["steps"]  # as trained
        short = "L{num_hidden_layers}-H{hidden_size}-A{num_attention_heads}-F{intermediate_size}-{hidden_act}".format(**entry["arch"])
        points.append({"budgets": "/".join(entry["budgets"]), "arch": short, "steps": entry["steps"], "full": entry["full"],
                       "speedup": report["latency"]["cpu"]["speedup"], "retention": report["retention"]["macro"],
                       "retrieval": report["retention"]["tasks"].get("retrieval"),
                       "langid": report["retention"]["tasks"].get("langid")})
    plot(points, out / "retention_vs_speedup.png")
    (out / "headline.json").write_text(json.dumps({"walls": walls, "recommendations": recs, "points": points,
                                                   "reports": reports}, indent=2, default=str))
    print("\n| budgets | architecture | steps | speed-up | retrieval | language id | macro retention |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for p in sorted(points, key=lambda p: p["speedup"]):
        print(f"| {p['budgets']} | {p['arch']} | {p['steps']} | {p['speedup']:.2f}x | {p['retrieval']:.3f} | "
              f"{p['langid']:.3f} | {p['retention']:.3f} |")
    print(json.dumps({k: round(v) for k, v in walls.items()}, indent=1))


if __name__ == "__main__":
    main()
