"""The latency card of a bundle: on what machine, under which runtime and settings, how fast the student ran
beside its teacher, how close it came to the machine's compute floor, and whether it meets its budget.

Everything is measured in the same run: the student and the teacher interleaved
(:func:`kdnas.latency.measure.measure_pair`) under the budget's profile at its fixed sequence length and at
the median length of real texts; medians and p90 with bootstrap 95% intervals over the timed passes; the
achieved GFLOP/s of each model next to the GFLOP/s of a large matrix multiply under the same thread count.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import bootstrap
from transformers import PretrainedConfig, PreTrainedModel

from kdnas.latency.measure import LatencyResult, measure_pair
from kdnas.latency.profile import LatencyProfile
from kdnas.utils.torch_context import torch_threads

#: instruction-set extensions worth knowing for inference speed (those the CPU reports are listed)
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
             "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


def machine() -> dict[str, Any]:
    """CPU model, cores, ISA flags, memory, OS and library versions of this process's machine."""
    info = _proc_fields("/proc/cpuinfo", ("model name", "flags", "Features"))
    flags = set((info.get("flags") or info.get("Features") or "").split())
    mem = _proc_fields("/proc/meminfo", ("MemTotal",)).get("MemTotal", "")
    try:
        import onnxruntime

        ort_version: str | None = onnxruntime.__version__
    except ImportError:  # pragma: no cover - in requirements.txt
        ort_version = None
    import transformers

    return {
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "isa": [f for f in ISA_FLAGS if f in flags],
        "memory_gib": round(int(mem.split()[0]) / 2**20, 1) if mem.split() else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort_version,
        "transformers": transformers.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _proc_fields(path: str, keys: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() in keys and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def encoder_flops(config: PretrainedConfig, batch_size: int, seq_len: int) -> float:
    """Floating-point operations of one forward pass of a BERT-style encoder (2 per multiply-add).

    Per layer and sequence: Q, K, V and output projections ``4 T H^2``, attention scores and context
    ``2 T^2 H``, feed-forward ``2 T H F`` multiply-adds; embeddings, norms and softmax are left out.
    """
    t, h, f = seq_len, int(config.hidden_size), int(config.intermediate_size)
    per_layer = 4 * t * h * h + 2 * t * t * h + 2 * t * h * f
    return 2.0 * batch_size * int(config.num_hidden_layers) * per_layer


def matmul_peak_gflops(threads: int, n: int = 1024, repeats: int = 10, clock: Callable[[], float] = time.perf_counter
                       ) -> float:
    """GFLOP/s of an ``n x n`` fp32 matrix multiply on ``threads`` CPU threads (median of ``repeats``)."""
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=generator), torch.randn(n, n, generator=generator)
    times = []
    with torch_threads(threads), torch.no_grad():
        torch.mm(a, b)  # warm-up
        for _ in range(repeats):
            start = clock()
            torch.mm(a, b)
            times.append(clock() - start)
    return 2.0 * n**3 / float(np.median(times)) / 1e9


def interval(samples: Sequence[float], statistic: Callable[..., Any] = np.median) -> list[float]:
    """A bootstrap 95% interval (percentile method, 2,000 resamples, fixed seed) of ``statistic``."""
    data = np.asarray(samples, dtype=float)
    if data.size < 2 or np.ptp(data) == 0:
        value = float(statistic(data)) if data.size else float("nan")
        return [value, value]
    ci = bootstrap((data,), statistic, n_resamples=2000, confidence_level=0.95, method="percentile",
                   random_state=np.random.default_rng(0)).confidence_interval
    return [float(ci.low), float(ci.high)]


def _speedup_interval(student: LatencyResult, teacher: LatencyResult) -> list[float]:
    s, t = np.asarray(student.samples_ms), np.asarray(teacher.samples_ms)
    if s.size < 2 or t.size < 2:
        return [teacher.median_ms / student.median_ms] * 2
    ci = bootstrap((t, s), lambda a, b: np.median(a) / np.median(b), n_resamples=2000, confidence_level=0.95,
                   method="percentile", vectorized=False, random_state=np.random.default_rng(0)).confidence_interval
    return [float(ci.low), float(ci.high)]


def _side(result: LatencyResult, flops: float) -> dict[str, Any]:
    return {"median_ms": result.median_ms, "median_ms_ci95": interval(result.samples_ms),
            "p90_ms": result.p90_ms, "p90_ms_ci95": interval(result.samples_ms, lambda x: np.quantile(x, 0.9)),
            "cv": result.cv, "passes": result.n, "gflop_per_pass": flops / 1e9,
            "gflops": flops / 1e9 / (result.median_ms / 1e3)}


def timing(student: PreTrainedModel, teacher: PreTrainedModel, profile: LatencyProfile) -> dict[str, Any]:
    """Student and teacher timed side by side under ``profile``, with intervals and achieved GFLOP/s."""
    pair = measure_pair(student, teacher, profile)
    b, t = profile.batch_size, profile.tokens_per_sequence  # a corpus profile: its median input length
    return {"seq_len": t, "student": _side(pair.student, encoder_flops(student.config, b, t)),
            "teacher": _side(pair.teacher, encoder_flops(teacher.config, b, t)),
            "speedup": pair.speedup, "speedup_ci95": _speedup_interval(pair.student, pair.teacher)}


def latency_card(
    student: PreTrainedModel,
    teacher: PreTrainedModel,
    profile: LatencyProfile,
    real_seq_len: int | None,
    target_speedup: float | None,
    budget: dict[str, Any],
) -> dict[str, Any]:
    """The card: machine, settings, the fixed-length and real-length timings, the compute floor, the verdict.

    Args:
        profile: the budget's latency profile (runtime, device, threads, batch, fixed length; or a corpus
            profile, whose real texts are then the card's ``fixed_length`` timing).
        real_seq_len: the median token length of real texts (None: not timed at real length).
        target_speedup: the speed-up the budget asks of the student (None: no verdict).
        budget: the budget as recorded (where it came from, its name and numbers), copied into the card.
    """
    fixed = timing(student, teacher, profile)
    real_profile = dataclasses.replace(profile, seq_len=real_seq_len, inputs=()) if real_seq_len else None
    real = timing(student, teacher, real_profile) if real_profile else None
    card: dict[str, Any] = {
        "machine": machine(),
        "profile": profile.to_dict(),
        "fixed_length": fixed,
        "real_length": real,
        "matmul_peak_gflops": matmul_peak_gflops(profile.threads) if profile.device == "cpu" else None,
        "budget": budget,
    }
    if target_speedup is not None:
        card["meets_budget"] = bool(fixed["speedup"] >= target_speedup)
        card["measured_speedup"] = fixed["speedup"]
        card["target_speedup"] = target_speedup
    return card
