"""``evaluate.py onnx=true``: the student exported to ONNX (fp32 and int8), timed and scored under ONNX Runtime.

Wiring of :mod:`kdnas.deploy` (export, the ONNX encoder) and :class:`kdnas.evaluate.compare.Comparison`
(side-by-side timing, scoring, retention): ``report["onnx"]``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from kdnas.evaluate.compare import Comparison
from kdnas.evaluate.embed import resolve_threads
from kdnas.evaluate.retention import retention

log = logging.getLogger(__name__)

#: report key -> the latency runtime that times it
ONNX_RUNTIMES = {"fp32": "onnxruntime", "int8": "onnxruntime_int8"}


def evaluate_onnx(
    comparison: Comparison,
    student_dir: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    out_dir: Path,
) -> dict[str, Any]:
    """Export the student to ``out_dir`` (fp32 and int8), time both models under ONNX Runtime, score the student.

    Latency: teacher and student side by side under the budget's profile with ``runtime=onnxruntime`` /
    ``onnxruntime_int8`` (on the CPU when the profile's device is CUDA but this ONNX Runtime has no CUDA
    provider). Scores: the exported files in an ``OnnxEncoder``, embedded on the CPU in float32 (the
    graph's own precision applies); retention against the PyTorch teacher's scores.
    """
    import onnxruntime as ort

    from kdnas.deploy.bundle import export_student
    from kdnas.deploy.onnx_encoder import OnnxEncoder

    started = time.perf_counter()
    export = export_student(student_dir, out_dir, int8=True)
    log.info("ONNX export: fp32 check %s, int8 check %s (%.1f s)", export["fp32"]["passed"],
             export["int8"]["passed"], time.perf_counter() - started)  # fmt: skip
    device = comparison.profile.device
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        device = "cpu"
    latency = {kind: comparison.timed_pair(model, runtime=rt, device=device) for kind, rt in ONNX_RUNTIMES.items()}
    suite = dataclasses.replace(comparison.suite, device="cpu", dtype="float32")
    threads = resolve_threads(suite.threads) or torch.get_num_threads()
    scores: dict[str, Any] = {}
    for kind in ONNX_RUNTIMES:
        encoder = OnnxEncoder(export["files"][kind], model.config, threads=threads)
        scores[kind] = comparison.score(f"student (ONNX {kind})", encoder, tokenizer, suite=suite)
        del encoder
    return {
        "export": export,
        "latency": latency,
        "scores": scores,
        "retention": {kind: retention(s, comparison.teacher_scores) for kind, s in scores.items()},
    }
