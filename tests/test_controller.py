"""Controllers: a shared contract suite (every controller must pass it), then what each one learns."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.controllers import (
    Controller,
    EpsilonGreedyController,
    EvolutionController,
    LSTMController,
    MLPController,
    RandomController,
)
from kdnas.nas.controllers.base import spearman
from kdnas.nas.space import SearchSpace
from tests.conftest import load_space

CONF = Path(__file__).resolve().parents[1] / "conf" / "controller"

ME5: SearchSpace = load_space("me5_small")  # type: ignore[assignment]
TINY = SearchSpace(
    num_hidden_layers=[1, 2],
    hidden_size=[64],
    num_attention_heads=[2, 4],
    intermediate_size=[64, 128],
    hidden_act=["gelu", "relu"],
)  # 16 architectures

Factory = Callable[..., Controller]
FAST: dict[str, Factory] = {
    # a small population, so the suite's few episodes reach the mutations (and, on TINY, their exhaustion)
    "evolution": lambda space, **kw: EvolutionController(space, population=8, tournament=3, **kw),
    "lstm": lambda space, **kw: LSTMController(space, train_steps=5, pool_size=32, **kw),
    "lstm_features": lambda space, **kw: LSTMController(space, train_steps=5, pool_size=32, encoding="features", **kw),
    "mlp": lambda space, **kw: MLPController(space, train_steps=5, pool_size=32, **kw),
    "random": lambda space, **kw: RandomController(space, **kw),
}


def synthetic_reward(a: ArchSpec) -> float:
    """A smooth reward of the architecture with an interaction term (what the predictors must learn)."""
    return (
        -0.05 * (a.num_hidden_layers - 3) ** 2
        + 0.2 * math.log(a.hidden_size / 128)
        + 0.05 * math.log(a.intermediate_size / 256)
        - 0.1 * (a.hidden_act == "relu")
        - 0.02 * abs(a.head_dim - 48) / 16
        - 0.03 * a.num_hidden_layers * (a.hidden_act == "silu")
    )


def run_search(ctrl: Controller, episodes: int, k: int, exclude: set[str] | None = None) -> list[list[ArchSpec]]:
    """Ask/tell loop with the synthetic reward; returns every episode's proposal."""
    proposals = []
    for _ in range(episodes):
        archs = [p.arch for p in ctrl.ask(k, exclude=exclude or set())]
        proposals.append(archs)
        if archs:
            ctrl.tell(archs, [synthetic_reward(a) for a in archs])
    return proposals


# --------------------------------------------------------------------------------------------------
# contract: every controller
@pytest.fixture(params=sorted(FAST))
def make(request: pytest.FixtureRequest) -> Factory:
    return FAST[request.param]


def test_never_proposes_told_excluded_or_duplicates(make: Factory) -> None:
    ctrl = make(ME5)
    rng = np.random.default_rng(0)
    outside = {a.arch_id for a in ME5.sample(np.random.default_rng(99), 300)}  # e.g. from an earlier run
    told: set[str] = set()
    for episode in range(8):
        assert ctrl.episode == episode
        proposals = ctrl.ask(12, exclude=outside)
        ids = [p.arch.arch_id for p in proposals]
        assert len(ids) == 12 and len(set(ids)) == 12
        assert not set(ids) & (outside | told)
        assert all(p.arch in ME5 for p in proposals)
        ctrl.tell([p.arch for p in proposals], rng.random(len(proposals)))
        told |= set(ids)
    # what the controller was told it never proposes again, even when the caller excludes nothing
    assert not {p.arch.arch_id for p in ctrl.ask(50)} & ctrl.observed_ids


def test_modes_name_how_each_pick_was_made(make: Factory) -> None:
    ctrl = make(ME5)
    first = ctrl.ask(6)
    random_first = isinstance(ctrl, RandomController | EvolutionController)  # the rest: epsilon 1.0 at episode 0
    assert {p.mode for p in first} == ({"random"} if random_first else {"explore"})
    ctrl.tell([p.arch for p in first], [synthetic_reward(p.arch) for p in first])
    assert {p.mode for p in ctrl.ask(20)} <= {"random", "explore", "exploit", "mutation"}


def test_exhausting_the_space(make: Factory) -> None:
    proposals = run_search(make(TINY), episodes=5, k=5)
    assert [len(p) for p in proposals] == [5, 5, 5, 1, 0]
    ids = [a.arch_id for p in proposals for a in p]
    assert sorted(ids) == sorted(a.arch_id for a in TINY.all_valid())


