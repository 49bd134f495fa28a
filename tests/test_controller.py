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
from kdnas.nas.controller import (
    Controller,
    EpsilonGreedyController,
    LSTMController,
    MLPController,
    RandomController,
    spearman,
)
from kdnas.nas.space import SearchSpace

CONF = Path(__file__).resolve().parents[1] / "conf" / "controller"

ME5 = SearchSpace.preset("me5_small")
TINY = SearchSpace(
    num_hidden_layers=[1, 2],
    hidden_size=[64],
    num_attention_heads=[2, 4],
    intermediate_size=[64, 128],
    hidden_act=["gelu", "relu"],
)  # 16 architectures

Factory = Callable[..., Controller]
FAST: dict[str, Factory] = {
    "lstm": lambda space, **kw: LSTMController(space, train_steps=5, **kw),
    "mlp": lambda space, **kw: MLPController(space, train_steps=5, **kw),
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


def run_search(
    ctrl: Controller, seed: int, episodes: int, k: int, pool_size: int = 32
) -> list[list[ArchSpec]]:
    """Propose/observe loop with the synthetic reward; returns every episode's proposal."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    proposals = []
    for episode in range(episodes):
        archs = ctrl.propose(ctrl.space, rng, k=k, pool_size=pool_size, seen=seen, episode=episode)
        proposals.append(archs)
        if archs:
            ctrl.observe(archs, [synthetic_reward(a) for a in archs])
        seen |= {a.arch_id for a in archs}
    return proposals


# --------------------------------------------------------------------------------------------------
# contract: every controller
@pytest.fixture(params=sorted(FAST))
def make(request: pytest.FixtureRequest) -> Factory:
    return FAST[request.param]


def test_never_proposes_seen_or_duplicates(make: Factory) -> None:
    ctrl = make(ME5)
    rng = np.random.default_rng(0)
    outside = {a.arch_id for a in ME5.sample(np.random.default_rng(99), 300)}  # e.g. from an earlier run
    seen = set(outside)
    for episode in range(8):
        archs = ctrl.propose(ME5, rng, k=12, pool_size=40, seen=seen, episode=episode)
        ids = [a.arch_id for a in archs]
        assert len(ids) == 12 and len(set(ids)) == 12
        assert not set(ids) & seen
        assert all(ME5.contains(a) for a in archs)
        ctrl.observe(archs, rng.random(len(archs)))
        seen |= set(ids)
    # the controller also remembers what it observed, even when the loop forgets to pass it
    again = ctrl.propose(ME5, rng, k=50, pool_size=40, seen=outside, episode=8)
    assert not {a.arch_id for a in again} & ctrl.observed_ids


def test_exhausting_the_space(make: Factory) -> None:
    proposals = run_search(make(TINY), seed=0, episodes=5, k=5)
    assert [len(p) for p in proposals] == [5, 5, 5, 1, 0]
    ids = [a.arch_id for p in proposals for a in p]
    assert sorted(ids) == sorted(a.arch_id for a in TINY.all_valid())


def test_same_seed_same_proposals(make: Factory) -> None:
    first = run_search(make(ME5, seed=3), seed=7, episodes=4, k=8)
    second = run_search(make(ME5, seed=3), seed=7, episodes=4, k=8)
    assert first == second
    other = run_search(make(ME5, seed=3), seed=8, episodes=4, k=8)
    assert other != first


def test_save_load_round_trip(make: Factory, tmp_path: Path) -> None:
    ctrl = make(ME5, seed=1)
    run_search(ctrl, seed=2, episodes=3, k=6)
    path = ctrl.save(tmp_path / "ctrl" / "controller.pt")
    loaded = Controller.load(path, space=ME5)
    assert type(loaded) is type(ctrl)
    assert loaded.history == ctrl.history
    assert loaded.prediction_log == ctrl.prediction_log
    assert loaded.episodes_observed == 3 and loaded.config() == ctrl.config()
    probe = ME5.all_valid()[::97]
    np.testing.assert_array_equal(loaded.predict(probe), ctrl.predict(probe))
    # A resumed search continues exactly as the original would.
    a = ctrl.propose(ME5, np.random.default_rng(5), k=6, pool_size=32, seen=set(), episode=3)
    b = loaded.propose(ME5, np.random.default_rng(5), k=6, pool_size=32, seen=set(), episode=3)
    assert a == b
    ctrl.observe(a, [synthetic_reward(x) for x in a])
    loaded.observe(b, [synthetic_reward(x) for x in b])
    np.testing.assert_allclose(loaded.predict(probe), ctrl.predict(probe), rtol=1e-6, atol=1e-9)

    with pytest.raises(ValueError, match="different search space"):
        Controller.load(path, space=TINY)
    wrong = MLPController if not isinstance(ctrl, MLPController) else LSTMController
    with pytest.raises(ValueError, match="not a"):
        wrong.load(path)


def test_observe_rejects_bad_input(make: Factory) -> None:
    ctrl = make(TINY)
    a, b = TINY.all_valid()[:2]
    with pytest.raises(ValueError, match="rewards"):
        ctrl.observe([a, b], [0.1])
    with pytest.raises(ValueError, match="twice"):
        ctrl.observe([a, a], [0.1, 0.2])
    with pytest.raises(ValueError, match="not in the search space"):
        ctrl.observe([ArchSpec(3, 64, 2, 64, "gelu")], [0.1])
    ctrl.observe([a], [0.1])
    with pytest.raises(ValueError, match="already observed"):
        ctrl.observe([a], [0.1])
    with pytest.raises(ValueError, match="space differs"):
        ctrl.propose(ME5, np.random.default_rng(0), k=1, pool_size=4, seen=set(), episode=0)


def test_failed_candidates_are_kept_but_not_trained_on(make: Factory) -> None:
    ctrl = make(TINY)
    archs = TINY.all_valid()[:4]
    ctrl.observe(archs, [0.3, math.nan, 0.5, 0.1])
    assert ctrl.history[1].failed
    assert archs[1].arch_id in ctrl.observed_ids
    assert ctrl.best(2) == [(archs[2], 0.5), (archs[0], 0.3)]
    assert ctrl.context() == (archs[2], archs[2])
    proposed = ctrl.propose(TINY, np.random.default_rng(0), k=16, pool_size=4, seen=set(), episode=1)
    assert len(proposed) == 12 and archs[1] not in proposed
    assert np.isfinite(ctrl.predict(proposed)).all()


def test_controller_configs_instantiate() -> None:
    for name, cls in (("lstm", LSTMController), ("mlp", MLPController), ("random", RandomController)):
        root = OmegaConf.create({"search": {"seed": 0}, "controller": OmegaConf.load(CONF / f"{name}.yaml")})
        cfg = root.controller  # the seed interpolates ${search.seed}, as in search.yaml
        assert cfg["_partial_"] is True
        ctrl = instantiate(cfg)(space=ME5)
        assert type(ctrl) is cls
        if isinstance(ctrl, EpsilonGreedyController):
            assert (ctrl.epsilon_start, ctrl.epsilon_decay, ctrl.epsilon_floor) == (1.0, 0.05, 0.05)


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
    ctrl = MLPController(ME5, train_steps=5)
    rng = np.random.default_rng(0)
    ctrl.propose(ME5, rng, k=20, pool_size=8, seen=set(), episode=0)
    assert ctrl.last_modes == ["explore"] * 20  # epsilon 1.0
    modes = []
    for _ in range(20):
        ctrl.propose(ME5, rng, k=20, pool_size=8, seen=set(), episode=10)  # epsilon 0.5
        modes += ctrl.last_modes
    assert 0.4 < modes.count("explore") / len(modes) < 0.6


def test_exploit_takes_the_top_predicted() -> None:
    ctrl = MLPController(ME5, train_steps=20, epsilon_start=0.0, epsilon_floor=0.0)
    first = ME5.sample(np.random.default_rng(0), 20)
    ctrl.observe(first, [synthetic_reward(a) for a in first])
    seen = {a.arch_id for a in first}
    # pool = every unseen architecture: the proposal is the predictor's top-k, best first
    got = ctrl.propose(ME5, np.random.default_rng(1), k=5, pool_size=ME5.size, seen=seen, episode=1)
    assert ctrl.last_modes == ["exploit"] * 5
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
        ctrl.observe(batch, [synthetic_reward(a) for a in batch])
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
        ctrl.observe(TINY.all_valid()[:4], [0.1, 0.2, 0.3, 0.4])
    assert not [r for r in caplog.records if r.name.startswith("lightning")]
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert not ctrl.training


def test_random_controller_predicts_zeros() -> None:
    ctrl = RandomController(TINY)
    np.testing.assert_array_equal(ctrl.predict(TINY.all_valid()[:3]), np.zeros(3))
    run_search(ctrl, seed=0, episodes=2, k=4)
    assert ctrl.prediction_log == []


def test_spearman_helper() -> None:
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1], [2]))
