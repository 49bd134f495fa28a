"""How stable is a latency measurement? Measure the same model N times and compare the medians.

The search ranks candidates by latency, so a measurement must agree with itself. This script repeats
:func:`kdnas.latency.measure.measure_latency` N times on one model and prints median / p90 / cv per
repetition, then the maximum relative deviation of a repetition's median from the overall median (the
median of the medians). Run it on an idle machine; the load average is printed for context.

``--sanity`` also runs the wall-clock comparisons that are too noisy for the test suite on a shared
machine (they were tests once): a 6 x 256 BertModel is well over 5x slower than a 1 x 32 one (about 50x
on an idle machine), three measurements of one model agree within 25%, one model timed against itself
(``measure_pair``) gives a speed-up within 0.8-1.25, and a 1 x 32 student is over 2x faster than a
4 x 256 teacher side by side.

Usage::

    .venv/bin/python bench/latency_stability.py                       # BertModel 4 layers x 384
    .venv/bin/python bench/latency_stability.py --threads 2 --reps 20
    .venv/bin/python bench/latency_stability.py --model PATH           # also a saved model (e.g. teacher)
    .venv/bin/python bench/latency_stability.py --sanity --reps 3      # plus the wall-clock comparisons
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn
from transformers import AutoModel, BertConfig, BertModel

from kdnas.latency.measure import LatencyResult, measure_latency, measure_pair
from kdnas.latency.profile import LatencyProfile


def build_bert(layers: int, hidden: int, vocab_size: int, head_dim: int = 64) -> BertModel:
    """A randomly initialised BertModel: heads = hidden / head_dim, FFN = 4 x hidden."""
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // head_dim),
        intermediate_size=4 * hidden,
    )
    torch.manual_seed(0)
    return BertModel(config)


def stability(model: nn.Module, profile: LatencyProfile, reps: int) -> list[LatencyResult]:
    return [measure_latency(model, profile) for _ in range(reps)]


def report(name: str, results: list[LatencyResult]) -> float:
    """Print the table; return the max relative deviation from the overall median."""
    overall = statistics.median(r.median_ms for r in results)
    print(f"\n{name}")
    print(f"{'rep':>4} {'median_ms':>10} {'p90_ms':>10} {'cv':>7} {'n':>5} {'dev':>8}")
    for i, r in enumerate(results, 1):
        dev = (r.median_ms - overall) / overall
        print(f"{i:>4} {r.median_ms:>10.3f} {r.p90_ms:>10.3f} {r.cv:>7.3f} {r.n:>5} {dev:>+8.2%}")
    max_dev = max(abs(r.median_ms - overall) / overall for r in results)
    spread = (max(r.median_ms for r in results) - min(r.median_ms for r in results)) / overall
    print(f"overall median {overall:.3f} ms; max |deviation| {max_dev:.2%}; max-min spread {spread:.2%}")
    return max_dev


def sanity() -> bool:
    """The wall-clock comparisons (see the module docstring); prints each, returns whether all held."""

    def bert(layers: int, hidden: int) -> BertModel:  # the test suite's small BERTs (1000 tokens, 32-wide heads)
        return build_bert(layers, hidden, vocab_size=1000, head_dim=32)

    checks: list[tuple[str, float, bool]] = []
    profile = LatencyProfile(seq_len=128, warmup=2, repeats=5)
    ratio = measure_latency(bert(6, 256), profile).median_ms / measure_latency(bert(1, 32), profile).median_ms
    checks.append(("6x256 / 1x32 median (> 5)", ratio, ratio > 5))

    model = bert(2, 128)
    repeated = LatencyProfile(seq_len=128, warmup=3, repeats=15, min_seconds=0.2)
    m = sorted(measure_latency(model, repeated).median_ms for _ in range(3))
    closest = min(m[1] / m[0], m[2] / m[1])  # a burst of load can spoil one whole measurement
    checks.append(("closest two of three medians, ratio (< 1.25)", closest, closest < 1.25))

    pair = measure_pair(model, model, LatencyProfile(seq_len=128, warmup=3, repeats=20), block_size=2)
    checks.append(("one model against itself, speed-up (0.8-1.25)", pair.speedup, 0.8 < pair.speedup < 1.25))

    pair = measure_pair(bert(1, 32), bert(4, 256), LatencyProfile(seq_len=128, warmup=1, repeats=4))
    checks.append(("1x32 beside 4x256, speed-up (> 2)", pair.speedup, pair.speedup > 2))

    print("\nsanity checks")
    for name, value, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {value:.3f}")
    return all(ok for _, _, ok in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4, help="layers of the built BertModel")
    parser.add_argument("--hidden", type=int, default=384, help="hidden size of the built BertModel")
    parser.add_argument("--vocab-size", type=int, default=30522, help="vocabulary of the built BertModel")
    parser.add_argument(
        "--model", help="also measure a saved Hugging Face model directory (e.g. the teacher)"
    )
    parser.add_argument("--reps", type=int, default=10, help="repetitions of the whole measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--min-seconds", type=float, default=0.0)
    parser.add_argument("--sanity", action="store_true", help="also run the wall-clock comparisons")
    args = parser.parse_args()

    profile = LatencyProfile(
        device=args.device,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        threads=args.threads,
        warmup=args.warmup,
        repeats=args.repeats,
        min_seconds=args.min_seconds,
    )
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"torch {torch.__version__}; cpus {os.cpu_count()}; load avg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"profile {profile.to_dict()}; repetitions {args.reps}")

    models: list[tuple[str, nn.Module]] = [
        (
            f"BertModel {args.layers} layers x {args.hidden}",
            build_bert(args.layers, args.hidden, args.vocab_size),
        )
    ]
    if args.model:
        models.append((args.model, AutoModel.from_pretrained(args.model)))
    for name, model in models:
        start = time.perf_counter()
        results = stability(model, profile, args.reps)
        report(name, results)
        print(f"({time.perf_counter() - start:.1f} s)")
    if args.sanity and not sanity():
        raise SystemExit(1)


if __name__ == "__main__":
    main()
