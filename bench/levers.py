"""Benchmark: what each distillation lever buys, one architecture, the same steps, evaluated side by side.

    .venv/bin/python bench/levers.py --arch-file ARCH.yaml --steps 300 [--parallel 2] [--only NAME ...]

Each variant is ``train.py`` with the lever's overrides and ``evaluate=true eval.split=dev`` (choices are made on dev, never on test; teacher and student in
the same run), ``--parallel`` jobs at a time on one thread each. A variant whose ``summary.json`` exists
is not re-run, so a killed run resumes. Prints a markdown table (retention per task and macro, final
validation hidden-state loss) for bench/RESULTS.md. Latency is not compared here (the jobs share the
machine): every variant has the same architecture.
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

ROOT = Path(__file__).resolve().parents[1]
# every variant spells out each lever, so it means the same whatever the defaults (conf/distill/default.yaml)
UNPAIRED = ["data.paired=false", "data.batch_size=64", "distill.crosslingual_weight=0.0"]
PAIRED = ["data.paired=true", "data.batch_size=32"]  # 32 pairs = 64 texts, as the unpaired batch
RELATION = ["distill.relation_weight=1.0"]
NO_ATTENTION = ["distill.attention_weight=0.0"]


def crosslingual(weight: float) -> list[str]:
    return [*PAIRED, f"distill.crosslingual_weight={weight}"]


VARIANTS: dict[str, list[str]] = {
    "hidden (paper)": [*UNPAIRED, "distill.relation_weight=0.0", *NO_ATTENTION],
    "+ sentence relation": [*UNPAIRED, *RELATION, *NO_ATTENTION],
    "+ relation + attention (MiniLMv2)": [*UNPAIRED, *RELATION, "distill.attention_weight=1.0"],
    "+ relation, paired batches only": [*RELATION, *crosslingual(0.0), *NO_ATTENTION],
    "+ relation + cross-lingual 1.0": [*RELATION, *crosslingual(1.0), *NO_ATTENTION],
    "+ relation + cross-lingual 0.3 (default)": [*RELATION, *crosslingual(0.3), *NO_ATTENTION],
    "+ relation + cross-lingual 0.1": [*RELATION, *crosslingual(0.1), *NO_ATTENTION],
    "+ relation + cross-lingual 1.0 (teacher target)": [
        *RELATION, *crosslingual(1.0), "distill.crosslingual_target=teacher", *NO_ATTENTION],
    "hidden, paired batches": ["distill.relation_weight=0.0", *crosslingual(0.0), *NO_ATTENTION],
    "hidden + cross-lingual 0.3 (no sentence relation)": ["distill.relation_weight=0.0", *crosslingual(0.3), *NO_ATTENTION],
    "+ relation + cross-lingual 0.3 + attention": [*RELATION, *crosslingual(0.3), "distill.attention_weight=1.0"],
}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch-file", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "levers_run")
    parser.add_argument("--only", nargs="*", default=None, help="variant names (default: all)")
    parser.add_argument("--extra", nargs="*", default=[], help="overrides for every variant")
    args = parser.parse_args()
    names = args.only or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"levers.py: unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pending = [n for n in names if not (args.out / slug(n) / "summary.json").is_file()]
    running: list[tuple[str, subprocess.Popen[bytes], float]] = []
    walls: dict[str, float] = {}
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            cmd = [sys.executable, "train.py", f"arch_file={args.arch_file.resolve()}", f"trainer.max_steps={args.steps}",
                   f"trainer.val_check_interval={args.steps}", "logger=csv", "evaluate=true", "eval.split=dev",
                   *VARIANTS[name], *args.extra, f"hydra.run.dir={args.out / slug(name)}"]
            print("$", shlex.join(cmd), flush=True)
            log = open(args.out / f"{slug(name)}.log", "wb")  # noqa: SIM115 - closed with the process
            running.append((name, subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), time.time()))
        time.sleep(5)
        for item in list(running):
            name, proc, started = item
            if proc.poll() is not None:
                running.remove(item)
                walls[name] = time.time() - started
                if proc.returncode:
                    print(f"{name}: failed ({proc.returncode}), see {args.out / (slug(name) + '.log')}", flush=True)

    print(f"\n{args.arch_file.read_text().strip()}\n{args.steps} steps each\n")
    print("| variant | val hidden loss | retrieval | language id | macro retention |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        summary_file = args.out / slug(name) / "summary.json"
        if not summary_file.is_file():
            print(f"| {name} | failed | | | |")
            continue
        summary = json.loads(summary_file.read_text())
        report = json.loads((args.out / slug(name) / "report.json").read_text())
        tasks = report["retention"]["tasks"]
        print(f"| {name} | {summary['val_loss']:.3f} | {tasks.get('retrieval', float('nan')):.3f} | "
              f"{tasks.get('langid', float('nan')):.3f} | {report['retention']['macro']:.3f} |")


if __name__ == "__main__":
    main()
