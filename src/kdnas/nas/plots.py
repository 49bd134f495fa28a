"""The search's figures: quality against latency with the Pareto front, and the controller's learning curve.

One copy each: ``search.py`` writes ``pareto.png`` with :func:`save_pareto`, the notebook draws the same
figures from the outputs through :mod:`kdnas.nas.analysis`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kdnas.nas.results import Candidate, pareto_front

if TYPE_CHECKING:
    import pandas as pd


def plot_pareto(
    latency_ms: Sequence[float],
    loss: Sequence[float],
    status: Sequence[str],
    names: Sequence[str],
    teacher_ms: float | None,
    ax: Axes | None = None,
    target_ms: float | None = None,
    annotate: bool = True,
) -> Axes:
    """Quality (1 - loss) against latency: candidates, the Pareto front highlighted, the teacher marked.

    Args:
        latency_ms, loss, status, names: one entry per candidate (``status`` ``ok`` / ``infeasible`` /
            ``failed``; failed ones and non-finite values are left out).
        teacher_ms: the teacher's latency, drawn as a star at quality 1 (None: not drawn).
        ax: where to draw (default: a new figure).
        target_ms: the budget's latency target, a dashed vertical line (None: not drawn).
        annotate: name the architectures on the front.

    Returns:
        The axes drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    lat, los = np.asarray(latency_ms, dtype=float), np.asarray(loss, dtype=float)
    keep = [i for i in range(len(lat)) if status[i] != "failed" and np.isfinite(lat[i]) and np.isfinite(los[i])]
    for kind, color, marker, label in (
        ("ok", "tab:blue", "o", "candidates"), ("infeasible", "tab:gray", "x", "candidates (infeasible)")
    ):
        part = [i for i in keep if status[i] == kind]
        if part:
            ax.scatter(lat[part], 1 - los[part], s=22, alpha=0.6, color=color, marker=marker, label=label)
    front = [keep[j] for j in pareto_front([(float(lat[i]), float(los[i])) for i in keep])]
    if front:
        ax.plot(lat[front], 1 - los[front], "o-", color="crimson", label="Pareto front")
        if annotate:
            for i in front:
                ax.annotate(names[i], (lat[i], 1 - los[i]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    if teacher_ms is not None:
        ax.scatter([teacher_ms], [1.0], marker="*", s=180, color="black", label=f"teacher ({teacher_ms:.2f} ms)")
    if target_ms is not None:
        ax.axvline(target_ms, ls="--", color="gray", label=f"budget ({target_ms:.2f} ms)")
    ax.set_xscale("log")
    ax.set_xlabel("latency, median ms (log)")
    ax.set_ylabel("quality = 1 - normalised proxy loss")
    ax.set_title("quality vs latency")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def save_pareto(path: Path, candidates: Sequence[Candidate], teacher_ms: float, target_ms: float | None = None) -> Path:
    """``pareto.png`` of a search's candidates."""
    fig = Figure(figsize=(7, 4.5))  # no pyplot: works on a machine with no display, whatever the backend
    ax = fig.subplots()
    plot_pareto([c.measurement.latency_median_ms for c in candidates], [c.measurement.loss for c in candidates],
                [c.status for c in candidates], [c.arch.short_name for c in candidates], teacher_ms, ax=ax,
                target_ms=target_ms)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_learning_curve(
    log_df: pd.DataFrame, best_df: pd.DataFrame, axes: Sequence[Axes] | None = None
) -> Figure:
    """The controller's learning curve, two panels.

    Left: its prediction error per episode - MSE (left scale) and Spearman rank correlation (right scale,
    in [-1, 1]) of the rewards it predicted before each episode against the measured ones. Right: the
    best reward found against evaluations spent (each candidate's reward as a dot; episodes shaded).

    Args:
        log_df: :attr:`SearchOutputs.predictions` (empty: "no predictions" is written instead).
        best_df: :attr:`SearchOutputs.best_so_far`.
        axes: two axes to draw on (default: a new figure).

    Returns:
        The figure drawn on.
    """
    if axes is None:
        _, pair = plt.subplots(1, 2, figsize=(11, 4))
        left, right = pair[0], pair[1]
    else:
        left, right = axes[0], axes[1]
    fig = left.get_figure(root=True)
    if len(log_df):
        ep = log_df["episode"].astype(int)
        left.plot(ep, log_df["mse"], "o-", color="tab:red", label="MSE")
        left.set_ylim(bottom=0.0, top=1.15 * float(log_df["mse"].max()) or 1.0)
        left.set_ylabel("MSE (predicted vs measured reward)", color="tab:red")
        twin = left.twinx()
        twin.plot(ep, log_df["spearman"], "s--", color="tab:green", label="Spearman")
        twin.set_ylim(-1.05, 1.05)
        twin.set_ylabel("Spearman", color="tab:green")
        left.set_xticks(list(ep))
        handles = left.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        left.legend(handles=handles, loc="upper right", fontsize=8)
    else:
        left.text(0.5, 0.5, "no predictions\n(random controller, or fewer than two episodes)",
                  ha="center", va="center", transform=left.transAxes)
    left.set_xlabel("episode")
    left.set_title("controller prediction error")
    left.grid(alpha=0.3)

    if len(best_df):
        x = best_df["evaluations"]
        for i, (_, part) in enumerate(best_df.groupby("episode", sort=True)):
            if i % 2:
                right.axvspan(part["evaluations"].min() - 0.5, part["evaluations"].max() + 0.5, color="0.93")
        right.scatter(x, best_df["reward"], s=18, color="tab:gray", alpha=0.7, label="candidate reward")
        right.step(x, best_df["best_reward"], where="post", color="tab:blue", lw=2, label="best so far")
        right.legend(loc="lower right", fontsize=8)
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("evaluations (candidates distilled)")
    right.set_ylabel("reward")
    right.set_title("best reward found")
    right.grid(alpha=0.3)
    assert isinstance(fig, Figure)
    fig.tight_layout()
    return fig
