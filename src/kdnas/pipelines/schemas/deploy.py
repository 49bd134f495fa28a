"""Schema of the ``bundle`` group: :class:`kdnas.deploy.bundle.BundleSettings`, from its fields."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from kdnas.deploy.bundle import BundleSettings
from kdnas.pipelines.schemas.derive import schema_for

BundleConfig = schema_for(BundleSettings)


def register(cs: ConfigStore) -> None:
    """Store the schema as ``bundle/schema`` (``conf/bundle/*.yaml`` list it in their defaults)."""
    cs.store(group="bundle", name="schema", node=BundleConfig)
