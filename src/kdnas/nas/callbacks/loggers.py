"""The search in experiment loggers (Lightning's CSV / W&B loggers): every candidate as it finishes, the
controller's prediction error per episode, and at the end the Pareto plot and the best architecture."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kdnas.nas.loop import Search, SearchCallback, SearchResult
from kdnas.nas.results import Candidate


class LoggerCallback(SearchCallback):
    """Logs to Lightning loggers; W&B ones also get a ``candidates`` table, ``pareto`` image and an artifact.

    Args:
        loggers: Lightning loggers (``log_metrics``; W&B's ``log_table`` / ``log_image`` / ``experiment``).
        out_dir: the run directory holding the files :class:`~kdnas.nas.callbacks.OutputWriter` wrote
            (put that callback first).
        budget_name: names the W&B artifact (``best_arch-<budget>``).
    """

    def __init__(self, loggers: Sequence[Any], out_dir: Path, budget_name: str) -> None:
        self.loggers = list(loggers)
        self.out_dir = Path(out_dir)
        self.budget_name = budget_name

    def on_candidate_end(self, search: Search, candidate: Candidate) -> None:
        step = len(search.candidates)
        m = candidate.measurement
        metrics = {"candidate/reward": candidate.reward, "candidate/loss": m.loss,
                   "candidate/latency_ms": m.latency_median_ms, "candidate/speedup": candidate.speedup,
                   "candidate/episode": candidate.episode}
        finite = {k: float(v) for k, v in metrics.items() if math.isfinite(v)}
        for lg in self.loggers:
            lg.log_metrics(finite, step=step)
            if hasattr(lg, "log_table"):  # W&B: the whole table so far, one row per candidate
                rows = [c.row() for c in search.candidates]
                lg.log_table(key="candidates", columns=list(rows[0]), data=[list(r.values()) for r in rows], step=step)

    def on_episode_end(self, search: Search, episode: int) -> None:
        log = search.controller.prediction_log
        if log and log[-1]["episode"] == episode:
            for lg in self.loggers:
                lg.log_metrics({f"controller/{k}": float(v) for k, v in log[-1].items()}, step=len(search.candidates))

    def on_search_end(self, search: Search, result: SearchResult) -> None:
        winner, step = result.best, len(result.candidates)
        for lg in self.loggers:
            if hasattr(lg, "log_image") and (self.out_dir / "pareto.png").is_file():
                lg.log_image(key="pareto", images=[str(self.out_dir / "pareto.png")], step=step)
            if winner is not None and hasattr(lg, "experiment") and hasattr(lg.experiment, "log_artifact"):
                import wandb

                artifact = wandb.Artifact(f"best_arch-{self.budget_name}", type="architecture",
                                          metadata={**winner.row(), "budget": self.budget_name})
                for name in ("best_arch.yaml", "recommendations.yaml"):
                    artifact.add_file(str(self.out_dir / name))
                lg.experiment.log_artifact(artifact)
                lg.experiment.summary.update({"best/reward": winner.reward, "best/arch": winner.arch.short_name,
                                              "best/speedup": winner.speedup, "best/loss": winner.measurement.loss})
            lg.finalize("success")
