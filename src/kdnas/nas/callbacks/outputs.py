"""The run directory's files: ``candidates.csv`` after every candidate (a killed search leaves a complete
table), then ``best_arch.yaml`` (the best candidate that meets the budget, with the budget and profile it was
searched for; absent when none does), ``recommendations.yaml``, ``pareto.png`` and ``controller.pt``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kdnas.nas.loop import Search, SearchCallback, SearchResult
from kdnas.nas.plots import save_pareto
from kdnas.nas.results import Candidate, write_candidates_csv
from kdnas.utils.io import write_yaml


class OutputWriter(SearchCallback):
    """Writes a search's outputs into ``out_dir`` (atomically).

    Args:
        out_dir: the run directory.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)

    def on_candidate_end(self, search: Search, candidate: Candidate) -> None:
        write_candidates_csv(self.out_dir / "candidates.csv", search.candidates)

    def on_search_end(self, search: Search, result: SearchResult) -> None:
        if result.best is None:  # none meets the budget: no architecture to train (nor one left from before)
            (self.out_dir / "best_arch.yaml").unlink(missing_ok=True)
        else:
            best = result.best
            result.best.arch.to_yaml(self.out_dir / "best_arch.yaml", searched_for={
                # the profile's own dict: a corpus profile's summary and fingerprint, not its token ids
                "budget": {**dataclasses.asdict(search.budget), "profile": search.budget.profile.to_dict()},
                "teacher_latency_ms": result.teacher_ms,
                "search": {"loss": best.measurement.loss, "latency_median_ms": best.measurement.latency_median_ms,
                           "speedup": best.speedup, "reward": best.reward},
            })
        write_yaml(self.out_dir / "recommendations.yaml", {"teacher_latency_ms": result.teacher_ms,
                                                           "margin": search.budget.margin,
                                                           "budgets": result.recommendations})
        save_pareto(self.out_dir / "pareto.png", result.candidates, result.teacher_ms,
                    search.budget.target_ms(result.teacher_ms))
        search.controller.save(self.out_dir / "controller.pt")
