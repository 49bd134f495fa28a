"""The search's outputs honour the budget: in soft mode the reward orders exploration, but the best (the
printed one, ``best_arch.yaml``) is the highest-reward candidate that meets the budget with its margin; when
none does, the other outputs are written and one line says why."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from rich.console import Console

from kdnas.models.arch import ArchSpec
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.callbacks import ConsoleReport, OutputWriter
from kdnas.nas.controllers import RandomController
from kdnas.nas.loop import Search
from kdnas.nas.results import budget_unmet
from kdnas.nas.space import SearchSpace
from kdnas.nas.store import Measurement

TEACHER_MS = 70.0  # a 7x budget is 10 ms; with a 10% margin the search asks for <= 9.09 ms
FAST_WORSE = ArchSpec(1, 64, 2, 128, "gelu")  # 7.8x (meets 7x with the margin), loss 0.6
NEARLY = ArchSpec(1, 64, 2, 256, "gelu")  # 7.4x: meets 7x itself but not with the margin, loss 0.5
SLOW_BETTER = ArchSpec(2, 64, 2, 256, "gelu")  # 2.3x, loss 0.2: the highest soft reward
SPACE = SearchSpace(num_hidden_layers=[1, 2], hidden_size=[64], num_attention_heads=[2], intermediate_size=[128, 256],
                    hidden_act=["gelu"])
PLANTED = {FAST_WORSE.arch_id: (0.6, 9.0), NEARLY.arch_id: (0.5, 9.5), SLOW_BETTER.arch_id: (0.2, 30.0)}


def planted(arch: ArchSpec, seed: int) -> Measurement:
    loss, ms = PLANTED.get(arch.arch_id, (0.9, 60.0))
    return Measurement(arch, "ok", loss=loss, latency_median_ms=ms, latency_p90_ms=ms)


def run(tmp_path: Path, budget: LatencyBudget) -> tuple[Search, str]:
    console = Console(file=io.StringIO(), width=100)
    search = Search(RandomController(SPACE), planted, budget, TEACHER_MS, episodes=1, candidates_per_episode=4,
                    callbacks=[OutputWriter(tmp_path), ConsoleReport("7x", console=console)])
    search.run()
    return search, console.file.getvalue()  # type: ignore[attr-defined]


def test_in_soft_mode_best_arch_yaml_meets_the_budget(tmp_path: Path) -> None:
    search, printed = run(tmp_path, LatencyBudget(name="cpu_7x", speedup=7.0, margin=0.1))
    by_id = {c.arch.arch_id: c for c in search.candidates}
    fast, nearly, slow = by_id[FAST_WORSE.arch_id], by_id[NEARLY.arch_id], by_id[SLOW_BETTER.arch_id]
    assert slow.reward > nearly.reward > fast.reward  # the planted pair: the soft reward prefers the slow one
    assert not slow.feasible and not nearly.feasible and fast.feasible  # nearly: within 7x, not with the margin
    assert ArchSpec.from_yaml(tmp_path / "best_arch.yaml") == FAST_WORSE
    assert f"best: {FAST_WORSE.short_name} reward {fast.reward:.4f}, 7.8x" in printed
    with open(tmp_path / "candidates.csv", newline="") as handle:
        status = {r["arch_id"]: r["status"] for r in csv.DictReader(handle)}
    assert status[FAST_WORSE.arch_id] == "ok" and status[SLOW_BETTER.arch_id] == status[NEARLY.arch_id] == "infeasible"
    board = printed[printed.index("leaderboard"):]
    assert board.index(FAST_WORSE.short_name) < board.index(SLOW_BETTER.short_name)  # the best heads the table


def test_the_same_pair_under_a_looser_budget_picks_the_better_one(tmp_path: Path) -> None:
    search, _ = run(tmp_path, LatencyBudget(speedup=2.0, margin=0.1))  # 2.3x is fast enough now
    assert ArchSpec.from_yaml(tmp_path / "best_arch.yaml") == SLOW_BETTER
    assert search.candidates and all(c.feasible for c in search.candidates if c.arch.arch_id in PLANTED)


@pytest.mark.parametrize("hard", [False, True])
def test_no_candidate_meets_the_budget_other_outputs_are_written(tmp_path: Path, hard: bool) -> None:
    (tmp_path / "best_arch.yaml").write_text("left by an earlier run with a looser budget\n")
    budget = LatencyBudget(name="cpu_50x", speedup=50.0, hard=hard)
    search, printed = run(tmp_path, budget)
    assert not (tmp_path / "best_arch.yaml").exists()
    for name in ("candidates.csv", "recommendations.yaml", "pareto.png", "controller.pt"):
        assert (tmp_path / name).is_file(), name
    assert "best: none" in printed
    line = budget_unmet(search.candidates, budget, TEACHER_MS)
    assert "\n" not in line and line.startswith("latency_budget cpu_50x: none of the 4 measured candidates meets")
    assert f"the fastest, {FAST_WORSE.short_name}, is 7.8x" in line and "relax latency_budget.speedup" in line