def test_same_seed_same_proposals(make: Factory) -> None:
    first = run_search(make(ME5, seed=3), episodes=4, k=8)
    assert first == run_search(make(ME5, seed=3), episodes=4, k=8)
    assert first != run_search(make(ME5, seed=4), episodes=4, k=8)
    ctrl = make(ME5, seed=3)
    assert ctrl.ask(8) == ctrl.ask(8)  # asking is deterministic: no hidden state advances


def test_retelling_the_history_resumes_exactly(make: Factory) -> None:
    """A resumed search rebuilds its controller by telling it the stored episodes again: it must then ask
    what the original would have."""
    ctrl = make(ME5, seed=1)
    history = run_search(ctrl, episodes=3, k=6)
    resumed = make(ME5, seed=1)
    for archs in history:
        resumed.tell(archs, [synthetic_reward(a) for a in archs])
    assert resumed.history == ctrl.history and resumed.prediction_log == ctrl.prediction_log
    probe = ME5.all_valid()[::97]
    np.testing.assert_allclose(resumed.predict(probe), ctrl.predict(probe), rtol=1e-6, atol=1e-9)
    assert resumed.ask(6) == ctrl.ask(6)


def test_save_writes_a_weights_only_state(make: Factory, tmp_path: Path) -> None:
    ctrl = make(ME5, seed=1)
    run_search(ctrl, episodes=3, k=6)
    state = torch.load(ctrl.save(tmp_path / "ctrl" / "controller.pt"), weights_only=True)
    assert state["class"] == type(ctrl).__name__
    assert len(state["history"]) == 18 and state["prediction_log"] == ctrl.prediction_log
    assert SearchSpace.from_dict(state["space"]) == ME5


def test_tell_rejects_bad_input(make: Factory) -> None:
    ctrl = make(TINY)
    a, b = TINY.all_valid()[:2]
    with pytest.raises(ValueError, match="rewards"):
        ctrl.tell([a, b], [0.1])
    with pytest.raises(ValueError, match="twice"):
        ctrl.tell([a, a], [0.1, 0.2])
    with pytest.raises(ValueError, match="not in the search space"):
        ctrl.tell([ArchSpec(3, 64, 2, 64, "gelu")], [0.1])
    ctrl.tell([a], [0.1])
    with pytest.raises(ValueError, match="already observed"):
        ctrl.tell([a], [0.1])
    with pytest.raises(ValueError, match="k must be"):
        ctrl.ask(-1)


def test_failed_candidates_are_kept_but_not_trained_on(make: Factory) -> None:
    ctrl = make(TINY)
    archs = TINY.all_valid()[:4]
    ctrl.tell(archs, [0.3, math.nan, 0.5, 0.1])
    assert ctrl.history[1].failed
    assert archs[1].arch_id in ctrl.observed_ids
    assert ctrl.best(2) == [(archs[2], 0.5), (archs[0], 0.3)]
    assert ctrl.context() == (archs[2], archs[2])
    proposed = [p.arch for p in ctrl.ask(16)]
    assert len(proposed) == 12 and archs[1] not in proposed
    assert np.isfinite(ctrl.predict(proposed)).all()


def test_controller_configs_instantiate() -> None:
    for name, cls in (("lstm", LSTMController), ("mlp", MLPController), ("random", RandomController),
                      ("evolution", EvolutionController)):
        node = OmegaConf.load(CONF / f"{name}.yaml")
        node.pop("defaults")  # the schema (checked in test_configs.py); the values are what matters here
        root = OmegaConf.create({"search": {"seed": 0, "pool_size": 200}, "controller": node})
        cfg = root.controller  # the seed interpolates ${search.seed}, as in search.yaml
        assert cfg["_partial_"] is True
        ctrl = instantiate(cfg)(space=ME5)
        assert type(ctrl) is cls
        if isinstance(ctrl, EpsilonGreedyController):
            assert (ctrl.epsilon_start, ctrl.epsilon_decay, ctrl.epsilon_floor) == (1.0, 0.05, 0.05)
        if isinstance(ctrl, EvolutionController):
            assert (ctrl.population, ctrl.tournament) == (10, 5)


