"""Search outputs: the candidates table, the best architecture, recommendations per budget, the Pareto plot.

Everything here is derived from the measurements (loss, latency) and the teacher's latency, so rewards
can be recomputed for any budget (a measurement distilled under one budget serves every other).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kdnas.models.arch import FIELDS, ArchSpec
from kdnas.nas.budget import RECOMMENDATION_SPEEDUPS, LatencyBudget
from kdnas.nas.store import Measurement

COLUMNS = (
    "arch_id", *FIELDS, "parameters", "parameters_without_embeddings", "loss", "latency_median_ms",
    "latency_p90_ms", "latency_cv", "speedup", "reward", "status", "episode", "wall_seconds", "source", "reason",
)


@dataclass
class Candidate:
    """One evaluated candidate of this search: its measurement, scored under the search's budget."""

    measurement: Measurement
    episode: int
    source: str  # distilled (by this job) | reused (from the store)
    reward: float
    speedup: float
    feasible: bool

    @property
    def arch(self) -> ArchSpec:
        return self.measurement.arch

    @property
    def ok(self) -> bool:
        return self.measurement.status == "ok"

    @property
    def status(self) -> str:
        if not self.ok:
            return "failed"
        return "ok" if self.feasible else "infeasible"

    def row(self) -> dict[str, Any]:
        m = self.measurement
        return {
            "arch_id": m.arch.arch_id, **m.arch.to_dict(), "parameters": m.parameters,
            "parameters_without_embeddings": m.parameters_without_embeddings, "loss": _r(m.loss),
            "latency_median_ms": _r(m.latency_median_ms), "latency_p90_ms": _r(m.latency_p90_ms),
            "latency_cv": _r(m.latency_cv), "speedup": _r(self.speedup), "reward": _r(self.reward),
            "status": self.status, "episode": self.episode, "wall_seconds": _r(m.wall_seconds, 2),
            "source": self.source, "reason": m.reason,
        }


def _r(x: float, digits: int = 5) -> float | str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), digits)


def score(m: Measurement, budget: LatencyBudget, teacher_ms: float, episode: int, source: str) -> Candidate:
    if m.status != "ok":
        return Candidate(m, episode, source, float("nan"), float("nan"), False)
    result = budget.reward(teacher_ms)(m.loss, m.latency_median_ms, teacher_ms)
    # over budget is infeasible only in hard mode; the soft reward already penalises the latency
    return Candidate(m, episode, source, result.reward, result.speedup, result.feasible or not budget.hard)


def write_candidates_csv(path: Path, candidates: Sequence[Candidate]) -> None:
    """Rewrite the whole table atomically (called after every candidate)."""
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(c.row() for c in candidates)
    tmp.replace(path)


def best(candidates: Sequence[Candidate]) -> Candidate | None:
    scored = [c for c in candidates if c.ok and c.feasible]
    return max(scored, key=lambda c: c.reward) if scored else None


def recommendations(
    candidates: Sequence[Candidate],
    teacher_ms: float,
    speedups: Sequence[float] = RECOMMENDATION_SPEEDUPS,
    margin: float = 0.0,
) -> dict[str, Any]:
    """For each budget, the evaluated architecture with the lowest proxy loss among those fast enough
    (measured at least ``speedup * (1 + margin)`` times faster than the teacher)."""
    out: dict[str, Any] = {}
    ok = [c for c in candidates if c.ok]
    for k in speedups:
        fast = [c for c in ok if teacher_ms / c.measurement.latency_median_ms >= k * (1 + margin)]
        key = f"{k:g}x"
        if not fast:
            out[key] = None
            continue
        c = min(fast, key=lambda c: c.measurement.loss)
        out[key] = {
            "arch": c.arch.to_dict(), "arch_id": c.arch.arch_id, "loss": float(c.measurement.loss),
            "latency_median_ms": float(c.measurement.latency_median_ms),
            "speedup": float(teacher_ms / c.measurement.latency_median_ms),
        }
    return out


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated in (lower latency, lower loss), sorted by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best_loss = [], math.inf
    for i in order:
        if points[i][1] < best_loss:
            front.append(i)
            best_loss = points[i][1]
    return front


def plot_pareto(path: Path, candidates: Sequence[Candidate], teacher_ms: float, target_ms: float | None = None) -> Path:
    """Quality (1 - loss) against latency; the Pareto front highlighted, the teacher and the target marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [c for c in candidates if c.ok]
    pts = [(c.measurement.latency_median_ms, c.measurement.loss) for c in ok]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if pts:
        ax.scatter([p[0] for p in pts], [1 - p[1] for p in pts], s=22, alpha=0.6, label="candidates")
        front = [pts[i] for i in pareto_front(pts)]
        ax.plot([p[0] for p in front], [1 - p[1] for p in front], "o-", color="crimson", label="Pareto front")
    ax.scatter([teacher_ms], [1.0], marker="*", s=180, color="black", label=f"teacher ({teacher_ms:.1f} ms)")
    if target_ms is not None:
        ax.axvline(target_ms, ls="--", color="gray", label=f"budget ({target_ms:.1f} ms)")
    ax.set_xscale("log")
    ax.set_xlabel("latency, median ms (log)")
    ax.set_ylabel("quality = 1 - normalised proxy loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
