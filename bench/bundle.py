"""The headline student's deploy bundle: each form's size, latency and retention in one table.

    .venv/bin/python bench/bundle.py [--out bench/bundle_run] [--train-steps 600]

Stages (each skipped when its outputs exist, so a killed run resumes):
  1. ``train.py arch_file=<out>/headline_arch.yaml`` (L2-H384-A12-F512-gelu, the cpu_7x headline architecture,
     with the budget it was searched for) for ``--train-steps`` steps, the default recipe;
  2. ``evaluate.py student=<train>/student prune_vocab=true``: the trained student (PyTorch fp32) and its
     vocabulary-pruned copy beside the teacher (this ``report.json`` is the one the model card quotes);
  3. ``deploy.py student=<train>/student``: the bundle (pruned student, ONNX fp32 + int8, latency card);
  4. ``evaluate.py student=<bundle> onnx=true``: the bundle's own forms scored and timed (ONNX of the pruned
     student, fp32 and int8).
Prints the table (size on disk vs the teacher's fp32 weights, speed-up beside the teacher, macro retention).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ARCH = """num_hidden_layers: 2
hidden_size: 384
num_attention_heads: 12
intermediate_size: 512
hidden_act: gelu
searched_for:
  budget: {name: cpu_7x, speedup: 7.0, max_ms: null, margin: 0.1, alpha: -0.07, hard: true, profile: {device: cpu,
    batch_size: 1, seq_len: 128, threads: 1, runtime: pytorch, warmup: 3, repeats: 15, min_seconds: 0.0}}
  note: the headline architecture (bench/RESULTS.md, Headline), with its cpu_7x search budget
"""


def run(cmd: list[str], done: Path) -> None:
    if done.exists():
        print(f"# skip (exists: {done})", flush=True)
        return
    print("$", shlex.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def row(form: str, size: int, teacher_bytes: int, speedup: float | None, retention: float | None) -> str:
    cells = [form, f"{size / 1e6:.1f} MB", f"{size / teacher_bytes:.3f}",
             "-" if speedup is None else f"{speedup:.2f}x", "-" if retention is None else f"{retention:.3f}"]
    return "| " + " | ".join(cells) + " |"


def table(student_eval: Path, bundle: Path, bundle_eval: Path) -> str:
    student: dict[str, Any] = json.loads((student_eval / "report.json").read_text())
    own: dict[str, Any] = json.loads((bundle_eval / "report.json").read_text())
    card = json.loads((bundle / "latency_card.json").read_text())
    teacher_bytes = student["teacher"]["bytes"]
    pruned = student["pruned"]
    lines = ["| form | size on disk | / teacher fp32 | speed-up (1 thread, 128 tokens) | retention (macro) |",
             "|---|---|---|---|---|",
             row("teacher, PyTorch fp32", teacher_bytes, teacher_bytes, 1.0, 1.0),
             row("student, PyTorch fp32", student["student"]["bytes"], teacher_bytes,
                 student["latency"]["cpu"]["speedup"], student["retention"]["macro"]),
             row("student, vocabulary pruned", pruned["student"]["bytes"], teacher_bytes,
                 pruned["latency"]["cpu"]["speedup"], pruned["retention"]["macro"])]
    for kind, name in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
        lines.append(row(f"bundle, ONNX {kind} (pruned)", (bundle / name).stat().st_size, teacher_bytes,
                         own["onnx"]["latency"][kind]["speedup"], own["onnx"]["retention"][kind]["macro"]))
    fixed, real = card["fixed_length"], card["real_length"]
    lines += ["", f"Latency card of the bundle (PyTorch, pruned): {fixed['speedup']:.2f}x "
              f"[{fixed['speedup_ci95'][0]:.2f}, {fixed['speedup_ci95'][1]:.2f}] at {fixed['seq_len']} tokens, "
              f"{real['speedup']:.2f}x [{real['speedup_ci95'][0]:.2f}, {real['speedup_ci95'][1]:.2f}] at the real "
              f"median length ({real['seq_len']} tokens); meets its cpu_7x budget: {card.get('meets_budget')}; "
              f"student {fixed['student']['gflops']:.1f} GFLOP/s, teacher {fixed['teacher']['gflops']:.1f}, "
              f"matmul peak {card['matmul_peak_gflops']:.1f} GFLOP/s."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="the headline student's bundle table")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "bundle_run")
    parser.add_argument("--train-steps", type=int, default=600)
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    arch = out / "headline_arch.yaml"
    if not arch.exists():
        arch.write_text(ARCH)
    py, train, bundle, bundle_eval = sys.executable, out / "train", out / "bundle", out / "bundle_eval"
    student_eval = out / "student_eval"
    run([py, "train.py", f"arch_file={arch}", f"trainer.max_steps={args.train_steps}",
         f"trainer.val_check_interval={args.train_steps}", "logger=csv", f"hydra.run.dir={train}"],
        train / "student" / "config.json")
    run([py, "evaluate.py", f"student={train / 'student'}", "prune_vocab=true", f"hydra.run.dir={student_eval}"],
        student_eval / "report.json")
    run([py, "deploy.py", f"student={train / 'student'}", f"bundle.out_dir={bundle}",
         f"bundle.report={student_eval / 'report.json'}", f"hydra.run.dir={out / 'deploy'}"], bundle / "latency_card.json")
    run([py, "evaluate.py", f"student={bundle}", "onnx=true", f"hydra.run.dir={bundle_eval}"], bundle_eval / "report.json")
    print(table(student_eval, bundle, bundle_eval))


if __name__ == "__main__":
    main()
