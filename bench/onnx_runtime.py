"""PyTorch vs ONNX Runtime (fp32, int8) latency of the teacher and two students, and ONNX fidelity.

Every (model, runtime) pair is prepared once through the latency runtimes of
:data:`kdnas.latency.runtimes.RUNTIMES` (``pytorch``, ``onnxruntime``, ``onnxruntime_int8``: the same
runners that the search uses), then all pairs are timed **round-robin in blocks** of ``--block`` passes
until each has ``--repeats`` timed passes, so that drifts of a shared machine's load hit every pair alike.
Prints a markdown table: median and p90 ms, speed-up against the teacher on the same runtime and against
the teacher under PyTorch. Then the fidelity of each export against PyTorch on
:data:`kdnas.deploy.verify.CHECK_TEXTS` (:func:`kdnas.deploy.verify.check_onnx`), with int8 both per channel
(the default) and per tensor.

The students are built from the teacher (``build_student``, teacher-initialised, not distilled): their
latency is what matters here, and fidelity is measured against their own PyTorch outputs.

Usage::

    .venv/bin/python bench/onnx_runtime.py                         # me5-small + L2-H256-A4-F512, L4-H256-A4-F1024
    .venv/bin/python bench/onnx_runtime.py --archs L6-H384-A6-F1536 --repeats 100 --threads 2
    .venv/bin/python bench/onnx_runtime.py --skip-fidelity --json out.json
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdnas.deploy.verify import check_onnx
from kdnas.latency.measure import LatencyResult, make_inputs
from kdnas.latency.profile import LatencyProfile
from kdnas.latency.runtimes import resolve_runtime
from kdnas.models.arch import ArchSpec
from kdnas.models.onnx import FP32_FILENAME, INT8_FILENAME, export_onnx, quantize_onnx
from kdnas.models.student import build_student
from kdnas.models.teacher import load_me5_small_teacher
from kdnas.utils.io import write_json
from kdnas.utils.torch_context import torch_threads

RUNTIMES = ("pytorch", "onnxruntime", "onnxruntime_int8")
_ARCH_RE = re.compile(r"^L(\d+)-H(\d+)-A(\d+)-F(\d+)(?:-([a-z0-9_]+))?$")


def parse_arch(text: str) -> ArchSpec:
    """``L4-H256-A4-F1024[-gelu]`` -> :class:`ArchSpec` (activation defaults to gelu)."""
    match = _ARCH_RE.match(text)
    if match is None:
        raise SystemExit(f"--archs: {text!r} is not of the form L4-H256-A4-F1024[-gelu]")
    layers, hidden, heads, ffn = (int(g) for g in match.groups()[:4])
    return ArchSpec(layers, hidden, heads, ffn, match.group(5) or "gelu")


def time_round_robin(
    models: list[tuple[str, nn.Module]], profile: LatencyProfile, runtimes: tuple[str, ...], block: int
) -> dict[tuple[str, str], LatencyResult]:
    """Prepare every (model, runtime) runner, warm each up, then time them in alternating blocks."""
    keys = [(name, runtime) for name, _ in models for runtime in runtimes]
    samples: dict[tuple[str, str], list[int]] = {key: [] for key in keys}
    with torch_threads(profile.threads), ExitStack() as stack:
        runs = {}
        for name, model in models:
            inputs = [make_inputs(profile.batch_size, profile.seq_len, int(model.config.vocab_size))]  # one batch
            for runtime in runtimes:
                start = time.perf_counter()
                factory = resolve_runtime(runtime)
                runs[(name, runtime)] = stack.enter_context(factory(model, profile, inputs))
                print(f"  prepared {name} / {runtime} in {time.perf_counter() - start:.1f} s", flush=True)
        for run in runs.values():
            for _ in range(profile.warmup):
                run(0)
        rounds = 0
        while any(len(s) < profile.repeats for s in samples.values()):
            order = keys if rounds % 2 == 0 else keys[::-1]
            for key in order:
                for _ in range(block):
                    start_ns = time.perf_counter_ns()
                    runs[key](0)
                    samples[key].append(time.perf_counter_ns() - start_ns)
            rounds += 1
    return {key: LatencyResult.from_samples(s, profile) for key, s in samples.items()}


def fidelity(name: str, model: nn.Module, tokenizer: Any, workdir: Path) -> list[dict[str, Any]]:
    """check_onnx of the fp32 export and of int8 per channel / per tensor."""
    out = workdir / name
    fp32 = export_onnx(model, out / FP32_FILENAME)
    rows = [{"model": name, "export": "fp32", **check_onnx(model, fp32, tokenizer, int8=False)}]
    for per_channel in (True, False):
        int8 = quantize_onnx(fp32, out / INT8_FILENAME, per_channel=per_channel)
        label = "int8 per-channel" if per_channel else "int8 per-tensor"
        rows.append({"model": name, "export": label, **check_onnx(model, int8, tokenizer, int8=True)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["L2-H256-A4-F512", "L4-H256-A4-F1024"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=50, help="timed passes per (model, runtime)")
    parser.add_argument("--block", type=int, default=5, help="passes per block of the round-robin")
    parser.add_argument("--skip-fidelity", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    profile = LatencyProfile(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        threads=args.threads,
        warmup=args.warmup,
        repeats=args.repeats,
    )
    import onnxruntime

    load = os.getloadavg()
    print(
        f"torch {torch.__version__}; onnxruntime {onnxruntime.__version__}; {platform.processor() or platform.machine()}; "
        f"cpus {os.cpu_count()}; load avg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    fields = {k: v for k, v in profile.to_dict().items() if k != "runtime"}
    print(f"profile {fields}; runtimes {', '.join(RUNTIMES)}; block {args.block}")

    teacher = load_me5_small_teacher()
    models: list[tuple[str, nn.Module]] = [("teacher me5-small (L12-H384-A12-F1536)", teacher.model)]
    for text in args.archs:
        arch = parse_arch(text)
        models.append((f"student {arch.short_name}", build_student(arch, teacher.model).eval()))

    start = time.perf_counter()
    results = time_round_robin(models, profile, RUNTIMES, args.block)
    print(f"(latency: {time.perf_counter() - start:.0f} s)\n")

    teacher_name = models[0][0]
    print(
        "| model | runtime | median ms | p90 ms | cv | speed-up vs teacher (same runtime) | speed-up vs teacher pytorch |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, _ in models:
        for runtime in RUNTIMES:
            r = results[(name, runtime)]
            same = results[(teacher_name, runtime)].median_ms / r.median_ms
            vs_pt = results[(teacher_name, "pytorch")].median_ms / r.median_ms
            print(
                f"| {name} | {runtime} | {r.median_ms:.2f} | {r.p90_ms:.2f} | {r.cv:.2f} | {same:.2f}x | {vs_pt:.2f}x |"
            )
    load = os.getloadavg()
    print(f"\nload avg after timing {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    rows: list[dict[str, Any]] = []
    if not args.skip_fidelity:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="kdnas-onnx-bench-") as tmp:
            for i, (name, model) in enumerate(models):
                label = "teacher me5-small" if i == 0 else name.removeprefix("student ")
                rows += fidelity(label, model, teacher.tokenizer, Path(tmp))
        print(
            f"\nFidelity vs PyTorch on CHECK_TEXTS ({rows[0]['shape'][0]} sentences, padded to {rows[0]['shape'][1]} tokens)\n"
        )
        print("| model | export | max abs diff | output scale | cosine min | cosine mean | passed |")
        print("|---|---|---:|---:|---:|---:|---|")
        for row in rows:
            print(
                f"| {row['model']} | {row['export']} | {row['max_abs_diff']:.2e} | {row['output_scale']:.2f} | "
                f"{row['cosine_min']:.5f} | {row['cosine_mean']:.5f} | {row['passed']} |"
            )
        print(f"(fidelity: {time.perf_counter() - start:.0f} s)")
    if args.json:
        payload = {
            "profile": profile.to_dict(),
            "latency": [
                {"model": name, "runtime": runtime, **results[(name, runtime)].to_dict()}
                for name, _ in models
                for runtime in RUNTIMES
            ],
            "fidelity": rows,
        }
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
