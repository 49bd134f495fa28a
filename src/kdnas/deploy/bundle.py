"""A saved student -> a deployable directory: ONNX files (fp32, int8), tokenizer, config, fidelity report.

::

    export_student(student_dir, out_dir)   # all of it for a ``train.py`` student directory

``python deploy.py student=DIR`` runs it from the command line (:mod:`kdnas.pipelines.deploy`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from kdnas.deploy.verify import check_onnx
from kdnas.errors import ConfigError
from kdnas.models.onnx import DEFAULT_OPSET, export_onnx, onnx_paths, quantize_onnx
from kdnas.utils.io import write_json

__all__ = ["CHECK_FILENAME", "all_passed", "export_student"]

#: The fidelity report written next to the ONNX files.
CHECK_FILENAME = "onnx_check.json"
_COPIED = ("config.json", "kdnas_arch.yaml")


def export_student(
    student_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    int8: bool = True,
    *,
    opset: int = DEFAULT_OPSET,
    per_channel: bool = True,
    strict: bool = False,
) -> dict[str, Any]:
    """Export a saved student (``train.py``'s ``student/``) to a deployable ONNX directory.

    ``out_dir`` receives ``model.onnx`` (and ``model.int8.onnx``), a copy of the tokenizer files
    (``tokenizer.save_pretrained``), ``config.json`` and, when present, ``kdnas_arch.yaml``; both exports
    are checked against PyTorch with :func:`~kdnas.deploy.verify.check_onnx` on
    :data:`~kdnas.deploy.verify.CHECK_TEXTS`, and the results are also written to ``out_dir/onnx_check.json``.

    Args:
        student_dir: A directory loadable with ``AutoModel`` / ``AutoTokenizer``.
        out_dir: Where to write (created; existing files of the same names are replaced).
        int8: Also write and check the int8 model.
        opset: ONNX opset.
        per_channel: Per-channel int8 weight scales.
        strict: Raise ``RuntimeError`` when a check fails (otherwise ``passed`` is ``False`` in the result).

    Returns:
        ``{"student_dir", "out_dir", "files": {"fp32", "int8"?}, "fp32": check, "int8": check?}`` with the
        :func:`~kdnas.deploy.verify.check_onnx` dictionaries.

    Raises:
        ConfigError: ``student_dir`` is not a model directory.
    """
    from transformers import AutoModel, AutoTokenizer

    student_dir, out_dir = Path(student_dir), Path(out_dir)
    if not (student_dir / "config.json").is_file():
        raise ConfigError(
            f"export_student: {student_dir} is not a model directory (no config.json): pass the student/ "
            "directory written by train.py"
        )
    model = AutoModel.from_pretrained(student_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    for name in _COPIED:
        if (student_dir / name).is_file() and student_dir.resolve() != out_dir.resolve():
            shutil.copyfile(student_dir / name, out_dir / name)

    fp32_path, int8_path = onnx_paths(out_dir)
    export_onnx(model, fp32_path, opset=opset)
    result: dict[str, Any] = {
        "student_dir": str(student_dir),
        "out_dir": str(out_dir),
        "files": {"fp32": str(fp32_path)},
        "fp32": check_onnx(model, fp32_path, tokenizer, int8=False),
    }
    if int8:
        quantize_onnx(fp32_path, int8_path, per_channel=per_channel)
        result["files"]["int8"] = str(int8_path)
        result["int8"] = check_onnx(model, int8_path, tokenizer, int8=True)
    write_json(out_dir / CHECK_FILENAME, result, sort_keys=True)
    failed = _failed(result)
    if strict and failed:
        raise RuntimeError(
            f"export_student: ONNX check failed for {', '.join(failed)}: "
            + "; ".join(
                f"{k}: {result[k]['criterion']}, got cosine_min={result[k]['cosine_min']:.5f}, "
                f"max_abs_diff={result[k]['max_abs_diff']:.3g}"
                for k in failed
            )
        )
    return result


def all_passed(result: dict[str, Any]) -> bool:
    """Whether every check in an :func:`export_student` result passed."""
    return not _failed(result)


def _failed(result: dict[str, Any]) -> list[str]:
    return [kind for kind in ("fp32", "int8") if kind in result and not result[kind]["passed"]]
