"""Schemas of the search settings (``conf/search/``) and the controllers (``conf/controller/``).

Types are checked at composition (``search.episodez=3`` or ``search.episodes=many`` is one error before
anything runs); ranges are checked by :func:`check_search_settings` and by the controllers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import II

from kdnas.errors import ConfigError


@dataclass
class SearchSettings:
    """``search``: the episode loop's settings (README "Search settings")."""

    episodes: int = 5  # controller updates
    candidates_per_episode: int = 4  # top k distilled per episode
    pool_size: int = 200  # random unseen architectures the controller scores per exploit step
    proxy_steps: int = 40  # distillation steps per candidate on the proxy set
    # the first episode starts with up to this many architectures of the teacher's width, heads and
    # activation that meet the budget, deepest first; 0 = the controller's alone
    teacher_shaped_seeds: int = 2
    # time each candidate interleaved with the teacher instead of against one teacher measurement
    paired_latency: bool = True
    seed: int = II("seed")  # same seed -> same sequence of candidates
    check_budget: bool = True  # fail early if even the fastest architecture misses the budget
    # measurements shared across searches of the same setting: auto (cache directory), a path, or null
    shared_store: str | None = "auto"


#: the smallest value of each integer setting
MINIMUMS = {"episodes": 0, "candidates_per_episode": 1, "pool_size": 1, "proxy_steps": 1, "teacher_shaped_seeds": 0}


def check_search_settings(settings: object) -> None:
    """Ranges the types cannot express. Raises :class:`ConfigError` naming ``search.<key>``."""
    for key, minimum in MINIMUMS.items():
        value = getattr(settings, key)
        if value < minimum:
            raise ConfigError(f"search.{key}={value!r}: must be an integer >= {minimum}")


@dataclass
class RandomControllerConfig:
    """``controller=random``: :class:`kdnas.nas.controllers.RandomController` (the loop supplies ``space``)."""

    _target_: str = "kdnas.nas.controllers.RandomController"
    _partial_: bool = True
    seed: int = II("search.seed")


@dataclass
class NeuralControllerConfig:
    """``controller=lstm`` / ``mlp``: :class:`kdnas.nas.controllers.NeuralController` subclasses."""

    _target_: str = "kdnas.nas.controllers.LSTMController"
    _partial_: bool = True
    embed_dim: int = 32
    hidden: int = 32
    lr: float = 1e-3
    train_steps: int = 300
    batch_size: int = 32
    pool_size: int = II("search.pool_size")
    epsilon_start: float = 1.0
    epsilon_decay: float = 0.05
    epsilon_floor: float = 0.05
    seed: int = II("search.seed")


def register(cs: ConfigStore) -> None:
    """Store ``search/schema``, ``controller/random_schema`` and ``controller/neural_schema``."""
    cs.store(group="search", name="schema", node=SearchSettings)
    cs.store(group="controller", name="random_schema", node=RandomControllerConfig)
    cs.store(group="controller", name="neural_schema", node=NeuralControllerConfig)
