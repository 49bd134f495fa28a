"""Schema of the ``eval`` group, derived from :class:`~kdnas.evaluate.suite.EvalSuite`'s fields.

``conf/eval/*.yaml`` start with ``defaults: [schema, _self_]``, so ``eval.n_candidatez=5`` or
``eval.n_candidates=many`` is one clear error at composition. The ranges (``>= 1``, known tasks,
``min_candidates <= n_candidates``) are ``EvalSuite``'s own checks.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from kdnas.evaluate.suite import EvalSuite
from kdnas.pipelines.schemas.derive import schema_for

EvalSuiteConfig = schema_for(EvalSuite)


def register(cs: ConfigStore) -> None:
    """Store the ``eval`` group's schema as ``eval/schema``."""
    cs.store(group="eval", name="schema", node=EvalSuiteConfig)
