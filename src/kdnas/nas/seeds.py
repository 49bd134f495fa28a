"""Teacher-shaped seed candidates for the first episode of a search.

A student with the teacher's width, head count and activation inherits whole teacher layers under
``student.init=teacher`` (only the FFN is sliced), so it starts close to its teacher; one of another shape
starts from sliced, partly meaningless weights. In a space of a thousand architectures a few random
episodes rarely sample such a student, and the controller never learns how good they are. Seeding the
first episode with them, the deepest first, each with the largest FFN that meets the budget (timed side
by side with the teacher), gives the controller that reference point; later episodes are its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from transformers import PretrainedConfig, PreTrainedModel

from kdnas.latency.measure import measure_pair
from kdnas.models.arch import ArchSpec
from kdnas.models.student import build_student
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.space import SearchSpace

log = logging.getLogger(__name__)


def estimated_cost(arch: ArchSpec, seq_len: int) -> float:
    """Multiply-adds per token of the encoder: a lower bound on the real latency ratio of a small model."""
    return float(arch.multiply_adds_per_token(seq_len))


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
    profile = budget.profile
    target = budget.search_target_ms(teacher_ms)
    config: PretrainedConfig = teacher.config
    shape = (config.hidden_size, config.num_attention_heads, config.hidden_act)
    teacher_arch = ArchSpec(config.num_hidden_layers, *shape[:2], config.intermediate_size, shape[2])
    tokens = profile.tokens_per_sequence  # a corpus profile: its median input length
    teacher_cost = estimated_cost(teacher_arch, tokens)
    shaped = [a for a in space.all_valid() if (a.hidden_size, a.num_attention_heads, a.hidden_act) == shape]
    seeds: list[ArchSpec] = []
    for depth in sorted({a.num_hidden_layers for a in shaped}, reverse=True):
        for arch in sorted((a for a in shaped if a.num_hidden_layers == depth), key=lambda a: -a.intermediate_size):
            if teacher_ms * estimated_cost(arch, tokens) / teacher_cost > target:
                continue
            if student_ms is None:
                ms: float | None = teacher_ms / measure_pair(build_student(arch, teacher, init="random"), teacher,
                                                             profile).speedup
            else:
                ms = student_ms(arch)
            if ms is not None and ms <= target:
                log.info("seed %s: %.1fx faster than the teacher", arch.short_name, teacher_ms / ms)
                seeds.append(arch)
                break
        if len(seeds) >= limit:
            break
    return seeds
