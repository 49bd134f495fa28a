"""Epsilon-greedy proposals on top of any reward predictor (METHOD.md's schedule)."""

from __future__ import annotations

from typing import Any

import numpy as np

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.controllers.base import Controller, Proposal
from kdnas.nas.space import SearchSpace


class EpsilonGreedyController(Controller):
    """``epsilon(episode) = max(floor, start - decay * episode)``; each slot explores with probability epsilon.

    Exploring takes a uniformly random unseen architecture; exploiting scores a random pool of ``pool_size``
    unseen, not yet chosen architectures with :meth:`predict` and takes the highest.

    Args:
        space, seed, latency_filter: as in :class:`~kdnas.nas.controllers.base.Controller`.
        pool_size: architectures an exploit step scores (>= 1).
        epsilon_start, epsilon_decay, epsilon_floor: the schedule (METHOD.md: 1.0, 0.05, 0.05), in [0, 1].

    Raises:
        ConfigError: naming ``controller.<key>`` for an out-of-range value.
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        pool_size: int = 200,
        epsilon_start: float = 1.0,
        epsilon_decay: float = 0.05,
        epsilon_floor: float = 0.05,
        latency_filter: float | None = None,
    ) -> None:
        super().__init__(space, seed, latency_filter)
        for key, value in (("epsilon_start", epsilon_start), ("epsilon_decay", epsilon_decay),
                           ("epsilon_floor", epsilon_floor)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"controller.{key}: must be a number in [0, 1], got {value!r}")
        if epsilon_floor > epsilon_start:
            raise ConfigError(f"controller.epsilon_floor: {epsilon_floor} is above epsilon_start {epsilon_start}")
        if pool_size < 1:
            raise ConfigError(f"controller.pool_size: must be >= 1, got {pool_size!r}")
        self.pool_size = int(pool_size)
        self.epsilon_start = float(epsilon_start)
        self.epsilon_decay = float(epsilon_decay)
        self.epsilon_floor = float(epsilon_floor)

    def epsilon(self, episode: int) -> float:
        """Exploration probability at a 0-based episode."""
        return max(self.epsilon_floor, self.epsilon_start - self.epsilon_decay * episode)

    def _choose(self, rng: np.random.Generator, available: list[ArchSpec], k: int) -> list[Proposal]:
        eps = self.epsilon(self.episode)
        chosen: list[Proposal] = []
        for _ in range(k):
            if rng.random() < eps:
                i, mode = int(rng.integers(len(available))), "explore"
            else:
                pool = rng.choice(len(available), size=min(self.pool_size, len(available)), replace=False)
                scores = self.predict([available[int(j)] for j in pool])
                i, mode = int(pool[int(np.argmax(scores))]), "exploit"
            chosen.append(Proposal(available.pop(i), mode))  # pop: never twice in one episode
        return chosen

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pool_size": self.pool_size, "epsilon_start": self.epsilon_start,
                "epsilon_decay": self.epsilon_decay, "epsilon_floor": self.epsilon_floor}
