"""Schemas of the search settings (``conf/search/``) and the controllers (``conf/controller/``, derived from
their constructors).

Types are checked at composition (``search.episodez=3`` or ``search.episodes=many`` is one error before
anything runs); ranges are checked by :func:`check_search_settings` and by the controllers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II

from kdnas.errors import ConfigError
from kdnas.nas.controllers import EvolutionController, LSTMController, MLPController, RandomController
from kdnas.pipelines.schemas.derive import schema_for


@dataclass
class SearchSettings:
    """``search``: the episode loop's settings (README "Search settings")."""

    episodes: int = 5  # controller updates
    candidates_per_episode: int = 4  # top k distilled per episode
    pool_size: int = 200  # random unseen architectures the controller scores per exploit step
    proxy_steps: int = 80  # distillation steps per candidate on the proxy set
    # distil each candidate on the proxy split's translation pairs with the final recipe's cross-lingual loss
    # (both sides' teacher states from the cache; batch_size counts pairs) instead of on its single texts
    proxy_paired: bool = False
    # the proxy's validation metric that is the candidate's loss: hidden (the hidden-state loss), relation (the
    # sentence-relation loss of the pooled last layer), total (the first plus distill.relation_weight x the second),
    # cka (1 - linear CKA of the split's pooled last layers) or knn (1 - their shared 10 nearest neighbours)
    proxy_objective: str = "cka"
    # the first episode starts with up to this many architectures of the teacher's width, heads and
    # activation that meet the budget, deepest first; 0 = the controller's alone
    teacher_shaped_seeds: int = 2
    # then up to this many of the architectures with the most non-embedding parameters that meet the budget (a few
    # of the largest timed untrained beside the teacher, none distilled); 0 = none
    size_seeds: int = 1
    # time each candidate interleaved with the teacher instead of against one teacher measurement
    paired_latency: bool = True
    # a timing whose coefficient of variation (student's or teacher's) exceeds this is repeated, up to
    # `retimes` more times, and the steadiest kept (null: never): a busy moment makes a reading, not a candidate
    retime_cv: float | None = 0.25
    retimes: int = 2
    seed: int = II("seed")  # same seed -> same sequence of candidates
    check_budget: bool = True  # fail early if even the fastest architecture misses the budget
    # measurements shared across searches of the same setting: auto (cache directory), a path, a database
    # URL (postgresql+psycopg://user@host/db, for a cluster), or null
    shared_store: str | None = "auto"
    # a job distilling a candidate of the shared store renews its lease; one not renewed this long is taken over
    lease_seconds: float = 120.0
    # search the shared store's measurements of this setting only: nothing distilled, no teacher forward
    replay: bool = False
    # the search.seed the replayed measurements were made with (search.seed then seeds the controller alone)
    replay_seed: int = II("seed")


#: the smallest value of each integer setting
MINIMUMS = {"episodes": 0, "candidates_per_episode": 1, "pool_size": 1, "proxy_steps": 1, "teacher_shaped_seeds": 0,
            "size_seeds": 0,
            "retimes": 0}

#: each ``search.proxy_objective``'s validation metric (:class:`kdnas.distill.module.DistillationModule`)
PROXY_OBJECTIVES = {"hidden": "val/loss", "relation": "val/relation_loss", "total": "val/total_loss",
                    "cka": "val/cka_loss", "knn": "val/knn_loss"}


def check_search_settings(settings: Any) -> None:
    """Ranges the types cannot express (``settings``: the composed ``search`` node). Raises :class:`ConfigError`
    naming ``search.<key>``."""
    for key, minimum in MINIMUMS.items():
        value = settings[key]
        if value < minimum:
            raise ConfigError(f"search.{key}={value!r}: must be an integer >= {minimum}")
    if settings.retime_cv is not None and settings.retime_cv <= 0:
        raise ConfigError(f"search.retime_cv={settings.retime_cv!r}: must be a positive coefficient of variation "
                          "(0.25: re-time a reading whose spread is a quarter of its mean), or null for never")
    if settings.proxy_objective not in PROXY_OBJECTIVES:
        raise ConfigError(f"search.proxy_objective={settings.proxy_objective!r} is not one of "
                          f"{list(PROXY_OBJECTIVES)}")
    if settings.lease_seconds <= 0:
        raise ConfigError(f"search.lease_seconds={settings.lease_seconds!r}: must be a positive number of seconds")


def register(cs: ConfigStore) -> None:
    """Store ``search/schema`` and one ``controller/<name>_schema`` per controller (from its signature)."""
    cs.store(group="search", name="schema", node=SearchSettings)
    for name, controller in (("random_schema", RandomController), ("lstm_schema", LSTMController),
                             ("mlp_schema", MLPController), ("evolution_schema", EvolutionController)):
        cs.store(group="controller", name=name, node=schema_for(controller, exclude=("space",), partial=True))
