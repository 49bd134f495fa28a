"""The controller interface: ask for an episode's candidates, tell their measured rewards (as Optuna's samplers).

Call order, for each episode ``e = 0, 1, ...`` (``e`` = how many times :meth:`Controller.tell` was called):

1. ``proposals = controller.ask(k, exclude=ids, allowed=pool)`` - up to ``k`` :class:`Proposal` s (an
   architecture and the mode that chose it), distinct, valid in the controller's space, none observed before
   nor in ``exclude``, and in ``allowed`` when it is given (a replay's pool: the architectures a store has
   measured). Deterministic: the same seed, history and arguments give the same proposals.
2. The caller distils and measures them (:class:`kdnas.nas.loop.Search` does).
3. ``controller.tell(archs, rewards)`` - records the rewards (NaN = the candidate failed: kept so it is never
   proposed again, not trained on), logs how well they had been predicted (:attr:`Controller.prediction_log`),
   then learns from the whole history.

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

from kdnas.models.arch import ArchSpec
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
    """

    arch: ArchSpec
    reward: float
    episode: int
    prev_best: ArchSpec | None
    global_best: ArchSpec | None

    @property
    def failed(self) -> bool:
        return not math.isfinite(self.reward)

    def to_dict(self) -> dict[str, Any]:
        def plain(a: ArchSpec | None) -> dict[str, Any] | None:
            return None if a is None else a.to_dict()

        return {"arch": self.arch.to_dict(), "reward": self.reward, "episode": self.episode,
                "prev_best": plain(self.prev_best), "global_best": plain(self.global_best)}


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
    """

    #: whether :meth:`predict` is meaningful (False for the random baseline: no prediction log).
    has_predictor: ClassVar[bool] = True

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
        self.space = space
        self.seed = int(seed)
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
        rng = np.random.default_rng([self.seed, self.episode])
        return self._choose(rng, available, min(k, len(available)))

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

    def tell(self, archs: Sequence[ArchSpec], rewards: Sequence[float] | np.ndarray) -> None:
        """Record one episode's measured rewards, then learn from the whole history.

        Args:
            archs: the episode's candidates.
            rewards: their rewards, same length; NaN marks a failed candidate.

        Raises:
            ValueError: length mismatch, an arch outside the space, a duplicate, or an arch told before.
        """
        archs = list(archs)
        values = np.asarray(rewards, dtype=float).reshape(-1)
        if len(archs) != len(values):
            raise ValueError(f"tell: {len(archs)} architectures but {len(values)} rewards")
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
        self.history += [Observation(a, float(r), episode, prev, glob) for a, r in zip(archs, values, strict=True)]
        self._learn()

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
                "seed": self.seed, "history": [o.to_dict() for o in self.history],
                "prediction_log": [dict(r) for r in self.prediction_log]}

    def save(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` to ``path`` (``torch.save``; reads back with ``weights_only=True``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), path)
        return path
