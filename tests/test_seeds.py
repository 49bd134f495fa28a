"""Teacher-shaped seeds for a search's first episode."""

from __future__ import annotations

import pytest

from kdnas.latency.profile import LatencyProfile
from kdnas.models.arch import ArchSpec
from kdnas.nas import seeds as seeds_module
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.seeds import teacher_shaped_seeds
from kdnas.nas.space import SearchSpace

PROFILE = LatencyProfile(device="cpu", batch_size=1, seq_len=16, threads=1, warmup=1, repeats=3)


def space() -> SearchSpace:
    # the tiny teacher is 4 x 64, 4 heads, gelu: 2 depths x 2 FFN sizes share its shape
    return SearchSpace(num_hidden_layers=[1, 2], hidden_size=[32, 64], num_attention_heads=[2, 4],
                       intermediate_size=[64, 128], hidden_act=["gelu", "relu"], min_head_dim=8)


def test_deepest_first_with_the_largest_ffn_that_meets_the_budget(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    budget = LatencyBudget(name="loose", speedup=None, max_ms=1e4, profile=PROFILE)
    found = teacher_shaped_seeds(space(), tiny_teacher.model, budget, teacher_ms=1.0, limit=5)
    assert found == [ArchSpec(2, 64, 4, 128, "gelu"), ArchSpec(1, 64, 4, 128, "gelu")]
    assert teacher_shaped_seeds(space(), tiny_teacher.model, budget, teacher_ms=1.0, limit=1) == found[:1]
    assert teacher_shaped_seeds(space(), tiny_teacher.model, budget, teacher_ms=1.0, limit=0) == []


def test_architectures_that_cannot_meet_the_budget_are_not_timed(tiny_teacher, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    monkeypatch.setattr(seeds_module, "measure_pair", lambda *a, **k: calls.append(a))
    budget = LatencyBudget(name="impossible", speedup=1000.0, profile=PROFILE)
    assert teacher_shaped_seeds(space(), tiny_teacher.model, budget, teacher_ms=1.0, limit=2) == []
    assert calls == []  # every teacher-shaped student needs more than 1/1000 of the teacher's multiply-adds
