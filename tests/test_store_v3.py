"""Schema v3 of the candidate store, on both back-ends: a reused measurement keeps the speed-up it was timed
with beside the teacher, a failed candidate is retried once by a later run (and only once), and a v2 store is
migrated in place with its rows."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from kdnas.models.arch import ArchSpec
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.controllers import RandomController
from kdnas.nas.loop import Search
from kdnas.nas.results import recommendations
from kdnas.nas.space import SearchSpace
from kdnas.nas.store import MAX_ATTEMPTS, SCHEMA_VERSION, SHARED, CandidateStore, Measurement
from kdnas.nas.stored_evaluator import StoredEvaluator

A, B = ArchSpec(1, 16, 1, 32, "gelu"), ArchSpec(2, 32, 2, 64, "relu")
NewStore = Callable[[], str]


def paired(teacher_ms: float, speedup: float) -> Callable[[ArchSpec, int], Measurement]:
    """An evaluator timing every candidate ``speedup`` times faster than a teacher of ``teacher_ms``, side by side
    (as ProxyEvaluator stores it: the latency on the run's teacher scale, and the ratio)."""

    def evaluate(arch: ArchSpec, seed: int) -> Measurement:
        return Measurement(arch, "ok", loss=0.3, latency_median_ms=teacher_ms / speedup,
                           latency_p90_ms=1.2 * teacher_ms / speedup, paired_speedup=speedup)

    return evaluate


def test_a_reused_measurement_keeps_its_paired_speedup(store_url: NewStore, tmp_path: Path) -> None:
    shared = CandidateStore(store_url())
    space = SearchSpace(num_hidden_layers=[1], hidden_size=[16], num_attention_heads=[1], intermediate_size=[32],
                        hidden_act=["gelu"])
    # job 1: its teacher timed at 100 ms, the candidate 4x faster beside it
    first = Search(RandomController(space), StoredEvaluator(paired(100.0, 4.0), CandidateStore(tmp_path / "1.sqlite"),
                                                            "k", shared=shared), LatencyBudget(speedup=3.0), 100.0,
                   episodes=1, candidates_per_episode=1).run()
    assert first.candidates[0].speedup == pytest.approx(4.0)
    stored = shared.get("k", A.arch_id)
    assert stored is not None and stored.paired_speedup == pytest.approx(4.0)  # the column round-trips

    # job 2, on a busy moment: its teacher timed at 50 ms; it reuses job 1's measurement
    def never(arch: ArchSpec, seed: int) -> Measurement:
        raise AssertionError("a stored candidate is distilled again")

    second = Search(RandomController(space), StoredEvaluator(never, CandidateStore(tmp_path / "2.sqlite"), "k",
                                                             shared=shared), LatencyBudget(speedup=3.0), 50.0,
                    episodes=1, candidates_per_episode=1).run()
    reused = second.candidates[0]
    assert reused.source == "reused"
    assert reused.speedup == pytest.approx(4.0)  # not 50 / 25 = 2x, the old fallback to this run's teacher time
    assert reused.feasible and second.best is reused
    assert reused.measurement.latency_median_ms == pytest.approx(12.5)  # on this run's teacher scale
    assert reused.measurement.latency_p90_ms == pytest.approx(15.0)
    assert reused.row()["paired_speedup"] == pytest.approx(4.0)
    assert second.recommendations["3x"]["speedup"] == pytest.approx(4.0)
    # the fallback it replaces: the same row without its paired speed-up is half as fast against 50 ms
    unpaired = Measurement(A, "ok", loss=0.3, latency_median_ms=25.0, run=SHARED)
    assert recommendations([unpaired], 50.0)["3x"] is None and recommendations([unpaired], 50.0)["2x"] is not None


def failing(calls: list[str], reason: str = "FloatingPointError: non-finite proxy validation loss (nan)",
            until: int = 10**6) -> Callable[[ArchSpec, int], Measurement]:
    """Fails (as ProxyEvaluator reports a failure) for the first ``until`` calls, then succeeds."""

    def evaluate(arch: ArchSpec, seed: int) -> Measurement:
        calls.append(arch.arch_id)
        if len(calls) <= until:
            return Measurement(arch, "failed", reason=reason, wall_seconds=1.0)
        return Measurement(arch, "ok", loss=0.2, latency_median_ms=1.0, paired_speedup=3.0)

    return evaluate


def test_a_failed_candidate_is_retried_once_and_only_once(store_url: NewStore, tmp_path: Path) -> None:
    shared, calls = CandidateStore(store_url()), []
    job = [StoredEvaluator(failing(calls), CandidateStore(tmp_path / f"{i}.sqlite"), "k", shared=shared)
           for i in range(3)]
    first = job[0](A, 0)
    assert first.status == "failed" and first.attempts == 1 and "non-finite" in first.reason
    assert job[0](A, 0).attempts == 1 and calls == [A.arch_id]  # its own resume repeats its result
    stored = shared.get("k", A.arch_id)
    assert stored is not None and stored.retryable  # recorded with its error, not final
    second = job[1](A, 0)  # a later run distils it again
    assert calls == [A.arch_id] * 2 and second.attempts == MAX_ATTEMPTS == 2 and "final" in second.reason
    stored = shared.get("k", A.arch_id)
    assert stored is not None and stored.attempts == 2 and not stored.retryable
    third = job[2](A, 0)  # the second failure is final: reused, not distilled a third time
    assert calls == [A.arch_id] * 2 and third.status == "failed" and third.run == SHARED
    assert shared.acquire("k", A.arch_id, "otherhost:9:/x", lease_seconds=60)  # no lease left behind


def test_a_successful_retry_replaces_the_failure(store_url: NewStore, tmp_path: Path) -> None:
    shared, calls = CandidateStore(store_url()), []
    evaluate = failing(calls, reason="OutOfMemoryError: CUDA out of memory", until=1)
    assert StoredEvaluator(evaluate, CandidateStore(tmp_path / "a.sqlite"), "k", shared=shared)(B, 0).status == "failed"
    retried = StoredEvaluator(evaluate, CandidateStore(tmp_path / "b.sqlite"), "k", shared=shared)(B, 0)
    assert retried.ok and retried.attempts == 2
    stored = shared.get("k", B.arch_id)
    assert stored is not None and stored.ok and stored.loss == pytest.approx(0.2) and stored.reason == ""
    assert [m.arch for m in shared.measurements("k")] == [B]  # replaced in place, not a second row
    shared.put("k", Measurement(B, "failed", reason="late", attempts=1))  # an older failure never overwrites it
    assert shared.get("k", B.arch_id).ok  # type: ignore[union-attr]
    later = StoredEvaluator(evaluate, CandidateStore(tmp_path / "c.sqlite"), "k", shared=shared)(B, 0)
    assert later.ok and later.run == SHARED and len(calls) == 2


def _v2_store(url: str) -> None:
    """Write tests/data/store_v2.sql (kdnas's v2 layout and a few rows) into the empty database ``url``."""
    lines = (Path(__file__).parent / "data" / "store_v2.sql").read_text().splitlines()
    script = "\n".join(line for line in lines if not line.startswith("--"))
    engine = create_engine(url if "://" in url else f"sqlite:///{url}")
    with engine.begin() as conn:
        for statement in filter(None, (s.strip() for s in script.split(";\n"))):
            conn.execute(text(statement.rstrip(";")))
    engine.dispose()


def test_a_version_2_store_is_migrated_in_place_with_its_rows(store_url: NewStore) -> None:
    url = store_url()
    _v2_store(url)
    store = CandidateStore(url)
    ok, failed = store.get("k", A.arch_id), store.get("k", B.arch_id)
    assert ok is not None and ok.loss == pytest.approx(0.25) and ok.latency_median_ms == pytest.approx(1.5)
    assert math.isnan(ok.paired_speedup) and ok.attempts == 1  # an old row: timed alone as far as we know
    assert failed is not None and failed.reason.startswith("OutOfMemoryError") and failed.retryable
    assert store.proposals("run", 0) == [(A, "explore")] and store.meta("budget_checked") is True
    assert not store.acquire("k", "deadbeef0000", "otherhost:2:/b", lease_seconds=10**10)  # leases kept too
    engine = create_engine(store.url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM kdnas_schema")).scalar() == SCHEMA_VERSION == 3
    engine.dispose()
    store.put("k", Measurement(B, "ok", loss=0.4, latency_median_ms=2.0, paired_speedup=5.0, attempts=2))
    again = CandidateStore(url)  # reopening a migrated store changes nothing
    back = again.get("k", B.arch_id)
    assert back is not None and back.ok and back.paired_speedup == pytest.approx(5.0)
    assert len(again.measurements("k")) == 2

