"""The headline benchmark: search under cpu_7x, distil the recommendation on the full corpus, evaluate.

    .venv/bin/python bench/headline.py --out bench/headline_run [--train-steps 800] [--episodes 8]

Stages (each skipped when its outputs exist, so a killed run resumes):
  1. ``search.py latency_budget=cpu_7x latency_budget.hard=true`` -> recommendations.yaml
  2. ``train.py arch_file=<7x recommendation>`` on the full training split (and the 10x one, shorter)
  3. ``evaluate.py student=<dir>``: teacher and student side by side, same run, same latency profile
Prints the commands it runs and a table; writes ``headline.json`` and ``retention_vs_speedup.png``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], log: Path) -> float:
    print("$", shlex.join(cmd), flush=True)
    started = time.time()
    with open(log, "w") as handle:
        subprocess.run(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, check=True)
    return time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="search -> distil -> evaluate, cpu_7x")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "headline_run")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=800)
    parser.add_argument("--stretch-steps", type=int, default=300)
    parser.add_argument("--extra", nargs="*",
                        default=["distill.relation_weight=1.0", "data.batch_size=64", "student.freeze_word_embeddings=false"],
                        help="train.py overrides (the levers)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    walls: dict[str, float] = {}

    search_dir = out / "search"
    if not (search_dir / "recommendations.yaml").is_file():
        walls["search"] = run([py, "search.py", "latency_budget=cpu_7x", "latency_budget.hard=true",
                               "student.freeze_word_embeddings=false",
                               f"search.episodes={args.episodes}", "logger=csv", f"hydra.run.dir={search_dir}"],
                              out / "search.log")
    recs = yaml.safe_load((search_dir / "recommendations.yaml").read_text())["budgets"]

    results = {}
    for budget, steps in (("7x", args.train_steps), ("10x", args.stretch_steps)):
        rec = recs.get(budget)
        if rec is None:
            print(f"no architecture met {budget}")
            continue
        arch_file = out / f"arch_{budget}.yaml"
        arch_file.write_text(yaml.safe_dump(rec["arch"], sort_keys=False))
        train_dir = out / f"train_{budget}"
        if not (train_dir / "summary.json").is_file():
            walls[f"train_{budget}"] = run(
                [py, "train.py", f"arch_file={arch_file}", f"trainer.max_steps={steps}", "trainer.val_check_interval=500",
                 "logger=csv", *args.extra, f"hydra.run.dir={train_dir}"], out / f"train_{budget}.log")
        eval_dir = out / f"eval_{budget}"
        if not (eval_dir / "report.json").is_file():
            walls[f"eval_{budget}"] = run([py, "evaluate.py", f"student={train_dir / 'student'}",
                                          "latency_budget=cpu_7x", f"hydra.run.dir={eval_dir}"], out / f"eval_{budget}.log")
        results[budget] = json.loads((eval_dir / "report.json").read_text())
    (out / "headline.json").write_text(json.dumps({"walls": walls, "recommendations": recs,
                                                   "reports": results}, indent=2, default=str))
    print(json.dumps(walls, indent=1))


if __name__ == "__main__":
    main()
