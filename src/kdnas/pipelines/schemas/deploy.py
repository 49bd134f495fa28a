"""Schema of the ``deploy`` group: :func:`kdnas.deploy.bundle.export_student`'s settings, from its signature.

``student_dir`` is the top-level ``student`` key; ``out_dir`` ``null`` writes to Hydra's run directory.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from kdnas.deploy.bundle import export_student
from kdnas.pipelines.schemas.derive import schema_for

DeployConfig = schema_for(export_student, exclude=("student_dir",), overrides={"out_dir": (str | None, None)})


def register(cs: ConfigStore) -> None:
    """Store the schema as ``deploy/schema`` (``conf/deploy/*.yaml`` list it in their defaults)."""
    cs.store(group="deploy", name="schema", node=DeployConfig)
