"""The controller interface: ask for an episode's candidates, tell their measured rewards (as Optuna's samplers).

Call order, for each episode ``e = 0, 1, ...`` (``e`` = how many times :meth:`Controller.tell` was called):

1. ``proposals = controller.ask(k, exclude=ids, allowed=pool)`` - up to ``k`` :class:`Proposal` s (an
   architecture and the mode that chose it), distinct, valid in the controller's space, none observed before
   nor in ``exclude``, and in ``allowed`` when it is given (a replay's pool: the architectures a store has
   measured). Deterministic: the same seed, history and arguments give the same proposals.
2. The caller distils and measures them (:class:`kdnas.nas.loop.Search` does).
3. ``controller.tell(archs, rewards, latency)`` - records the rewards (NaN = the candidate failed: kept so it is
   never proposed again, not trained on) and, optionally, the measured latencies as multiples of the search's
   latency target (``<= 1`` meets the budget with its margin), logs how well the rewards had been predicted
   (:attr:`Controller.prediction_log`), then learns from the whole history.

With ``latency_filter`` set, :meth:`Controller.ask` first narrows the available architectures to those a
:class:`~kdnas.nas.controllers.latency_model.LatencyModel` fitted to the told latencies (and the teacher's,
:meth:`Controller.anchor_latency`) predicts within ``(1 + latency_filter)`` times the target, for every
controller alike (the subclass chooses among them).

``predict(archs)`` may be called at any time. ``save(path)`` writes the history, the prediction log and any
weights (``controller.pt``, read by :mod:`kdnas.nas.analysis`).
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.stats import spearmanr

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.controllers.latency_model import LatencyModel
from kdnas.nas.space import SearchSpace

FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One candidate of an episode and how it was chosen.

    Attributes:
        arch: the architecture.
        mode: ``explore`` (uniformly random), ``exploit`` (top predicted of a pool), ``random`` (the random
            baseline, and evolution before its population is full), ``mutation`` (evolution: one dimension of a
            tournament winner changed) or ``seed`` (set by the search loop, e.g. teacher-shaped seeds).
    """

    arch: ArchSpec
    mode: str


@dataclasses.dataclass(frozen=True)
class Observation:
    """One measured candidate and the context that held when it was measured.

    Attributes:
        arch: the candidate.
        reward: its reward (NaN if the candidate failed).
        episode: index of the ``tell`` call that recorded it (0-based).
        prev_best: best architecture of the previous episode (None in the first episode).
        global_best: best architecture over all earlier episodes (None in the first episode).
        latency: its measured latency as a multiple of the search's target (None: not told, or failed).
    """

    arch: ArchSpec
    reward: float
    episode: int
    prev_best: ArchSpec | None
    global_best: ArchSpec | None
    latency: float | None = None

    @property
    def failed(self) -> bool:
        return not math.isfinite(self.reward)

    def to_dict(self) -> dict[str, Any]:
        def plain(a: ArchSpec | None) -> dict[str, Any] | None:
            return None if a is None else a.to_dict()

        return {"arch": self.arch.to_dict(), "reward": self.reward, "episode": self.episode,
                "prev_best": plain(self.prev_best), "global_best": plain(self.global_best), "latency": self.latency}


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (:func:`scipy.stats.spearmanr`); NaN with fewer than two points or a constant side."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


