"""Analysis of a finished (or interrupted) search: what ``notebooks/analysis.ipynb`` shows, as functions.

Reads a search's run directory (see README "Outputs") into pandas:

* :func:`find_run_dir` - a given run directory, or the latest one under ``outputs/search``;
* :func:`load_search` - ``candidates.csv``, ``recommendations.yaml``, ``summary.json`` and the controller's
  prediction log (from ``controller.pt``) as a :class:`SearchOutputs`;
* :func:`leaderboard`, :func:`pareto`, :func:`best_so_far`, :func:`recommendations_table` - tables;
* :func:`plot_pareto`, :func:`plot_learning_curve` - figures (:mod:`kdnas.nas.plots`).

Only ``candidates.csv`` is required: it is rewritten after every candidate, so a running or killed search
can be inspected too (the other files are written when a search finishes).

Example:
    >>> out = load_search(find_run_dir())  # doctest: +SKIP
    >>> leaderboard(out.candidates, n=5)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.axes import Axes

from kdnas.models.arch import FIELDS, ArchSpec
from kdnas.nas import plots
from kdnas.nas.results import COLUMNS, pareto_front, rank_order

#: where ``search.py`` writes its run directories (Hydra's ``hydra.run.dir``), relative to the working directory.
SEARCH_ROOT = Path("outputs") / "search"
#: columns of the prediction log (:attr:`kdnas.nas.controllers.Controller.prediction_log`).
PREDICTION_COLUMNS = ("episode", "n", "mse", "spearman")
#: columns of :func:`best_so_far`.
BEST_COLUMNS = ("evaluations", "episode", "architecture", "reward", "best_reward")


# --------------------------------------------------------------------------------------------------
# finding and loading a run
def find_run_dir(run_dir: str | Path | None = None, search_root: str | Path | None = None) -> Path:
    """The search run directory to analyse.

    Args:
        run_dir: a run directory (absolute or relative to the working directory). Empty or None: the latest
            run under ``search_root``.
        search_root: where to look for the latest run (default: ``outputs/search`` under the working
            directory, where ``search.py`` writes them). The
            latest is the last by name among subdirectories holding a ``candidates.csv`` (Hydra names
            them ``%Y-%m-%d_%H-%M-%S``, so that is the newest).

    Raises:
        FileNotFoundError: the directory (or any run under ``search_root``) has no ``candidates.csv``.
    """
    if run_dir:
        path = Path(run_dir).expanduser()
        if not (path / "candidates.csv").is_file():
            raise FileNotFoundError(f"{path}: not a search run directory (no candidates.csv)")
        return path.resolve()
    root = Path(search_root) if search_root is not None else SEARCH_ROOT
    runs = sorted(d for d in root.glob("*") if (d / "candidates.csv").is_file()) if root.is_dir() else []
    if not runs:
        raise FileNotFoundError(
            f"no search run under {root}: run `python search.py` (e.g. `experiment=tiny`) first, "
            "or set KDNAS_RUN_DIR / RUN_DIR to a run directory"
        )
    return runs[-1].resolve()


@dataclass
class SearchOutputs:
    """A search's outputs, loaded by :func:`load_search`.

    Attributes:
        run_dir: the run directory.
        candidates: ``candidates.csv`` in evaluation order (columns :data:`kdnas.nas.results.COLUMNS`, plus
            ``architecture`` (short name) and ``quality`` = 1 - loss); blanks are NaN.
        recommendations: per budget (``"2x"``, ...): the recommended architecture's entry of
            ``recommendations.yaml`` (``arch``, ``arch_id``, ``loss``, ``latency_median_ms``, ``speedup``),
            or None when no evaluated architecture is fast enough. Empty if the file is missing.
        summary: ``summary.json`` (empty if the search has not finished).
        predictions: the controller's prediction log, one row per episode it could predict
            (columns :data:`PREDICTION_COLUMNS`: MSE and Spearman of its predictions, made before the
            episode's rewards were known, against those rewards). Empty without a predictor or
            ``controller.pt``.
        best_so_far: :func:`best_so_far` of ``candidates``.
        teacher_ms: the teacher's median latency (ms) under the budget's profile, None if unknown.
        target_ms: the budget's latency target (ms), None if unknown.
        controller: the controller's class name (from ``controller.pt``), None if unknown.
    """

    run_dir: Path
    candidates: pd.DataFrame
    recommendations: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    predictions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(PREDICTION_COLUMNS)))
    best_so_far: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(BEST_COLUMNS)))
    teacher_ms: float | None = None
    target_ms: float | None = None
    controller: str | None = None

    def describe(self) -> str:
        """One paragraph: the run, its budget, how many candidates of which status, the best one."""
        counts = self.candidates["status"].value_counts()
        status = ", ".join(f"{counts[s]} {s}" for s in ("ok", "infeasible", "failed") if s in counts)
        lines = [f"run: {self.run_dir}", f"candidates: {len(self.candidates)} ({status or 'none'})"]
        if self.summary.get("budget"):
            target = f", target {self.target_ms:.2f} ms" if self.target_ms is not None else ""
            lines.append(f"budget: {self.summary['budget']}{target}")
        if self.teacher_ms is not None:
            lines.append(f"teacher: {self.summary.get('teacher', '?')}, {self.teacher_ms:.2f} ms")
        if self.controller:
            lines.append(f"controller: {self.controller}, {len(self.predictions)} episode(s) predicted")
        ranked = leaderboard(self.candidates, n=1)
        if len(ranked) and ranked["status"].iloc[0] == "ok":  # the best meets the budget (search.py's best)
            top = ranked.iloc[0]
            lines.append(
                f"best: {top['architecture']} reward {top['reward']:.4f}, loss {top['loss']:.4f}, "
                f"{top['latency_median_ms']:.2f} ms ({top['speedup']:.1f}x)"
            )
        return "\n".join(lines)


def read_candidates(path: str | Path) -> pd.DataFrame:
    """``candidates.csv`` as a DataFrame in evaluation order, with ``architecture`` and ``quality`` added."""
    df = pd.read_csv(path, dtype={"arch_id": str, "status": str, "source": str, "hidden_act": str, "reason": str})
    for col in COLUMNS:  # tolerate tables written by older versions
        if col not in df.columns:
            df[col] = np.nan
    df["reason"] = df["reason"].fillna("").astype(str)
    df["architecture"] = [ArchSpec.from_dict(row).short_name for row in df[list(FIELDS)].to_dict("records")]
    df["quality"] = 1.0 - df["loss"]
    return df


def read_prediction_log(path: str | Path) -> tuple[str | None, pd.DataFrame]:
    """``(controller class name, prediction log)`` from a ``controller.pt`` written by ``Controller.save``.

    Reads the stored state directly (``torch.load(weights_only=True)``): no controller is rebuilt.
    """
    import torch

    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or "prediction_log" not in state:
        raise ValueError(f"{path}: not a controller file written by Controller.save")
    log = pd.DataFrame([dict(r) for r in state["prediction_log"]], columns=list(PREDICTION_COLUMNS))
    log = log.astype({"episode": int, "n": int, "mse": float, "spearman": float})
    return (str(state["class"]) if "class" in state else None), log


def load_search(run_dir: str | Path) -> SearchOutputs:
    """Load a search's run directory (only ``candidates.csv`` is required).

    The teacher's latency comes from ``recommendations.yaml`` or ``summary.json``; for a search that has
    not finished, from the candidates themselves (``speedup * latency``).
    """
    run_dir = Path(run_dir)
    candidates = read_candidates(run_dir / "candidates.csv")
    recs: dict[str, Any] = {}
    teacher_ms: float | None = None
    if (run_dir / "recommendations.yaml").is_file():
        data = yaml.safe_load((run_dir / "recommendations.yaml").read_text()) or {}
        recs = dict(data.get("budgets") or {})
        teacher_ms = _finite(data.get("teacher_latency_ms"))
    summary: dict[str, Any] = {}
    if (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
    teacher_ms = teacher_ms or _finite(summary.get("teacher_latency_ms"))
    if teacher_ms is None:
        implied = (candidates["speedup"] * candidates["latency_median_ms"]).dropna()
        teacher_ms = float(implied.median()) if len(implied) else None
    controller, predictions = None, pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    if (run_dir / "controller.pt").is_file():
        controller, predictions = read_prediction_log(run_dir / "controller.pt")
    return SearchOutputs(
        run_dir=run_dir,
        candidates=candidates,
        recommendations=recs,
        summary=summary,
        predictions=predictions,
        best_so_far=best_so_far(candidates),
        teacher_ms=teacher_ms,
        target_ms=_finite(summary.get("target_ms")),
        controller=controller,
    )


def _finite(x: Any) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------------
# tables
LEADERBOARD_COLUMNS = (
    "architecture", "parameters_without_embeddings", "loss", "quality", "latency_median_ms", "speedup",
    "reward", "status", "episode", "source", "arch_id",
)


def leaderboard(df: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` best candidates by reward (highest first; ties: lower loss first; failed ones last).

    Candidates that meet the budget (status ``ok``) come first, then the infeasible ones (over the budget),
    each by reward, like ``search.py``'s leaderboard. The index is the rank, from 1.
    """
    order = rank_order(df["reward"].astype(float).tolist(), df["loss"].astype(float).tolist(),
                       (df["status"] == "ok").tolist())
    out = df.iloc[order].loc[:, list(LEADERBOARD_COLUMNS)].head(n).reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="rank")
    return out


