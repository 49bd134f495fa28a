"""Seed candidates for the first episode of a search: teacher-shaped ones, and the largest that meet the budget.

A student with the teacher's width, head count and activation inherits whole teacher layers under
``student.init=teacher`` (only the FFN is sliced), so it starts close to its teacher; one of another shape
starts from sliced, partly meaningless weights. In a space of a thousand architectures a few random
episodes rarely sample such a student, and the controller never learns how good they are. Seeding the
first episode with them, the deepest first, each with the largest FFN that meets the budget (timed side
by side with the teacher), gives the controller that reference point; later episodes are its own.

The proxy reward of the students that meet a budget ranks with their non-embedding parameter count (Spearman
0.82-0.96 on the strategies table, bench/RESULTS.md), so the largest student that meets the budget is a strong
first candidate that costs no distillation to find (a zero-cost warm-up, as in Abdelfattah et al. 2021):
:func:`largest_seeds` times a few of the largest beside the teacher, none distilled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from transformers import PretrainedConfig, PreTrainedModel

from kdnas.latency.measure import measure_pair, pair_spread, steadiest
from kdnas.models.arch import ArchSpec
from kdnas.models.student import build_student
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.space import SearchSpace

log = logging.getLogger(__name__)


def estimated_cost(arch: ArchSpec, seq_len: int) -> float:
    """Multiply-adds per token of the encoder: a lower bound on the real latency ratio of a small model."""
    return float(arch.multiply_adds_per_token(seq_len))


#: at most this many students a search times (untrained, ~3 s each on CPU) looking for its largest seed
SIZE_SEED_TIMINGS = 10


def _teacher_cost(teacher: PreTrainedModel, tokens: int) -> float:
    return estimated_cost(ArchSpec.of_config(teacher.config), tokens)


def untrained_ms(teacher: PreTrainedModel, budget: LatencyBudget, teacher_ms: float, max_cv: float | None = None,
                 retimes: int = 0) -> Callable[[ArchSpec], float]:
    """A student's latency on the scale of ``teacher_ms``: built untrained, timed interleaved with the teacher
    under the budget's profile, an unsteady reading repeated by the search's rule (``search.retime_cv``,
    ``search.retimes``: :func:`~kdnas.latency.measure.steadiest`)."""

    def timed(arch: ArchSpec) -> float:
        student = build_student(arch, teacher, init="random")
        pair, _ = steadiest(lambda: measure_pair(student, teacher, budget.profile), pair_spread, max_cv, retimes)
        return teacher_ms / pair.speedup

    return timed


def _timed_ms(arch: ArchSpec, teacher: PreTrainedModel, budget: LatencyBudget, teacher_ms: float,
              student_ms: Callable[[ArchSpec], float | None] | None) -> float | None:
    """``arch``'s latency on the scale of ``teacher_ms``: ``student_ms``'s, or timed once untrained."""
    return (student_ms or untrained_ms(teacher, budget, teacher_ms))(arch)


def largest_seeds(
    space: SearchSpace, teacher: PreTrainedModel, budget: LatencyBudget, teacher_ms: float, limit: int,
    exclude: Collection[str] = (), student_ms: Callable[[ArchSpec], float | None] | None = None,
    max_timings: int = SIZE_SEED_TIMINGS,
) -> list[ArchSpec]:
    """Up to ``limit`` architectures of ``space`` with the most non-embedding parameters that meet ``budget``.

    Architectures are tried from the largest down (ties: by id); one whose multiply-adds already miss the target
    is skipped untimed, the others are timed interleaved with the teacher (``student_ms`` as in
    :func:`teacher_shaped_seeds`; an architecture it does not know is skipped, uncounted) until ``limit`` meet
    the target or ``max_timings`` were timed. ``exclude``: ids not to choose (the teacher-shaped seeds).
    """
    if limit < 1:
        return []
    target = budget.search_target_ms(teacher_ms)
    tokens = budget.profile.tokens_per_sequence
    teacher_cost = _teacher_cost(teacher, tokens)
    vocab = int(teacher.config.vocab_size)
    fits = [a for a in space.all_valid()
            if a.arch_id not in exclude and teacher_ms * estimated_cost(a, tokens) / teacher_cost <= target]
    fits.sort(key=lambda a: (-a.param_count(vocab, include_embeddings=False), a.arch_id))
    seeds: list[ArchSpec] = []
    timings = 0
    for arch in fits:
        if timings >= max_timings or len(seeds) >= limit:
            break
        ms = _timed_ms(arch, teacher, budget, teacher_ms, student_ms)
        if ms is None:
            continue
        timings += 1
        if ms <= target:
            log.info("seed %s (the largest found within the budget): %.1fx faster than the teacher", arch.short_name,
                     teacher_ms / ms)
            seeds.append(arch)
    return seeds


def teacher_shaped_seeds(
    space: SearchSpace, teacher: PreTrainedModel, budget: LatencyBudget, teacher_ms: float, limit: int,
    student_ms: Callable[[ArchSpec], float | None] | None = None,
) -> list[ArchSpec]:
    """Up to ``limit`` teacher-shaped architectures of ``space`` that meet ``budget``, deepest first.

    Per depth, FFN sizes are tried from the largest down; one whose multiply-adds already miss the target
    is skipped untimed (real latency only adds overhead), the others are timed interleaved with the teacher
    until one meets the target. ``student_ms`` replaces that timing (a replay reads the stored latency on the
    scale of ``teacher_ms``; None skips the architecture): then the teacher runs no forward.
    """
    if limit < 1:
        return []
    target = budget.search_target_ms(teacher_ms)
    config: PretrainedConfig = teacher.config
    shape = (config.hidden_size, config.num_attention_heads, config.hidden_act)
    tokens = budget.profile.tokens_per_sequence  # a corpus profile: its median input length
    teacher_cost = _teacher_cost(teacher, tokens)
    shaped = [a for a in space.all_valid() if (a.hidden_size, a.num_attention_heads, a.hidden_act) == shape]
    seeds: list[ArchSpec] = []
    for depth in sorted({a.num_hidden_layers for a in shaped}, reverse=True):
        for arch in sorted((a for a in shaped if a.num_hidden_layers == depth), key=lambda a: -a.intermediate_size):
            if teacher_ms * estimated_cost(arch, tokens) / teacher_cost > target:
                continue
            ms = _timed_ms(arch, teacher, budget, teacher_ms, student_ms)
            if ms is not None and ms <= target:
                log.info("seed %s: %.1fx faster than the teacher", arch.short_name, teacher_ms / ms)
                seeds.append(arch)
                break
        if len(seeds) >= limit:
            break
    return seeds
