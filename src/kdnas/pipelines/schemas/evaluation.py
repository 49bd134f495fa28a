"""Schemas of the ``evaluation`` settings (see :mod:`kdnas.pipelines.schemas`).

``conf/eval/*.yaml`` start with ``defaults: [schema, _self_]``: the ``eval`` group's values are checked
against :class:`EvalSuiteConfig` (the fields of :class:`~kdnas.evaluate.suite.EvalSuite`, same types and
defaults), so ``eval.n_candidatez=5`` or ``eval.n_candidates=many`` is one clear error at composition.
The ranges (``>= 1``, known tasks, ``min_candidates <= n_candidates``) are ``EvalSuite``'s own checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from kdnas.evaluate.suite import CORPUS_TASKS, DEFAULT_LANGID_LANGUAGES, DEFAULT_LANGUAGES


@dataclass
class EvalSuiteConfig:
    """``eval``: instantiates :class:`kdnas.evaluate.suite.EvalSuite` (see it for each field)."""

    _target_: str = "kdnas.evaluate.suite.EvalSuite"
    tasks: list[str] = field(default_factory=lambda: list(CORPUS_TASKS))
    languages: list[str] = field(default_factory=lambda: list(DEFAULT_LANGUAGES))
    n_candidates: int = 500
    min_candidates: int = 200
    langid_languages: list[str] = field(default_factory=lambda: list(DEFAULT_LANGID_LANGUAGES))
    langid_train_per_language: int = 100
    langid_test_per_language: int = 100
    langid_min_train: int = 20
    langid_min_test: int = 10
    probe_max_iter: int = 200
    probe_l2: float = 1e-3
    hub_train_size: int = 2000
    hub_test_size: int = 1000
    hub_languages: dict[str, list[str]] = field(default_factory=dict)
    max_length: int = 64
    batch_size: int = 64
    device: str = "auto"
    threads: Any = "auto"  # auto, an integer or null: OmegaConf has no unions (EvalSuite checks it)
    dtype: str = "auto"
    seed: int = 0


def register(cs: ConfigStore) -> None:
    """Store the ``eval`` group's schema as ``eval/schema``."""
    cs.store(group="eval", name="schema", node=EvalSuiteConfig)
