"""The headline under the evaluation protocol: one architecture, two recipes, several seeds; dev, then test.

    .venv/bin/python bench/headline.py --out bench/headline_protocol [--seeds 0 1 2] [--steps 600]
        [--arch-file bench/archs/L2-H384-A12-F512-gelu.yaml] [--recipes parallel paper]

The architecture is the cpu_7x search's recommendation (chosen on the search's validation loss, never on
test). For every recipe and seed (``--order``: the first seed of every recipe first, so a short session
still compares the recipes):

  1. ``train.py arch_file=... seed=<s> trainer.max_steps=<steps>`` on the train split, the recipe's overrides
     (``parallel``: the default, paired translation batches with the cross-lingual loss; ``paper``:
     ``distill=paper``, hidden states of single texts only);
  2. ``evaluate.py ... eval.split=dev`` for the first seed of each recipe: the recipe is chosen on dev;
  3. ``evaluate.py ... eval.split=test`` (retrieval, language id, out-of-domain retrieval, agreement,
     baselines, intervals, both latency profiles when the evaluation measures them).

Every stage is skipped when its output exists (a killed run resumes; ``train.py`` itself resumes from its
last checkpoint). Evaluations run one at a time. Prints a markdown table: mean and range over seeds of every
headline figure, with the seeds' own 95% intervals in ``headline.json``.
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
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECIPES: dict[str, list[str]] = {
    "parallel": [],  # the defaults: paired translation batches, hidden + relation + cross-lingual losses
    "paper": ["distill=paper", "data.paired=false", "data.batch_size=64"],  # 64 single texts, as 32 pairs
}
RECIPE_DATA = {
    "parallel": "gettext train split: 32 (English, translation) pairs a batch; the teacher embeds the English side",
    "paper": "gettext train split: 64 single texts a batch (no pairing); hidden states only",
}
EVAL_TASKS = "eval.tasks=[retrieval,langid,ood_retrieval]"


def run(cmd: list[str], log: Path, threads: int | None = None) -> float:
    """Run ``cmd`` from the repository root, its output in ``log`` (``threads``: BLAS/OpenMP threads, for runs
    side by side); exits on failure; returns its wall seconds."""
    print("$", shlex.join(cmd), flush=True)
    started = time.time()
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {})}
    with open(log, "wb") as out:
        if subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode:
            sys.exit(f"failed: {shlex.join(cmd)} (see {log})")
    return time.time() - started


def figures(report: dict[str, Any]) -> dict[str, float | None]:
    """The headline figures of one evaluation report."""
    lat = report["latency"]
    kept, gains = report["retention"], {k: v["gain"] for k, v in report.get("baselines", {}).items()}
    agree = report.get("agreement", {})
    out: dict[str, float | None] = {
        "speedup_128": lat["cpu"]["speedup"],
        "speedup_real": (lat.get("cpu_real_length") or {}).get("speedup"),
        "retention_macro": kept["macro"],
        "retention_retrieval": kept["tasks"].get("retrieval"),
        "retention_langid": kept["tasks"].get("langid"),
        "retention_ood": kept.get("out_of_domain_macro"),
        "gain_untrained": (gains.get("untrained") or {}).get("macro"),
        "gain_teacher_init": (gains.get("teacher_init") or {}).get("macro"),
        "gain_untrained_ood": (gains.get("untrained") or {}).get("out_of_domain_macro"),
        "worst_language_retrieval": (report.get("languages", {}).get("retrieval") or {}).get("worst_retention"),
        "neighbourhood_ood": (agree.get("out_of_domain") or {}).get("neighbourhood"),
        "cka_ood": (agree.get("out_of_domain") or {}).get("cka"),
    }
    return out


def summarise(rows: list[dict[str, float | None]]) -> dict[str, str]:
    """``mean (min-max)`` over seeds per figure."""
    out = {}
    for key in rows[0]:
        values = [v for r in rows if (v := r[key]) is not None]
        out[key] = "–" if not values else (
            f"{np.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})" if len(values) > 1 else f"{values[0]:.3f}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="the headline under the dev/test protocol")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "headline_protocol")
    parser.add_argument("--arch-file", type=Path, default=ROOT / "bench" / "archs" / "L2-H384-A12-F512-gelu.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--budget", default="cpu_7x")
    parser.add_argument("--stop-after", type=int, default=0, help="stop after this many trainings (0: all)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    walls: dict[str, float] = {}
    trained = 0
    jobs = [(recipe, seed) for seed in args.seeds for recipe in args.recipes]  # first seed of each recipe first
    for recipe, seed in jobs:
        name = f"{recipe}_s{seed}"
        train_dir = out / f"train_{name}"
        if not (train_dir / "summary.json").is_file():
            if args.stop_after and trained >= args.stop_after:
                continue
            walls[f"train {name}"] = run([
                py, "train.py", f"arch_file={args.arch_file}", f"seed={seed}", f"trainer.max_steps={args.steps}",
                f"trainer.val_check_interval={args.steps}", "logger=csv", *RECIPES[recipe],
                f"hydra.run.dir={train_dir}"], out / f"train_{name}.log")  # fmt: skip
            trained += 1
        splits = ["dev", "test"] if seed == args.seeds[0] else ["test"]
        for split in splits:
            eval_dir = out / f"eval_{split}_{name}"
            if not (eval_dir / "report.json").is_file():
                walls[f"eval {split} {name}"] = run([
                    py, "evaluate.py", f"student={train_dir / 'student'}", f"latency_budget={args.budget}",
                    f"eval.split={split}", EVAL_TASKS, f"hydra.run.dir={eval_dir}"], out / f"eval_{split}_{name}.log")  # fmt: skip

    results: dict[str, Any] = {"walls": walls, "arch_file": str(args.arch_file), "steps": args.steps, "recipes": {}}
    print(f"\n| recipe (data) | split | seeds | {' | '.join(figures_keys())} |")
    print("|---|---|---|" + "---:|" * len(figures_keys()))
    for recipe in args.recipes:
        entry: dict[str, Any] = {"data": RECIPE_DATA[recipe], "overrides": RECIPES[recipe], "splits": {}}
        for split in ("dev", "test"):
            reports = {seed: out / f"eval_{split}_{recipe}_s{seed}" / "report.json" for seed in args.seeds}
            done = {seed: json.loads(p.read_text()) for seed, p in reports.items() if p.is_file()}
            if not done:
                continue
            rows = [figures(r) for r in done.values()]
            entry["splits"][split] = {
                "seeds": sorted(done), "per_seed": dict(zip(sorted(done), rows, strict=True)),
                "intervals": {seed: r.get("intervals", {}).get("retention") for seed, r in done.items()},
                "summary": summarise(rows),
            }  # fmt: skip
            summary = entry["splits"][split]["summary"]
            print(f"| {recipe} | {split} | {len(done)} | {' | '.join(summary[k] for k in figures_keys())} |")
        results["recipes"][recipe] = entry
    (out / "headline.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps({k: round(v) for k, v in walls.items()}, indent=1))


def figures_keys() -> list[str]:
    return list(figures({"latency": {"cpu": {"speedup": 0}}, "retention": {"macro": 0, "tasks": {}}}))


if __name__ == "__main__":
    main()
