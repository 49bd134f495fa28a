"""A saved student -> a deployable bundle.

::

    export_student(student_dir, out_dir)            # ONNX fp32 + int8, checked against PyTorch
    build_bundle(student_dir, out_dir, teacher, settings, profile=..., ...)   # the whole bundle

A bundle holds the (vocabulary-pruned) student and its tokenizer, loadable with ``AutoModel`` and with
``SentenceTransformer`` (its sentence-transformers files are copied), ``model.onnx`` and ``model.int8.onnx``
with their checks (``onnx_check.json``), the latency card (``latency_card.json``:
:mod:`kdnas.deploy.latency_card`, the student re-timed beside its teacher against the budget it was
searched for) and a model card (``README.md``: :mod:`kdnas.deploy.model_card`). ``python deploy.py
student=DIR`` and ``train.py deploy=true`` build one (:mod:`kdnas.pipelines.deploy`).
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from kdnas.compress.prune_vocab import prune_vocabulary, weights_bytes
from kdnas.deploy.latency_card import latency_card
from kdnas.deploy.model_card import model_card
from kdnas.deploy.verify import check_onnx
from kdnas.errors import ConfigError
from kdnas.latency.profile import LatencyProfile
from kdnas.models.onnx import DEFAULT_OPSET, export_onnx, onnx_paths, quantize_onnx
from kdnas.models.sentence_transformers import write_sentence_transformers_files
from kdnas.models.teacher import Teacher
from kdnas.utils.io import write_json, write_text

__all__ = ["CHECK_FILENAME", "BundleSettings", "all_passed", "build_bundle", "export_model", "export_student"]
log = logging.getLogger(__name__)

#: The fidelity report written next to the ONNX files.
CHECK_FILENAME = "onnx_check.json"
_COPIED = ("config.json", "kdnas_arch.yaml")
#: the sentence-transformers files of a student directory (model-independent: copied into the bundle as they are)
SENTENCE_TRANSFORMERS_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
                               "1_Pooling", "2_Normalize")
LATENCY_CARD = "latency_card.json"


@dataclass
class BundleSettings:
    """What a bundle holds (``conf/bundle/``).

    Args:
        out_dir: where to write it (None: the run directory).
        prune_vocab: keep only the vocabulary pieces the training split uses (the student is mostly its
            250k-piece embedding table); the pruned model loads with plain ``AutoModel``.
        prune_min_count: keep the ids used at least this often.
        int8: also export the dynamically quantised ONNX model.
        per_channel: one int8 weight scale per output channel.
        opset: ONNX opset (>= 14).
        strict: a failed ONNX check raises instead of only failing the exit status.
        real_texts: how many real texts set the real-length latency (their median token length; 0: not timed).
        report: an evaluation report (``report.json``) the model card quotes (None: the one in the student's
            run directory, if any).
    """

    out_dir: str | None = None
    prune_vocab: bool = True
    prune_min_count: int = 1
    int8: bool = True
    per_channel: bool = True
    opset: int = DEFAULT_OPSET
    strict: bool = False
    real_texts: int = 500
    report: str | None = None


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
    return export_model(model, tokenizer, out_dir, int8=int8, opset=opset, per_channel=per_channel, strict=strict,
                        source=student_dir)


def export_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path, int8: bool = True, *, opset: int = DEFAULT_OPSET,
                 per_channel: bool = True, strict: bool = False, source: Path | None = None) -> dict[str, Any]:
    """The ONNX part of :func:`export_student` for a loaded model and tokenizer (``source``: where it came from)."""
    student_dir = source if source is not None else out_dir
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


def build_bundle(
    student_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    teacher: Teacher,
    settings: BundleSettings,
    *,
    profile: LatencyProfile,
    budget: dict[str, Any],
    target_speedup: float | None,
    train_texts: Sequence[str] = (),
    real_texts: Sequence[str] = (),
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the bundle of ``student_dir`` into ``out_dir`` (see the module docstring); returns its summary.

    Args:
        teacher: the teacher, timed beside the student and named in the model card.
        profile, budget, target_speedup: the latency profile, the budget as recorded, and the speed-up it asks
            (None: no verdict); see :func:`kdnas.deploy.latency_card.latency_card`.
        train_texts: the corpus the vocabulary is pruned to (ignored when ``settings.prune_vocab`` is off).
        real_texts: real inputs: their median token length is the real-length latency profile.
        report: the student's evaluation report (``report.json``), quoted in the model card.
    """
    from transformers import AutoModel, AutoTokenizer

    student_dir, out_dir = Path(student_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pruning = None
    if settings.prune_vocab and train_texts:
        pruning = prune_vocabulary(student_dir, train_texts, out_dir, prefix=teacher.text_prefix,
                                   min_count=settings.prune_min_count)
    else:
        AutoModel.from_pretrained(student_dir).save_pretrained(out_dir)
        AutoTokenizer.from_pretrained(student_dir).save_pretrained(out_dir)
    if (student_dir / "modules.json").is_file():
        for name in SENTENCE_TRANSFORMERS_FILES:
            src = student_dir / name
            if src.is_dir():
                shutil.copytree(src, out_dir / name, dirs_exist_ok=True)
            elif src.is_file():
                shutil.copyfile(src, out_dir / name)
    else:  # a student saved without them (older kdnas, another tool): the teacher's conventions
        write_sentence_transformers_files(out_dir, teacher.prompts, teacher.normalize)
    if (student_dir / "kdnas_arch.yaml").is_file():
        shutil.copyfile(student_dir / "kdnas_arch.yaml", out_dir / "kdnas_arch.yaml")
    model = AutoModel.from_pretrained(out_dir).eval()  # loaded once: exported, then timed
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    onnx = export_model(model, tokenizer, out_dir, int8=settings.int8, opset=settings.opset,
                        per_channel=settings.per_channel, strict=settings.strict)
    lengths = [len(ids) for ids in tokenizer([teacher.text_prefix + t for t in real_texts[: settings.real_texts]],
                                             truncation=True, max_length=profile.max_tokens)["input_ids"]]
    real_len = int(statistics.median(lengths)) if lengths and settings.real_texts else None
    card = latency_card(model, teacher.model, profile, real_len, target_speedup, budget)
    write_json(out_dir / LATENCY_CARD, card)
    teacher_dir = Path(teacher.source)
    sizes = {"teacher_fp32": weights_bytes(teacher_dir) if (teacher_dir / "config.json").is_file() else 0,
             "student_fp32": weights_bytes(student_dir), "bundle_pytorch": weights_bytes(out_dir),
             **{f"onnx_{k}": Path(v).stat().st_size for k, v in onnx["files"].items()}}
    write_text(out_dir / "README.md", model_card(teacher, model.config, card, onnx, sizes, pruning, report))
    if card.get("meets_budget") is False:
        log.warning("the student misses its budget: %.2fx measured beside the teacher, %.2fx needed (%s)",
                    card["measured_speedup"], card["target_speedup"], budget.get("name", "?"))
    return {"out_dir": str(out_dir), "onnx": onnx, "latency_card": card, "sizes": sizes, "pruning": pruning}
