"""Seeds for a search's first episode: teacher-shaped ones and the largest within the budget."""

from __future__ import annotations

import pytest

from kdnas.latency.profile import LatencyProfile
from kdnas.models.arch import ArchSpec
from kdnas.nas import seeds as seeds_module
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.seeds import largest_seeds, teacher_shaped_seeds
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


def test_largest_seeds_are_the_largest_that_meet_the_budget(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    budget = LatencyBudget(name="loose", speedup=None, max_ms=1e4, profile=PROFILE)
    vocab = tiny_teacher.model.config.vocab_size
    ranked = sorted(space().all_valid(), key=lambda a: (-a.param_count(vocab, include_embeddings=False), a.arch_id))
    found = largest_seeds(space(), tiny_teacher.model, budget, teacher_ms=1.0, limit=2)
    assert found == ranked[:2]  # a loose budget: every one meets it
    assert largest_seeds(space(), tiny_teacher.model, budget, 1.0, limit=1, exclude={ranked[0].arch_id}) == ranked[1:2]
    assert largest_seeds(space(), tiny_teacher.model, budget, 1.0, limit=0) == []


def test_largest_seeds_time_at_most_a_few_and_skip_what_a_replay_does_not_know(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    budget = LatencyBudget(name="2 ms", speedup=None, max_ms=2.0, margin=0.0, profile=PROFILE)
    vocab = tiny_teacher.model.config.vocab_size
    ranked = sorted(space().all_valid(), key=lambda a: (-a.param_count(vocab, include_embeddings=False), a.arch_id))
    unknown, slow = ranked[0], ranked[1:4]  # not in the table; over the target
    asked: list[ArchSpec] = []

    def stored_ms(arch: ArchSpec) -> float | None:
        asked.append(arch)
        return None if arch == unknown else 5.0 if arch in slow else 1.0

    found = largest_seeds(space(), tiny_teacher.model, budget, teacher_ms=2.5, limit=1, student_ms=stored_ms)
    assert found == [ranked[4]] and asked == ranked[:5]  # the unknown one skipped, three too slow, then one fits
    asked.clear()
    assert largest_seeds(space(), tiny_teacher.model, budget, 2.5, limit=1, student_ms=stored_ms, max_timings=3) == []
    assert asked == ranked[:4]  # three timed (the unknown one does not count), then it stops


def test_largest_seeds_time_nothing_that_cannot_meet_the_budget(tiny_teacher, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    monkeypatch.setattr(seeds_module, "measure_pair", lambda *a, **k: calls.append(a))
    budget = LatencyBudget(name="impossible", speedup=1000.0, profile=PROFILE)
    assert largest_seeds(space(), tiny_teacher.model, budget, teacher_ms=1.0, limit=2) == [] and calls == []


def test_a_seed_s_unsteady_timing_is_repeated_as_a_candidate_s_is(tiny_teacher, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from kdnas.latency.measure import LatencyResult, PairResult
    from kdnas.nas.seeds import untrained_ms

    def reading(cv: float, speedup: float) -> PairResult:
        side = LatencyResult(median_ms=1.0, p90_ms=1.0, mean_ms=1.0, cv=cv, n=5, profile={})
        return PairResult(student=side, teacher=side, speedup=speedup)

    readings = iter([reading(0.6, 9.0), reading(0.05, 4.0), reading(0.01, 3.0)])
    monkeypatch.setattr(seeds_module, "measure_pair", lambda *a, **k: next(readings))
    budget = LatencyBudget(name="5x", speedup=5.0, margin=0.0, profile=PROFILE)
    timed = untrained_ms(tiny_teacher.model, budget, teacher_ms=100.0, max_cv=0.25, retimes=2)
    # the first reading (9x, cv 0.6) would seed a student that misses 5x; the re-timed one (4x) does not
    assert timed(ArchSpec(1, 64, 4, 128, "gelu")) == pytest.approx(25.0)
    assert next(readings).speedup == 3.0  # stopped at the first steady reading
    once = iter([reading(0.6, 9.0)])
    monkeypatch.setattr(seeds_module, "measure_pair", lambda *a, **k: next(once))
    assert untrained_ms(tiny_teacher.model, budget, 100.0)(ArchSpec(1, 64, 4, 128, "gelu")) == pytest.approx(100 / 9)
