"""Scoring and ranking measured candidates: one copy of each result helper the search, the sweep summary
and the analysis notebook share (the candidates table, the leaderboard order, the best architecture,
recommendations per budget, the Pareto front).

Everything here is derived from measurements (loss, latency) and the teacher's latency, so rewards can be
recomputed for any budget: a measurement distilled under one budget serves every other.

The reward orders the search (the controller learns from it, over budget or not, in soft mode too); what a
search *recommends* (its best, ``best_arch.yaml``) is the highest-reward candidate that meets the budget,
with the safety margin, as :func:`recommendations` asks.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdnas.models.arch import FIELDS, ArchSpec
from kdnas.nas.budget import RECOMMENDATION_SPEEDUPS, LatencyBudget
from kdnas.nas.store import REPLAYED, SHARED, Measurement
from kdnas.utils.io import atomic_write

COLUMNS = (
    "arch_id", *FIELDS, "parameters", "parameters_without_embeddings", "loss", "latency_median_ms",
    "latency_p90_ms", "latency_cv", "speedup", "paired_speedup", "reward", "status", "episode", "wall_seconds",
    "source", "attempts", "reason",
)
#: :attr:`Candidate.source` by :attr:`Measurement.run` (anything else: ``distilled``)
SOURCES = {SHARED: "reused", REPLAYED: "replayed"}


@dataclass
class Candidate:
    """One evaluated candidate of a search: its measurement, scored under the search's budget.

    Attributes:
        source: ``distilled`` (by this job, also after a resume), ``reused`` (another job's measurement) or
            ``replayed`` (read back from a store by ``search.replay=true``).
        feasible: it meets the budget with the search's margin (in soft mode too, where the reward of one
            over budget is only penalised); status ``infeasible`` otherwise.
    """

    measurement: Measurement
    episode: int
    source: str
    reward: float
    speedup: float
    feasible: bool

    @property
    def arch(self) -> ArchSpec:
        return self.measurement.arch

    @property
    def ok(self) -> bool:
        return self.measurement.ok

    @property
    def status(self) -> str:
        if not self.ok:
            return "failed"
        return "ok" if self.feasible else "infeasible"

    def row(self) -> dict[str, Any]:
        """One line of ``candidates.csv`` (:data:`COLUMNS`)."""
        m = self.measurement
        return {
            "arch_id": m.arch.arch_id, **m.arch.to_dict(), "parameters": m.parameters,
            "parameters_without_embeddings": m.parameters_without_embeddings, "loss": _r(m.loss),
            "latency_median_ms": _r(m.latency_median_ms), "latency_p90_ms": _r(m.latency_p90_ms),
            "latency_cv": _r(m.latency_cv), "speedup": _r(self.speedup), "paired_speedup": _r(m.paired_speedup),
            "reward": _r(self.reward), "status": self.status, "episode": self.episode,
            "wall_seconds": _r(m.wall_seconds, 2), "source": self.source, "attempts": m.attempts, "reason": m.reason,
        }


def _r(x: float, digits: int = 5) -> float | str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), digits)


def score(m: Measurement, budget: LatencyBudget, teacher_ms: float, episode: int) -> Candidate:
    """The candidate ``m`` is under ``budget`` (its reward with the search's margin).

    A measurement timed beside the teacher is first put on the scale of ``teacher_ms`` (its paired speed-up
    kept, :meth:`Measurement.on_scale`): one reused from another job scores as that job timed it.
    """
    source = SOURCES.get(m.run, "distilled")
    if not m.ok:
        return Candidate(m, episode, source, math.nan, math.nan, False)
    m = m.on_scale(teacher_ms)
    result = budget.reward(teacher_ms)(m.loss, m.latency_median_ms, teacher_ms)
    return Candidate(m, episode, source, result.reward, result.speedup, result.feasible)


def write_candidates_csv(path: Path, candidates: Sequence[Candidate]) -> None:
    """Rewrite the whole table atomically (called after every candidate)."""
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(c.row() for c in candidates)


def measurement_from_row(row: Mapping[str, Any]) -> Measurement:
    """A :class:`Measurement` back from a ``candidates.csv`` row (blank numbers are NaN)."""

    def num(key: str, blank: float = math.nan) -> float:
        value = row.get(key)
        return blank if value in (None, "") else float(value)  # type: ignore[arg-type]
    # tables written before paired_speedup / attempts existed have neither column

    arch = ArchSpec.from_dict({k: (row[k] if k == "hidden_act" else int(row[k])) for k in FIELDS})
    status = "failed" if row.get("status") == "failed" else "ok"
    return Measurement(arch, status, reason=str(row.get("reason") or ""), parameters=int(num("parameters", 0)),
                       parameters_without_embeddings=int(num("parameters_without_embeddings", 0)),
                       loss=num("loss"), latency_median_ms=num("latency_median_ms"),
                       latency_p90_ms=num("latency_p90_ms"), latency_cv=num("latency_cv"),
                       wall_seconds=num("wall_seconds", 0.0), paired_speedup=num("paired_speedup"),
                       attempts=int(num("attempts", 1)))


def rank_order(rewards: Sequence[float], losses: Sequence[float], meets: Sequence[bool] | None = None) -> list[int]:
    """Indices from best to worst: highest reward first, ties by lower loss, unscored (NaN reward) last; stable.

    With ``meets`` (whether each meets the budget), those that do come first, so the first is the search's
    best (:func:`best`). The one leaderboard order: ``search.py``'s table and the notebook's
    :func:`kdnas.nas.analysis.leaderboard`.
    """

    def key(i: int) -> tuple[bool, bool, float, float]:
        r, loss = float(rewards[i]), float(losses[i])
        missed = meets is not None and not meets[i]
        return (math.isnan(r), missed, -r if not math.isnan(r) else 0.0, loss if not math.isnan(loss) else math.inf)

    return sorted(range(len(rewards)), key=key)


def best(candidates: Sequence[Candidate]) -> Candidate | None:
    """The highest-reward measured candidate that meets the budget with its margin (None if there is none).

    In soft mode too: a faster-than-needed but worse candidate beats a better one over budget.
    """
    scored = [c for c in candidates if c.ok and c.feasible]
    return max(scored, key=lambda c: c.reward) if scored else None


def budget_unmet(candidates: Sequence[Candidate], budget: LatencyBudget, teacher_ms: float) -> str:
    """One line for a search none of whose finished candidates meets the budget: what, and how to fix it."""
    ok = [c for c in candidates if c.ok]
    target = budget.search_target_ms(teacher_ms)
    ask = f"<= {target:.3g} ms ({teacher_ms / target:.3g}x the teacher's {teacher_ms:.3g} ms"
    ask += f", margin {budget.margin:.0%})" if budget.margin else ")"
    if ok:
        fastest = max(ok, key=lambda c: c.speedup)
        found = (f"none of the {len(ok)} measured candidates meets {ask}; the fastest, "
                 f"{fastest.arch.short_name}, is {fastest.speedup:.1f}x")
    else:
        found = f"no candidate finished ({len(candidates)} failed), so none meets {ask}"
    return (f"latency_budget {budget.name}: {found}: relax latency_budget.speedup / max_ms (or margin), add smaller "
            "or faster choices to the search space, or search longer (search.episodes)")


def recommendations(
    measurements: Sequence[Measurement],
    teacher_ms: float,
    speedups: Sequence[float] = RECOMMENDATION_SPEEDUPS,
    margin: float = 0.0,
) -> dict[str, Any]:
    """For each budget, the measured architecture with the lowest proxy loss among those fast enough.

    Fast enough: measured at least ``speedup * (1 + margin)`` times faster than the teacher (side by side
    where it was timed so, :meth:`Measurement.speedup_over`). Keys ``"2x"``...; None where no measured
    architecture is fast enough.
    """
    out: dict[str, Any] = {}
    ok = [m.on_scale(teacher_ms) for m in measurements
          if m.ok and math.isfinite(m.loss) and math.isfinite(m.latency_median_ms)]
    for k in speedups:
        fast = [m for m in ok if m.speedup_over(teacher_ms) >= k * (1 + margin)]
        key = f"{k:g}x"
        if not fast:
            out[key] = None
            continue
        m = min(fast, key=lambda m: m.loss)
        out[key] = {
            "arch": m.arch.to_dict(), "arch_id": m.arch.arch_id, "loss": float(m.loss),
            "latency_median_ms": float(m.latency_median_ms), "speedup": float(m.speedup_over(teacher_ms)),
        }
    return out


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated in (lower latency, lower loss), sorted by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best_loss = [], math.inf
    for i in order:
        if points[i][1] < best_loss:
            front.append(i)
            best_loss = points[i][1]
    return front