def measured(df: pd.DataFrame) -> pd.DataFrame:
    """Candidates with a loss and a latency (status ``ok`` or ``infeasible``)."""
    mask = (df["status"] != "failed") & np.isfinite(df["loss"]) & np.isfinite(df["latency_median_ms"])
    return df[mask]


def pareto(df: pd.DataFrame) -> pd.DataFrame:
    """The Pareto front of the measured candidates in (lower latency, lower loss), by latency.

    Uses :func:`kdnas.nas.results.pareto_front`, as ``pareto.png`` does.
    """
    m = measured(df)
    points = list(zip(m["latency_median_ms"].astype(float), m["loss"].astype(float), strict=True))
    return m.iloc[pareto_front(points)]


def best_so_far(df: pd.DataFrame) -> pd.DataFrame:
    """The best reward found against evaluations spent, one row per candidate in evaluation order.

    Columns :data:`BEST_COLUMNS`: ``reward`` is the candidate's reward if it counts (status ``ok``: measured
    and within the budget with its margin, as :func:`kdnas.nas.results.best`), else NaN; ``best_reward`` the
    highest such reward up to and including this evaluation (NaN before the first).
    """
    reward = df["reward"].where(df["status"] == "ok").astype(float)
    return pd.DataFrame(
        {
            "evaluations": np.arange(1, len(df) + 1),
            "episode": df["episode"].to_numpy(),
            "architecture": df["architecture"].to_numpy(),
            "reward": reward.to_numpy(),
            "best_reward": reward.cummax().ffill().to_numpy(),
        },
        columns=list(BEST_COLUMNS),
    )


