"""Structured-config schemas (dataclasses in Hydra's ConfigStore): a misspelled key or a wrong type is one
clear error at composition, before anything runs.

Each module holds the schemas of one concept and a ``register(cs)`` that stores them; the entry scripts and
the tests call :func:`register_configs` once before composing. Nothing is registered at import.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from kdnas.pipelines.schemas import budget, deploy, evaluation, search


def register_configs() -> None:
    """Store every schema (idempotent: storing the same node twice replaces it)."""
    cs = ConfigStore.instance()
    for module in (search, budget, evaluation, deploy):
        module.register(cs)
