"""Schemas of the ``deploy`` settings (see :mod:`kdnas.pipelines.schemas`)."""

from __future__ import annotations

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

from kdnas.models.onnx import DEFAULT_OPSET


@dataclass
class DeployConfig:
    """``conf/deploy/*.yaml``: the keyword arguments of :func:`kdnas.deploy.bundle.export_student`.

    ``out_dir`` ``None`` writes to Hydra's run directory; ``student_dir`` is the top-level ``student`` key.
    """

    _target_: str = "kdnas.deploy.bundle.export_student"
    out_dir: str | None = None
    int8: bool = True
    per_channel: bool = True
    opset: int = DEFAULT_OPSET
    strict: bool = False


def register(cs: ConfigStore) -> None:
    """Store :class:`DeployConfig` as ``deploy/schema`` (``conf/deploy/*.yaml`` list it in their defaults)."""
    cs.store(group="deploy", name="schema", node=DeployConfig)