def recommendations_table(recommendations: Mapping[str, Any]) -> pd.DataFrame:
    """One row per speed-up budget of ``recommendations.yaml`` (index ``2x``, ``3x``, ...).

    Columns ``architecture``, ``loss``, ``quality``, ``latency_median_ms``, ``speedup``, ``arch_id``; NaN /
    ``"-"`` where no evaluated architecture is fast enough.
    """
    rows = []
    for budget, rec in recommendations.items():
        if rec is None:
            rows.append({"budget": budget, "architecture": "- (none fast enough)", "loss": np.nan,
                         "quality": np.nan, "latency_median_ms": np.nan, "speedup": np.nan, "arch_id": "-"})
            continue
        rows.append({"budget": budget, "architecture": ArchSpec.from_dict(rec["arch"]).short_name, "loss": float(rec["loss"]),
                     "quality": 1.0 - float(rec["loss"]), "latency_median_ms": float(rec["latency_median_ms"]),
                     "speedup": float(rec["speedup"]), "arch_id": rec["arch_id"]})
    columns = ["budget", "architecture", "loss", "quality", "latency_median_ms", "speedup", "arch_id"]
    return pd.DataFrame(rows, columns=columns).set_index("budget")


# --------------------------------------------------------------------------------------------------
# figures (drawn by :mod:`kdnas.nas.plots`, the code that also writes ``pareto.png``)
def plot_pareto(
    df: pd.DataFrame, teacher_ms: float | None, ax: Axes | None = None, target_ms: float | None = None,
    annotate: bool = True,
) -> Axes:
    """:func:`kdnas.nas.plots.plot_pareto` of the candidates table (:attr:`SearchOutputs.candidates`)."""
    return plots.plot_pareto(df["latency_median_ms"].tolist(), df["loss"].tolist(), df["status"].tolist(),
                             df["architecture"].tolist(), teacher_ms, ax=ax, target_ms=target_ms, annotate=annotate)


plot_learning_curve = plots.plot_learning_curve