# --------------------------------------------------------------------------------------------------
# epsilon-greedy
def test_epsilon_schedule() -> None:
    ctrl = MLPController(TINY)
    assert [ctrl.epsilon(e) for e in (0, 1, 10)] == pytest.approx([1.0, 0.95, 0.5])
    assert ctrl.epsilon(18) == pytest.approx(0.1)
    assert ctrl.epsilon(19) == pytest.approx(0.05)
    assert ctrl.epsilon(100) == 0.05
    custom = LSTMController(TINY, epsilon_start=0.5, epsilon_decay=0.1, epsilon_floor=0.2)
    assert [custom.epsilon(e) for e in range(5)] == pytest.approx([0.5, 0.4, 0.3, 0.2, 0.2])


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"epsilon_start": 1.5}, "controller.epsilon_start"),
        ({"epsilon_decay": -0.1}, "controller.epsilon_decay"),
        ({"epsilon_floor": 0.5, "epsilon_start": 0.4}, "controller.epsilon_floor"),
        ({"lr": 0.0}, "controller.lr"),
        ({"train_steps": 0}, "controller.train_steps"),
        ({"embed_dim": 2.5}, "controller.embed_dim"),
        ({"hidden": -1}, "controller.hidden"),
    ],
)
def test_invalid_controller_settings(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        LSTMController(TINY, **kwargs)  # type: ignore[arg-type]


def test_exploration_follows_epsilon() -> None:
    ctrl = MLPController(ME5, train_steps=5, pool_size=8)
    assert {p.mode for p in ctrl.ask(20)} == {"explore"}  # epsilon 1.0
    for _ in range(10):  # ten episodes of 20 told: epsilon 0.5
        batch = [p.arch for p in ctrl.ask(20)]
        ctrl.tell(batch, [synthetic_reward(a) for a in batch])
    assert ctrl.epsilon(ctrl.episode) == pytest.approx(0.5)
    modes = [p.mode for p in ctrl.ask(400)]
    assert 0.4 < modes.count("explore") / len(modes) < 0.6


def test_exploit_takes_the_top_predicted() -> None:
    ctrl = MLPController(ME5, train_steps=20, epsilon_start=0.0, epsilon_floor=0.0, pool_size=ME5.size)
    first = ME5.sample(np.random.default_rng(0), 20)
    ctrl.tell(first, [synthetic_reward(a) for a in first])
    seen = {a.arch_id for a in first}
    # pool = every unseen architecture: the proposal is the predictor's top-k, best first
    proposals = ctrl.ask(5)
    assert [p.mode for p in proposals] == ["exploit"] * 5
    got = [p.arch for p in proposals]
    unseen = [a for a in ME5.all_valid() if a.arch_id not in seen]
    scores = ctrl.predict(unseen)
    top = [unseen[i] for i in np.argsort(-scores, kind="stable")[:5]]
    assert got == top


# --------------------------------------------------------------------------------------------------
# learning
@pytest.mark.parametrize("cls", [LSTMController, MLPController])
def test_predictor_learns_a_synthetic_reward(cls: type[LSTMController]) -> None:
    archs = ME5.sample(np.random.default_rng(0), 200)
    train, held_out = archs[:100], archs[100:]
    ctrl = cls(ME5, seed=0)  # the defaults: 300 steps an update
    for episode in range(5):  # 5 episodes x 20, so the LSTM sees several contexts
        batch = train[20 * episode : 20 * (episode + 1)]
        ctrl.tell(batch, [synthetic_reward(a) for a in batch])
    truth = [synthetic_reward(a) for a in held_out]
    rho = spearman(ctrl.predict(held_out), truth)
    print(f"{cls.__name__}: held-out Spearman {rho:.3f}")
    assert rho >= 0.8
    # the log of out-of-sample predictions: one entry per episode after the first
    assert [r["episode"] for r in ctrl.prediction_log] == [1, 2, 3, 4]
    assert ctrl.prediction_log[-1]["spearman"] >= 0.7
    assert ctrl.prediction_log[-1]["mse"] < np.var(truth)
    # rows were stored with the context that held when they were measured
    assert ctrl.history[0].prev_best is None and ctrl.history[0].global_best is None
    ep0 = [o for o in ctrl.history if o.episode == 0]
    best0 = max(ep0, key=lambda o: o.reward).arch
    assert all(o.prev_best == best0 == o.global_best for o in ctrl.history if o.episode == 1)


def test_training_is_quiet_and_leaves_global_state(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    threads = torch.get_num_threads()
    rng_state = torch.random.get_rng_state()
    with caplog.at_level(logging.INFO):
        ctrl = LSTMController(TINY, train_steps=3)
        ctrl.tell(TINY.all_valid()[:4], [0.1, 0.2, 0.3, 0.4])
    assert not [r for r in caplog.records if r.name.startswith("lightning")]
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert not ctrl.predictor.training


def test_random_controller_predicts_zeros() -> None:
    ctrl = RandomController(TINY)
    np.testing.assert_array_equal(ctrl.predict(TINY.all_valid()[:3]), np.zeros(3))
    run_search(ctrl, episodes=2, k=4)
    assert ctrl.prediction_log == []


def test_spearman_helper() -> None:
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1], [2]))
