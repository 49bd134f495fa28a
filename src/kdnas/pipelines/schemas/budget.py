"""Schemas of the latency budgets (``conf/latency_budget/``), derived from :class:`~kdnas.nas.budget.LatencyBudget`.

``profile`` gets a nested schema with its own ``_target_``, so instantiating a budget builds a real
:class:`~kdnas.latency.profile.LatencyProfile` (a typed field, never a plain mapping).
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from kdnas.nas.budget import LatencyBudget
from kdnas.pipelines.schemas.derive import schema_for


def register(cs: ConfigStore) -> None:
    """Store ``latency_budget/schema``."""
    cs.store(group="latency_budget", name="schema", node=schema_for(LatencyBudget))
