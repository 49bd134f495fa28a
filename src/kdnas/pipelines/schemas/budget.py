"""Schemas of the ``budget`` settings (see :mod:`kdnas.pipelines.schemas`)."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore


def register(cs: ConfigStore) -> None:
    """Store this module's schemas (none yet)."""
