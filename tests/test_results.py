"""nas.results: the one copy of scoring, ranking, recommendations and the candidates table."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from kdnas.models.arch import ArchSpec
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.results import (
    COLUMNS,
    best,
    measurement_from_row,
    pareto_front,
    rank_order,
    recommendations,
    score,
    write_candidates_csv,
)
from kdnas.nas.store import SHARED, THIS_RUN, Measurement


def m(layers: int, loss: float, ms: float, status: str = "ok", run: str = THIS_RUN) -> Measurement:
    return Measurement(ArchSpec(layers, 64, 4, 128, "gelu"), status, loss=loss, latency_median_ms=ms, run=run,
                       parameters=1000 * layers, parameters_without_embeddings=100 * layers, wall_seconds=1.5)


def test_rank_order_reward_then_loss_unscored_last() -> None:
    rewards = [0.5, math.nan, 0.7, 0.5, 0.1]
    losses = [0.3, 0.0, 0.4, 0.2, 0.9]
    assert rank_order(rewards, losses) == [2, 3, 0, 4, 1]


def test_score_source_and_feasibility() -> None:
    soft, hard = LatencyBudget(speedup=7.0), LatencyBudget(speedup=7.0, hard=True)
    slow = m(3, 0.2, 20.0)  # 3.5x: over a 7x budget
    # soft: over budget is penalised (the reward still orders exploration) and reported as missing the budget
    assert score(slow, soft, 70.0, 0).status == "infeasible" and score(slow, soft, 70.0, 0).reward > 0.7
    assert score(m(3, 0.2, 10.0), soft, 70.0, 0).status == "ok"  # exactly 7x meets it
    assert score(slow, hard, 70.0, 0).status == "infeasible" and score(slow, hard, 70.0, 0).reward == 0.0
    assert score(m(1, 0.2, 5.0, run=SHARED), soft, 70.0, 1).source == "reused"
    assert score(m(1, 0.2, 5.0), soft, 70.0, 1).source == "distilled"
    failed = score(m(2, math.nan, math.nan, status="failed"), soft, 70.0, 0)
    assert failed.status == "failed" and math.isnan(failed.reward)
    assert best([failed, score(slow, hard, 70.0, 0)]) is None
    assert best([score(slow, hard, 70.0, 0), score(m(1, 0.5, 9.0), hard, 70.0, 0)]).arch.num_hidden_layers == 1  # type: ignore[union-attr]


def test_candidates_csv_round_trips_to_measurements(tmp_path: Path) -> None:
    budget = LatencyBudget(speedup=2.0)
    candidates = [score(m(1, 0.4, 10.0), budget, 70.0, 0), score(m(2, math.nan, math.nan, "failed"), budget, 70.0, 0)]
    path = tmp_path / "candidates.csv"
    write_candidates_csv(path, candidates)
    assert [p.name for p in tmp_path.iterdir()] == ["candidates.csv"]  # no temporary file left behind
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(COLUMNS)
    back = [measurement_from_row(r) for r in rows]
    assert back[0].arch == candidates[0].arch and back[0].loss == pytest.approx(0.4)
    assert back[0].latency_median_ms == pytest.approx(10.0) and back[0].parameters == 1000
    assert back[1].status == "failed" and math.isnan(back[1].loss)
    # the sweep summary recommends from these rows exactly as the search did from its measurements
    assert recommendations(back, 70.0) == recommendations([c.measurement for c in candidates], 70.0)


def test_recommendations_pick_the_lowest_loss_fast_enough() -> None:
    recs = recommendations([m(1, 0.6, 5.0), m(2, 0.4, 9.0), m(3, 0.3, 30.0)], 70.0)
    assert recs["2x"]["arch_id"] == ArchSpec(3, 64, 4, 128, "gelu").arch_id  # 2.3x, lowest loss
    assert recs["7x"]["arch_id"] == ArchSpec(2, 64, 4, 128, "gelu").arch_id  # 7.8x
    assert recs["10x"]["arch_id"] == ArchSpec(1, 64, 4, 128, "gelu").arch_id  # 14x: the only one
    assert recommendations([m(3, 0.3, 30.0)], 70.0)["5x"] is None


def test_pareto_front() -> None:
    points = [(5.0, 0.6), (9.0, 0.4), (10.0, 0.5), (30.0, 0.3), (4.0, 0.9)]
    assert pareto_front(points) == [4, 0, 1, 3]
