"""Schemas of the latency budgets (``conf/latency_budget/``) and their measurement profile.

``profile`` carries its own ``_target_``, so instantiating a budget builds a real
:class:`~kdnas.latency.profile.LatencyProfile` (a typed field, never a plain mapping).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore


@dataclass
class LatencyProfileConfig:
    """``latency_budget.profile``: :class:`kdnas.latency.profile.LatencyProfile` (see it for each field)."""

    _target_: str = "kdnas.latency.profile.LatencyProfile"
    device: str = "cpu"
    batch_size: int = 1
    seq_len: int = 128
    threads: int = 1
    runtime: str = "pytorch"
    warmup: int = 5
    repeats: int = 30
    min_seconds: float = 0.0


@dataclass
class LatencyBudgetConfig:
    """``latency_budget``: :class:`kdnas.nas.budget.LatencyBudget` (exactly one of speedup / max_ms)."""

    _target_: str = "kdnas.nas.budget.LatencyBudget"
    name: str = "custom"
    speedup: float | None = 7.0
    max_ms: float | None = None
    alpha: float = -0.07
    hard: bool = False
    margin: float = 0.0
    profile: LatencyProfileConfig = field(default_factory=LatencyProfileConfig)


def register(cs: ConfigStore) -> None:
    """Store ``latency_budget/schema``."""
    cs.store(group="latency_budget", name="schema", node=LatencyBudgetConfig)
