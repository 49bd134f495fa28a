"""The episode loop from Python, with no Hydra and no distillation: a synthetic evaluator."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdnas.models.arch import ArchSpec
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.controllers import LSTMController, RandomController
from kdnas.nas.loop import Search, SearchCallback
from kdnas.nas.space import SearchSpace
from kdnas.nas.store import CandidateStore, Measurement
from kdnas.nas.stored_evaluator import StoredEvaluator

SPACE = SearchSpace(num_hidden_layers=[1, 2, 4], hidden_size=[64, 128], num_attention_heads=[2, 4],
                    intermediate_size=[128, 256], hidden_act=["gelu", "relu"])


def synthetic(arch: ArchSpec, seed: int) -> Measurement:
    """Deeper and wider is better and slower; relu a little worse."""
    loss = 1.0 / (arch.num_hidden_layers * arch.hidden_size / 64) ** 0.5 + 0.05 * (arch.hidden_act == "relu")
    ms = 0.5 * arch.num_hidden_layers * arch.hidden_size / 64 + arch.intermediate_size / 512
    return Measurement(arch, "ok", loss=loss, latency_median_ms=ms)


class Recorder(SearchCallback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_search_start(self, search: Search) -> None:
        self.events.append("start")

    def on_episode_start(self, search: Search, episode: int, proposals: object) -> None:
        self.events.append(f"episode {episode}")

    def on_candidate_end(self, search: Search, candidate: object) -> None:
        self.events.append("candidate")

    def on_episode_end(self, search: Search, episode: int) -> None:
        self.events.append(f"told {episode} ({search.controller.episode})")

    def on_search_end(self, search: Search, result: object) -> None:
        self.events.append("end")


def test_a_search_from_python_in_a_few_lines() -> None:
    recorder = Recorder()
    search = Search(LSTMController(SPACE, train_steps=20), synthetic, LatencyBudget(speedup=4.0), teacher_ms=16.0,
                    episodes=3, candidates_per_episode=4, callbacks=[recorder])
    result = search.run()
    assert len(result.candidates) == 12 and len({c.arch.arch_id for c in result.candidates}) == 12
    assert result.best is not None and result.best.reward == max(c.reward for c in result.candidates if c.feasible)
    assert result.best.speedup >= 4.0  # the best meets the budget (soft mode: a slower one may earn more)
    assert set(result.recommendations) == {"2x", "3x", "5x", "7x", "10x"}
    assert recorder.events == ["start", "episode 0", *["candidate"] * 4, "told 0 (1)", "episode 1", *["candidate"] * 4,
                               "told 1 (2)", "episode 2", *["candidate"] * 4, "told 2 (3)", "end"]


def test_seeds_come_first_and_the_controller_fills_the_rest() -> None:
    seed_arch = ArchSpec(4, 128, 4, 256, "gelu")
    search = Search(RandomController(SPACE), synthetic, LatencyBudget(speedup=2.0), 16.0, episodes=2,
                    candidates_per_episode=3, seeds=lambda: [seed_arch])
    result = search.run()
    assert result.candidates[0].arch == seed_arch and len(result.candidates) == 6
    assert seed_arch.arch_id not in [c.arch.arch_id for c in result.candidates[1:]]


def test_an_interrupted_search_resumes_with_the_same_candidates(tmp_path: Path) -> None:
    def run(journal: CandidateStore, fail_at: int | None = None) -> tuple[list[str], int]:
        calls = []

        def evaluator(arch: ArchSpec, seed: int) -> Measurement:
            if fail_at is not None and len(calls) == fail_at:
                raise KeyboardInterrupt  # killed while distilling
            calls.append(arch.arch_id)
            return synthetic(arch, seed)

        stored = StoredEvaluator(evaluator, journal, "k")
        search = Search(LSTMController(SPACE, seed=3, train_steps=10), stored, LatencyBudget(speedup=3.0), 16.0,
                        episodes=3, candidates_per_episode=3, seed=3, journal=journal)
        return [c.arch.arch_id for c in search.run().candidates], len(calls)

    uninterrupted, _ = run(CandidateStore(tmp_path / "a.sqlite"))
    journal = CandidateStore(tmp_path / "b.sqlite")
    with pytest.raises(KeyboardInterrupt):
        run(journal, fail_at=4)
    resumed, distilled = run(journal)
    assert resumed == uninterrupted
    assert distilled == 9 - 4  # the four finished candidates are not distilled again


def test_a_small_space_runs_out() -> None:
    tiny = SearchSpace(num_hidden_layers=[1], hidden_size=[64], num_attention_heads=[2], intermediate_size=[128, 256],
                       hidden_act=["gelu"])
    result = Search(RandomController(tiny), synthetic, LatencyBudget(speedup=2.0), 16.0, episodes=5,
                    candidates_per_episode=3).run()
    assert len(result.candidates) == 2
