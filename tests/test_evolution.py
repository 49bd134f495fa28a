"""Regularised evolution: the population ages, tournaments pick the best, children are one-dimension mutations,
and it beats random search on a synthetic reward (the contract suite is in test_controller.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.controllers import Controller, EvolutionController, Proposal, RandomController
from kdnas.nas.space import DIMENSIONS
from tests.test_controller import ME5, TINY, synthetic_reward


def differing(a: ArchSpec, b: ArchSpec) -> int:
    """In how many dimensions two architectures differ."""
    return sum(getattr(a, d) != getattr(b, d) for d in DIMENSIONS)


def tell_synthetic(ctrl: Controller, archs: list[ArchSpec]) -> None:
    ctrl.tell(archs, [synthetic_reward(a) for a in archs])


def test_random_until_the_population_is_full_then_mutations_of_members() -> None:
    ctrl = EvolutionController(ME5, seed=0, population=10, tournament=3)
    first = ctrl.ask(6)
    assert {p.mode for p in first} == {"random"}
    tell_synthetic(ctrl, [p.arch for p in first])
    assert {p.mode for p in ctrl.ask(3)} == {"random"}  # 6 of 10 members: still the initial population
    tell_synthetic(ctrl, ME5.sample(np.random.default_rng(5), 4, exclude=ctrl.observed_ids))
    members = [o.arch for o in ctrl.members]
    assert len(members) == 10
    children = ctrl.ask(30)
    assert {p.mode for p in children} == {"mutation"}  # the space is large: a neighbour is always left
    assert len({p.arch.arch_id for p in children}) == 30
    assert all(any(differing(p.arch, m) == 1 for m in members) for p in children)


def test_a_whole_population_tournament_always_mutates_the_best_member() -> None:
    ctrl = EvolutionController(ME5, seed=2, population=12, tournament=12)
    tell_synthetic(ctrl, ME5.sample(np.random.default_rng(0), 12))
    best = max(ctrl.members, key=lambda o: o.reward).arch
    children = [p.arch for p in ctrl.ask(10)]
    assert all(differing(c, best) == 1 for c in children)
    # every dimension can mutate (each has several values): ten children do not all change the same one
    assert len({next(d for d in DIMENSIONS if getattr(c, d) != getattr(best, d)) for c in children}) > 1


def test_the_oldest_leaves_not_the_worst_and_failures_never_enter() -> None:
    archs = ME5.sample(np.random.default_rng(1), 8)
    ctrl = EvolutionController(ME5, seed=0, population=4, tournament=4)
    ctrl.tell(archs[:4], [1.0, 0.1, 0.2, 0.3])  # the oldest is by far the best
    ctrl.tell(archs[4:6], [math.nan, 0.0])  # one failure, one new (the worst so far)
    assert [o.arch for o in ctrl.members] == [archs[1], archs[2], archs[3], archs[5]]
    # the tournament (the whole population) now mutates archs[3], the best member, not the departed archs[0]
    assert all(differing(p.arch, archs[3]) == 1 for p in ctrl.ask(5))
    ctrl.tell(archs[6:8], [math.nan, math.nan])
    assert [o.arch for o in ctrl.members] == [archs[1], archs[2], archs[3], archs[5]]


def test_failures_do_not_fill_the_initial_population() -> None:
    ctrl = EvolutionController(TINY, seed=0, population=3, tournament=2)
    ctrl.tell(TINY.all_valid()[:4], [math.nan, 0.1, math.nan, 0.2])
    assert len(ctrl.members) == 2 and {p.mode for p in ctrl.ask(5)} == {"random"}


def test_an_exhausted_neighbourhood_falls_back_to_random() -> None:
    # TINY has one width, so an architecture has 4 neighbours (layers, heads, FFN, activation)
    parent = TINY.all_valid()[0]
    neighbours = [a for a in TINY.all_valid() if differing(a, parent) == 1]
    assert len(neighbours) == 4
    ctrl = EvolutionController(TINY, seed=0, population=1, tournament=1)
    ctrl.tell(neighbours[:3], [0.0, 0.0, 0.0])
    ctrl.tell([parent], [1.0])  # the whole population: its neighbours are told but one
    proposals = ctrl.ask(3)
    assert proposals[0] == Proposal(neighbours[3], "mutation")
    assert [p.mode for p in proposals[1:]] == ["random", "random"]  # nothing left to mutate into
    assert not {p.arch.arch_id for p in proposals[1:]} & {a.arch_id for a in [parent, *neighbours]}


def test_excluded_architectures_are_not_children() -> None:
    ctrl = EvolutionController(TINY, seed=0, population=1, tournament=1)
    parent = TINY.all_valid()[0]
    ctrl.tell([parent], [1.0])
    neighbours = {a.arch_id for a in TINY.all_valid() if differing(a, parent) == 1}
    proposals = ctrl.ask(4, exclude=neighbours)
    assert {p.mode for p in proposals} == {"random"} and not {p.arch.arch_id for p in proposals} & neighbours


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"population": 0}, "controller.population"), ({"population": 2.5}, "controller.population"),
     ({"tournament": 0}, "controller.tournament"), ({"population": 4, "tournament": 5}, "controller.tournament"),
     ({"tournament": True}, "controller.tournament")],
)
def test_invalid_settings(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        EvolutionController(TINY, **kwargs)  # type: ignore[arg-type]


def best_after(ctrl: Controller, evaluations: int, k: int) -> float:
    """Best synthetic reward found after ``evaluations`` candidates told ``k`` at a time."""
    best = -math.inf
    for _ in range(math.ceil(evaluations / k)):
        archs = [p.arch for p in ctrl.ask(k)]
        tell_synthetic(ctrl, archs)
        best = max(best, *(synthetic_reward(a) for a in archs))
    return best


def test_evolution_beats_random_search_on_a_synthetic_reward() -> None:
    """The defaults (population 10, tournament 5), 40 evaluations 4 an episode on me5_small's 1,710, 10 seeds."""
    seeds = range(10)
    evolution = [best_after(EvolutionController(ME5, seed=s), 40, 4) for s in seeds]
    random = [best_after(RandomController(ME5, seed=s), 40, 4) for s in seeds]
    rewards = np.sort([synthetic_reward(a) for a in ME5.all_valid()])[::-1]
    top = float(rewards[16])  # the 17th best: the top 1% of the space
    print(f"median best after 40: evolution {np.median(evolution):.4f}, random {np.median(random):.4f}, "
          f"top-1% threshold {top:.4f}, optimum {rewards[0]:.4f}")
    assert np.median(evolution) > np.median(random)
    assert np.median(evolution) >= top  # in the top 1%: not merely a lucky draw of the initial population
