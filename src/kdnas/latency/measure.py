"""Inference latency of an encoder: warm up, then time single forward passes.

:func:`measure_latency` times one model under a :class:`~kdnas.latency.profile.LatencyProfile`;
:func:`measure_pair` times a student and its teacher in alternating blocks, so that slow drifts of a
shared machine's load hit both alike, and reports the speedup.

How a forward pass is executed is the runtime's business (:mod:`kdnas.latency.runtimes`: a runner factory
per runtime name, :func:`~kdnas.latency.runtimes.pytorch.pytorch_runner` by default). Timing, threads and
statistics are shared by all runtimes.

Inputs: random token ids of ``profile.seq_len`` tokens, or for a corpus profile (``seq_len="corpus"``)
its real texts in a fixed cycle: pass ``k`` runs batch ``k mod len(batches)`` (``batch_size`` consecutive
texts padded to the longest, with an attention mask), whole cycles are timed (every text weighs the same in
the median), and in :func:`measure_pair` the student's ``k``-th timed pass and the teacher's see the same
texts. Per-pass samples then vary with the texts' lengths, not only with noise.

Timing uses :data:`_clock` (``time.perf_counter_ns``, monotonic), read right before and right after
each timed pass; tests replace it with a fake clock.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from kdnas.errors import ConfigError
from kdnas.latency.profile import LatencyProfile
from kdnas.latency.runtimes import Runner, resolve_runtime
from kdnas.models.encoder import FIRST_REGULAR_TOKEN_ID
from kdnas.utils.checks import check_int
from kdnas.utils.torch_context import torch_threads

#: Monotonic clock in nanoseconds; module-level so that tests can substitute a fake one.
_clock: Callable[[], int] = time.perf_counter_ns

T = TypeVar("T")

_INPUT_SEED = 0  # the random token ids are the same in every measurement


@dataclass(frozen=True)
class LatencyResult:
    """Statistics of the timed forward passes of one model.

    ``p90_ms`` interpolates linearly between order statistics (NumPy's default); ``cv`` is the population
    standard deviation over the mean (0 for a single pass).
    """

    median_ms: float
    p90_ms: float
    mean_ms: float
    cv: float  # coefficient of variation: std / mean
    n: int  # timed passes
    profile: dict[str, Any]  # LatencyProfile.to_dict() of the measurement
    samples_ms: tuple[float, ...] = ()  # every timed pass, sorted (for intervals)

    @classmethod
    def from_samples(cls, samples_ns: Sequence[int], profile: LatencyProfile) -> LatencyResult:
        """Summarise per-pass durations in nanoseconds."""
        if not samples_ns:
            raise ValueError("no timed passes to summarise")
        ms = sorted(s / 1e6 for s in samples_ns)
        mean = statistics.fmean(ms)
        cv = statistics.pstdev(ms, mu=mean) / mean if len(ms) > 1 and mean > 0 else 0.0
        return cls(
            median_ms=statistics.median(ms),
            p90_ms=float(np.quantile(ms, 0.9, method="linear")),
            mean_ms=mean,
            cv=cv,
            n=len(ms),
            profile=profile.to_dict(),
            samples_ms=tuple(ms),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` (the profile nested as a dict), e.g. for a callback's ``state_dict``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LatencyResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**values, "profile": dict(values["profile"]), "samples_ms": tuple(values.get("samples_ms", ()))})


@dataclass(frozen=True)
class PairResult:
    """A student and its teacher measured side by side; ``speedup`` = teacher median / student median."""

    student: LatencyResult
    teacher: LatencyResult
    speedup: float

    def to_dict(self) -> dict[str, Any]:
        return {"student": self.student.to_dict(), "teacher": self.teacher.to_dict(), "speedup": self.speedup}


def measure_latency(
    model: nn.Module, profile: LatencyProfile, vocab_size: int | None = None
) -> LatencyResult:
    """Time ``model``'s forward pass on random token ids, or on a corpus profile's real texts.

    Fixed length: ``input_ids`` drawn uniformly from ``[5, vocab_size)`` (fixed seed) and an all-ones
    ``attention_mask``, both ``(batch_size, seq_len)``. Corpus: see the module docstring; ``repeats`` is
    rounded up to whole cycles through the inputs. The model runs in eval mode under
    ``torch.inference_mode()`` with ``torch.set_num_threads(profile.threads)``; ``profile.warmup``
    untimed passes come first, then at least ``profile.repeats`` timed ones (more while less than
    ``profile.min_seconds`` was spent). The thread count and every submodule's training flag are restored
    afterwards. A model already on ``profile.device`` is measured in place; otherwise a copy is moved
    there and the original is left alone.

    Args:
        model: A module called as ``model(input_ids=..., attention_mask=...)`` (any Hugging Face encoder).
        profile: What to run on and how often.
        vocab_size: Upper bound of the token ids; ``None`` reads ``model.config.vocab_size``.

    Returns:
        The statistics of the timed passes.

    Raises:
        ConfigError: If the vocabulary size is unknown or too small, ``seq_len`` (or the longest real input)
            exceeds the model's position embeddings, or a corpus profile has no inputs.
    """
    batches = _batches_for(model, profile, vocab_size)
    cycle = len(batches)
    factory = resolve_runtime(profile.runtime)
    with torch_threads(profile.threads), factory(model, profile, batches) as run:
        for k in range(profile.warmup):
            run(k)
        samples = _time(run, 0, _whole_cycles(profile.repeats, cycle))
        min_ns = profile.min_seconds * 1e9
        total = sum(samples)
        while total < min_ns or len(samples) % cycle:
            samples += _time(run, len(samples), 1)
            total += samples[-1]
    return LatencyResult.from_samples(samples, profile)


def measure_pair(
    student: nn.Module,
    teacher: nn.Module,
    profile: LatencyProfile,
    vocab_size: int | None = None,
    block_size: int = 5,
) -> PairResult:
    """Time a student and a teacher in alternating blocks of ``block_size`` passes.

    Both warm up first; then blocks alternate, the order flipping each round (S T, T S, S T, ...), until
    each model has ``profile.repeats`` timed passes (whole cycles of a corpus profile's inputs) and
    ``profile.min_seconds`` of timed work. Both models always have the same number of timed passes, so on a
    corpus profile the student's ``k``-th pass and the teacher's run the same texts. Each model draws its
    random token ids from its own vocabulary unless ``vocab_size`` is given (real ids beyond a model's
    vocabulary, e.g. a vocabulary-pruned student's, are folded into it: latency depends on the lengths).

    Returns:
        Both results and ``speedup = teacher.median_ms / student.median_ms``.

    Raises:
        ConfigError: As :func:`measure_latency`, or if ``block_size`` < 1.
    """
    check_int("measure_pair: block_size", block_size, minimum=1)
    models = (student, teacher)
    batches = [_batches_for(m, profile, vocab_size) for m in models]
    cycle = len(batches[0])  # the same for both: one batch, or the corpus inputs in batches
    need = _whole_cycles(profile.repeats, cycle)
    factory = resolve_runtime(profile.runtime)
    min_ns = profile.min_seconds * 1e9
    samples: tuple[list[int], list[int]] = ([], [])
    with torch_threads(profile.threads), ExitStack() as stack:
        runs = [stack.enter_context(factory(m, profile, x)) for m, x in zip(models, batches, strict=True)]
        for run in runs:
            for k in range(profile.warmup):
                run(k)

        def done(i: int) -> bool:
            n = len(samples[i])
            return n >= need and n % cycle == 0 and sum(samples[i]) >= min_ns

        round_ = 0
        while not (done(0) and done(1)):
            for i in (0, 1) if round_ % 2 == 0 else (1, 0):
                n = len(samples[i])
                # cap the block at what is missing (to `need`, then to the end of a cycle), so that n == need
                # when min_seconds is 0; both models get the same counts, round after round
                missing = need - n if n < need else -n % cycle
                samples[i].extend(_time(runs[i], n, min(block_size, missing) if missing > 0 else block_size))
            round_ += 1
    s, t = (LatencyResult.from_samples(x, profile) for x in samples)
    return PairResult(student=s, teacher=t, speedup=t.median_ms / s.median_ms)


def steadiest(time_once: Callable[[], T], spread: Callable[[T], float], max_cv: float | None,
              retimes: int) -> tuple[T, int]:
    """Time once; while the reading's ``spread`` (a coefficient of variation) exceeds ``max_cv``, time again, at
    most ``retimes`` more times. Returns the steadiest reading and how many were taken (``max_cv=None``: one).
    A busy moment of the machine inflates one timing's spread, rarely three in a row."""
    best, taken = time_once(), 1
    while max_cv is not None and spread(best) > max_cv and taken <= retimes:
        again = time_once()
        taken += 1
        if spread(again) < spread(best):
            best = again
    return best, taken


def pair_spread(pair: PairResult) -> float:
    """The larger coefficient of variation of a side-by-side timing: either side's unsteadiness moves the ratio."""
    return max(pair.student.cv, pair.teacher.cv)


def make_inputs(
    batch_size: int, seq_len: int, vocab_size: int, seed: int = _INPUT_SEED
) -> dict[str, torch.Tensor]:
    """Random ``input_ids`` in ``[5, vocab_size)`` and an all-ones ``attention_mask``, both (B, T), on CPU."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(FIRST_REGULAR_TOKEN_ID, vocab_size, (batch_size, seq_len), generator=generator)  # (B, T)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def _time(run: Runner, first: int, count: int) -> list[int]:
    """Durations in nanoseconds of ``count`` passes of ``run``, on batches ``first``, ``first + 1``, ..."""
    out = []
    for k in range(first, first + count):
        start = _clock()
        run(k)
        out.append(_clock() - start)
    return out


def _whole_cycles(repeats: int, cycle: int) -> int:
    """``repeats`` rounded up to a multiple of ``cycle`` (at least one cycle)."""
    return -(-repeats // cycle) * cycle


def _batches_for(model: nn.Module, profile: LatencyProfile, vocab_size: int | None) -> list[dict[str, torch.Tensor]]:
    """The batches a model is timed on: one of random ids, or a corpus profile's inputs in batches."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    config = getattr(model, "config", None)
    if vocab_size is None:
        vocab_size = getattr(config, "vocab_size", None)
        if vocab_size is None:
            raise ConfigError(
                f"{type(model).__name__} has no config.vocab_size: pass vocab_size= to the latency measurement"
            )
    check_int("vocab_size", vocab_size, minimum=FIRST_REGULAR_TOKEN_ID + 1)
    max_positions = getattr(config, "max_position_embeddings", None)
    inputs = profile.require_inputs() if profile.is_corpus else ()
    longest = profile.max_tokens
    if isinstance(max_positions, int) and longest > max_positions:
        what = f"seq_len={longest}" if not inputs else f"seq_len='corpus' has an input of {longest} tokens, which"
        raise ConfigError(
            f"LatencyProfile.{what} exceeds the model's max_position_embeddings={max_positions}: use a shorter "
            "seq_len (or real inputs truncated to max_length)"
        )
    if not inputs:
        return [make_inputs(profile.batch_size, longest, vocab_size)]
    pad = getattr(config, "pad_token_id", None)
    return corpus_batches(inputs, profile.batch_size, vocab_size, pad if isinstance(pad, int) else 0)


def corpus_batches(
    inputs: Sequence[Sequence[int]], batch_size: int, vocab_size: int, pad_id: int = 0
) -> list[dict[str, torch.Tensor]]:
    """``inputs`` in batches of ``batch_size`` consecutive ones (the last wraps round to the first), each
    padded to its longest with ``pad_id`` and masked; ids >= ``vocab_size`` are folded into
    ``[5, vocab_size)`` (a vocabulary-pruned student: the lengths are what latency depends on)."""
    span = vocab_size - FIRST_REGULAR_TOKEN_ID
    batches = []
    for start in range(0, len(inputs), batch_size):
        rows = [inputs[(start + k) % len(inputs)] for k in range(batch_size)]
        width = max(len(r) for r in rows)
        ids = torch.full((batch_size, width), pad_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros((batch_size, width), dtype=torch.long)  # (B, T)
        for row, seq in enumerate(rows):
            values = torch.tensor(seq, dtype=torch.long)
            folded = FIRST_REGULAR_TOKEN_ID + (values - FIRST_REGULAR_TOKEN_ID) % span
            ids[row, : len(seq)] = torch.where(values >= vocab_size, folded, values)
            mask[row, : len(seq)] = 1
        batches.append({"input_ids": ids, "attention_mask": mask})
    return batches
