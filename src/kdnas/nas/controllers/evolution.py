"""Regularised (aging) evolution: Real et al., 2019, "Regularized Evolution for Image Classifier Architecture
Search" (AAAI; arXiv:1802.01548). A strong, predictor-free baseline for the learned controllers.

The population is the ``population`` most recently measured architectures (failures excluded): a newly told
one pushes out the *oldest*, not the worst, so an architecture stays a parent only while it is young, and a
lucky early reward cannot dominate for ever (the "regularisation"). Each proposal samples ``tournament``
distinct members uniformly, takes the highest measured reward (ties: the first sampled) and mutates it:
one dimension, chosen uniformly, changes to another value of the space, so that the child is valid, unseen,
not excluded and not already proposed in this ``ask``; when a dimension has no such value another is tried,
and when none has, the proposal is a uniformly random architecture instead. Until the population is full
the proposals are uniformly random (the paper's random initial population).

Within one ``ask(k)`` every child comes from the same population (the batch is measured together), as in
the paper's asynchronous workers that sample before their peers report. Everything is a function of the
told history and ``default_rng([seed, episode])``, so re-telling the history resumes exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.controllers.base import Controller, Observation, Proposal
from kdnas.nas.space import DIMENSIONS, SearchSpace
from kdnas.utils.checks import is_int

Key = tuple[Any, ...]


def _key(arch: ArchSpec) -> Key:
    """The architecture's field values in :data:`DIMENSIONS` order (a neighbour differs in one position)."""
    return tuple(getattr(arch, d) for d in DIMENSIONS)


class EvolutionController(Controller):
    """Aging evolution with tournament selection and one-dimension mutations; no reward predictor.

    Modes: ``random`` (the initial population, or no unseen neighbour of the parent is left) and
    ``mutation`` (a child of a tournament winner).

    Args:
        space, seed, latency_filter: as in :class:`~kdnas.nas.controllers.base.Controller` (a mutation is then
            drawn among the children the latency model lets through).
        population: how many of the most recently measured (non-failed) architectures are parents (>= 1).
        tournament: members sampled per proposal, the best of which is mutated (1 .. ``population``; 1 is a
            random walk from random members, ``population`` always mutates the best member).

    Raises:
        ConfigError: naming ``controller.<key>`` for an out-of-range value.
    """

    has_predictor = False

    def __init__(self, space: SearchSpace, seed: int = 0, population: int = 10, tournament: int = 5,
                 latency_filter: float | None = None) -> None:
        super().__init__(space, seed, latency_filter)
        for key, value in (("population", population), ("tournament", tournament)):
            if not is_int(value) or value < 1:
                raise ConfigError(f"controller.{key}: must be an integer >= 1, got {value!r}")
        if tournament > population:
            raise ConfigError(f"controller.tournament: {tournament} is more than controller.population "
                              f"{population}; sample at most the whole population")
        self.population = int(population)
        self.tournament = int(tournament)

    @property
    def members(self) -> list[Observation]:
        """The current population, oldest first: the last ``population`` told observations that did not fail."""
        ok = [o for o in self.history if not o.failed]
        return ok[-self.population :]

    def _choose(self, rng: np.random.Generator, available: list[ArchSpec], k: int) -> list[Proposal]:
        members = self.members
        evolving = len(members) >= self.population
        left = {_key(a): a for a in available}  # unseen, not excluded, not yet chosen; grid order
        chosen: list[Proposal] = []
        for _ in range(k):
            child = self._mutate(rng, self._select(rng, members), left) if evolving else None
            if child is None:
                pool = list(left.values())
                child, mode = pool[int(rng.integers(len(pool)))], "random"
            else:
                mode = "mutation"
            del left[_key(child)]
            chosen.append(Proposal(child, mode))
        return chosen

    def _select(self, rng: np.random.Generator, members: list[Observation]) -> ArchSpec:
        """Tournament: the best of ``tournament`` members sampled without replacement."""
        sample = rng.choice(len(members), size=self.tournament, replace=False)
        rewards = [members[int(i)].reward for i in sample]
        return members[int(sample[int(np.argmax(rewards))])].arch

    def _mutate(self, rng: np.random.Generator, parent: ArchSpec, left: dict[Key, ArchSpec]) -> ArchSpec | None:
        """A child differing from ``parent`` in one dimension and still in ``left``; None if there is none."""
        base = _key(parent)
        for d in rng.permutation(len(DIMENSIONS)):
            d = int(d)
            options = [left[k] for v in getattr(self.space, DIMENSIONS[d]) if v != base[d]
                       and (k := (*base[:d], v, *base[d + 1 :])) in left]
            if options:
                return options[int(rng.integers(len(options)))]
        return None

    def predict(self, archs: Sequence[ArchSpec]) -> np.ndarray:
        """Zeros: evolution has no reward model (it ranks by measured rewards only)."""
        return np.zeros(len(archs))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "population": self.population, "tournament": self.tournament}
