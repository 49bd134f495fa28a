"""``python deploy.py student=DIR``: a saved student -> a checked ONNX bundle (:mod:`kdnas.deploy.bundle`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from kdnas.errors import ConfigError
from kdnas.pipelines.common import output_dir

log = logging.getLogger(__name__)


def deploy(cfg: DictConfig) -> dict[str, Any]:
    """Export ``cfg.student`` with ``cfg.deploy`` (``export_student``'s arguments) into the bundle directory.

    The bundle directory is ``deploy.out_dir``, or Hydra's run directory when that is null. Returns
    :func:`~kdnas.deploy.bundle.export_student`'s result (also in ``onnx_check.json`` there).

    Raises:
        ConfigError: ``student`` names neither a model directory nor a ``train.py`` run directory.
    """
    student = student_dir(str(cfg.student))
    out_dir = Path(cfg.deploy.out_dir) if cfg.deploy.get("out_dir") else output_dir(cfg)
    result: dict[str, Any] = hydra.utils.instantiate(cfg.deploy, student_dir=str(student), out_dir=str(out_dir))
    for kind in ("fp32", "int8"):
        if kind in result:
            check = result[kind]
            log.info("%s %s: %s (max_abs_diff %.3g, cosine_min %.5f; %s)", kind, result["files"][kind],
                     "passed" if check["passed"] else "FAILED", check["max_abs_diff"], check["cosine_min"],
                     check["criterion"])  # fmt: skip
    log.info("bundle in %s (checks in onnx_check.json)", out_dir)
    return result


def student_dir(student: str) -> Path:
    """The model directory ``student`` names: itself, or the ``student/`` of a ``train.py`` run directory.

    Raises:
        ConfigError: neither holds a ``config.json``.
    """
    path = Path(student).expanduser()
    for candidate in (path, path / "student"):
        if (candidate / "config.json").is_file():
            return candidate
    what = "does not exist" if not path.exists() else "is not a model directory (no config.json)"
    raise ConfigError(
        f"student={student} {what}: pass the student/ directory written by train.py (outputs/train/<run>/student)"
    )