class Controller(ABC):
    """Base of all controllers: the ask/tell contract, the observation history and its persistence.

    Subclasses implement :meth:`_choose` (pick ``k`` of the available architectures) and :meth:`predict`;
    predictors learn in :meth:`_learn`.

    Args:
        space: the search space the controller proposes from.
        seed: seeds the controller's randomness: proposals (episode ``e`` draws from
            ``numpy.random.default_rng([seed, e])``), weight initialisation and training order.
        latency_filter: None (off), or ``s >= 0``: once :data:`~kdnas.nas.controllers.latency_model.MIN_MEASUREMENTS`
            latencies are told, propose only architectures predicted within ``(1 + s)`` times the target (the
            predicted-fastest others only when too few are left), so no distillation goes to a student that
            would miss the budget by far. The slack keeps the best students, which sit at the target, in reach.

    Raises:
        ConfigError: a negative ``latency_filter`` (named ``controller.latency_filter``).
    """

    #: whether :meth:`predict` is meaningful (False for the random baseline: no prediction log).
    has_predictor: ClassVar[bool] = True

    def __init__(self, space: SearchSpace, seed: int = 0, latency_filter: float | None = None) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
        if latency_filter is not None and (isinstance(latency_filter, bool) or not 0 <= latency_filter < 100):
            raise ConfigError(f"controller.latency_filter: null (off) or a slack >= 0 such as 0.1, got "
                              f"{latency_filter!r}")
        self.space = space
        self.seed = int(seed)
        self.latency_filter = None if latency_filter is None else float(latency_filter)
        self.latency_model = LatencyModel()
        self.latency_anchors: list[tuple[ArchSpec, float]] = []
        self.history: list[Observation] = []
        #: per told episode (once the predictor has been trained): predictions made BEFORE the episode's
        #: rewards were known against those rewards: {"episode", "n", "mse", "spearman"}.
        self.prediction_log: list[dict[str, float]] = []

    # -- the contract ------------------------------------------------------------------------------
    @property
    def episode(self) -> int:
        """The 0-based index of the next episode (how many times :meth:`tell` was called)."""
        return 1 + max((o.episode for o in self.history), default=-1)

    def ask(self, k: int, exclude: Iterable[str] = (), allowed: Collection[str] | None = None) -> list[Proposal]:
        """Up to ``k`` proposals for the next episode; fewer only when the space (or ``allowed``) has fewer
        unseen architectures.

        Subclasses choose in :meth:`_choose` among the ``available`` architectures it is given, which already
        honours ``exclude`` and ``allowed``; one that overrides ``ask`` itself must honour them too.

        Args:
            k: number of candidates wanted (>= 0).
            exclude: arch ids not to propose (e.g. candidates the loop chose itself this episode).
            allowed: the only arch ids that may be proposed (None: any in the space), e.g. a replay's pool.
        """
        if k < 0:
            raise ValueError(f"ask: k must be >= 0, got {k}")
        excluded = set(exclude) | self.observed_ids
        pool = None if allowed is None else set(allowed)
        available = [a for a in self.space.all_valid()
                     if a.arch_id not in excluded and (pool is None or a.arch_id in pool)]
        k = min(k, len(available))
        rng = np.random.default_rng([self.seed, self.episode])
        return self._choose(rng, self._within_budget(available, k), k)

    def _within_budget(self, available: list[ArchSpec], k: int) -> list[ArchSpec]:
        """``available`` narrowed by the latency filter (grid order kept), topped up to ``k`` with the
        predicted-fastest of the rest; unchanged when the filter is off or the model not yet fitted."""
        if self.latency_filter is None:
            return available
        predicted = self.latency_model.predict(available)
        if predicted is None:
            return available
        keep = predicted <= 1.0 + self.latency_filter
        if keep.sum() < k:
            keep[np.argsort(predicted, kind="stable")[:k]] = True
        return [a for a, ok in zip(available, keep, strict=True) if ok]

    @abstractmethod
    def _choose(self, rng: np.random.Generator, available: list[ArchSpec], k: int) -> list[Proposal]:
        """``k`` distinct proposals among ``available`` (unseen, allowed, in the space's grid order; ``k <= len``).

        Choose only among ``available`` (not :meth:`SearchSpace.all_valid`): that is what keeps a replay
        within its pool."""

    @abstractmethod
    def predict(self, archs: Sequence[ArchSpec]) -> np.ndarray:
        """Predicted rewards of ``archs`` in the current context, shape ``(len(archs),)``, float64."""

    def _learn(self) -> None:  # noqa: B027 - an optional hook, deliberately a no-op here
        """Called at the end of :meth:`tell` (predictors train here)."""

    @property
    def trained(self) -> bool:
        """Whether :meth:`predict` has learnt anything yet (the prediction log starts after that)."""
        return False

    def tell(self, archs: Sequence[ArchSpec], rewards: Sequence[float] | np.ndarray,
             latency: Sequence[float] | np.ndarray | None = None) -> None:
        """Record one episode's measured rewards (and latencies), then learn from the whole history.

        Args:
            archs: the episode's candidates.
            rewards: their rewards, same length; NaN marks a failed candidate.
            latency: their measured latencies as multiples of the search's latency target, same length (NaN:
                unknown); what the latency filter learns from. None: not told.

        Raises:
            ValueError: length mismatch, an arch outside the space, a duplicate, or an arch told before.
        """
        archs = list(archs)
        values = np.asarray(rewards, dtype=float).reshape(-1)
        if len(archs) != len(values):
            raise ValueError(f"tell: {len(archs)} architectures but {len(values)} rewards")
        lat = np.full(len(archs), math.nan) if latency is None else np.asarray(latency, dtype=float).reshape(-1)
        if len(lat) != len(archs):
            raise ValueError(f"tell: {len(archs)} architectures but {len(lat)} latencies")
        ids = [a.arch_id for a in archs]
        if len(set(ids)) != len(ids):
            raise ValueError("tell: the same architecture appears twice in one episode")
        again = [a.short_name for a in archs if a.arch_id in self.observed_ids]
        if again:
            raise ValueError(f"tell: already observed (never distil twice): {', '.join(again)}")
        outside = [a.short_name for a in archs if a not in self.space]
        if outside:
            raise ValueError(f"tell: not in the search space: {', '.join(outside)}")
        finite = np.isfinite(values)
        episode = self.episode
        if self.has_predictor and self.trained and finite.any():
            # out-of-sample quality: predicted before these rewards are used for training
            preds = self.predict([a for a, ok in zip(archs, finite, strict=True) if ok])
            truth = values[finite]
            self.prediction_log.append({"episode": episode, "n": int(finite.sum()),
                                        "mse": float(np.mean((preds - truth) ** 2)), "spearman": spearman(preds, truth)})
        prev, glob = self.context()
        self.history += [Observation(a, float(r), episode, prev, glob, float(t) if math.isfinite(t) else None)
                         for a, r, t in zip(archs, values, lat, strict=True)]
        self._fit_latency()
        self._learn()

    def anchor_latency(self, arch: ArchSpec, latency: float) -> None:
        """A latency known without a distillation, fitted with every told one: the search's teacher, timed
        beside every candidate (its multiple of the target is the budget's speed-up). Without it the first
        episode's students, alike in size, fix no slope: the fit is a constant and the filter keeps none. Anchoring
        an architecture again replaces its earlier latency (a controller reused by a second search holds its
        teacher once)."""
        self.latency_anchors = [(a, t) for a, t in self.latency_anchors if a.arch_id != arch.arch_id]
        self.latency_anchors.append((arch, float(latency)))
        self._fit_latency()

    def _fit_latency(self) -> None:
        told = [(o.arch, o.latency) for o in self.history if o.latency is not None] + self.latency_anchors
        self.latency_model.fit([a for a, _ in told], [float(t) for _, t in told])  # type: ignore[arg-type]

    # -- observations ------------------------------------------------------------------------------
    @property
    def observed_ids(self) -> set[str]:
        """Ids of every architecture told so far (failed ones included)."""
        return {o.arch.arch_id for o in self.history}

    def context(self) -> tuple[ArchSpec | None, ArchSpec | None]:
        """``(best of the last told episode, best overall)``, ignoring failures; None if there is none."""
        ok = [o for o in self.history if not o.failed]
        if not ok:
            return None, None
        glob = max(ok, key=lambda o: o.reward).arch
        previous = self.episode - 1
        last = [o for o in ok if o.episode == previous]
        prev = max(last, key=lambda o: o.reward).arch if last else None
        return prev, glob

    def best(self, n: int = 1) -> list[tuple[ArchSpec, float]]:
        """The ``n`` highest-reward told architectures with their rewards, best first."""
        ok = sorted((o for o in self.history if not o.failed), key=lambda o: -o.reward)
        return [(o.arch, o.reward) for o in ok[:n]]

    # -- persistence -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Class, space, history, prediction log (subclasses add their weights)."""
        return {"format": FORMAT_VERSION, "class": type(self).__name__, "space": self.space.to_dict(),
                "seed": self.seed, "latency_filter": self.latency_filter, "history": [o.to_dict() for o in self.history],
                "prediction_log": [dict(r) for r in self.prediction_log]}

    def save(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` to ``path`` (``torch.save``; reads back with ``weights_only=True``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), path)
        return path
