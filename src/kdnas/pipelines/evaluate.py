"""``python evaluate.py student=DIR``: a student against its teacher, measured in the same run.

For the student and the teacher: parameters (with and without the embedding matrix), weights on disk,
latency under the budget's profile (interleaved, so the speed-up is a ratio measured side by side; on CUDA
as well when torch sees a GPU), and every task of the evaluation suite on the same texts; then the retention
(student / teacher) per task and overall (:class:`kdnas.evaluate.compare.Comparison`). With
``prune_vocab=true`` the student's vocabulary is also pruned to the training split's and the pruned student
evaluated the same way; with ``onnx=true`` its ONNX export too (:mod:`kdnas.pipelines.evaluate_onnx`).
Writes ``report.json`` and ``report.md`` (a model card) in the run directory.

``student=teacher`` evaluates the configured teacher as its own student: a sanity check (retention 1.0,
speed-up ~1.0). ``student=`` also accepts a ``train.py`` run directory (its ``student/`` is used).
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from kdnas.errors import ConfigError
from kdnas.evaluate.compare import Comparison
from kdnas.evaluate.report import write_report
from kdnas.evaluate.student import TEACHER_KEYWORD, find_student_dir, load_student, teacher_as_student_dir
from kdnas.evaluate.suite import EvalSuite
from kdnas.pipelines.common import load_corpus, load_teacher, output_dir, resolve_latency_profile
from kdnas.pipelines.evaluate_onnx import evaluate_onnx

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.student`` against ``cfg.teacher``; returns the report written to ``report.json``."""
    if OmegaConf.is_missing(cfg, "student") or cfg.get("student") in (None, ""):
        raise ConfigError(
            "student is required: pass student=DIR (the student/ directory written by train.py) "
            f"or student={TEACHER_KEYWORD} (the teacher against itself)"
        )
    torch.manual_seed(int(cfg.seed))
    student = str(cfg.student)
    if student != TEACHER_KEYWORD:
        student_dir = find_student_dir(student)  # a bad path fails before the teacher and corpus load
    out = output_dir(cfg)
    comparison = comparison_from_config(cfg)
    if student == TEACHER_KEYWORD:
        student_dir = teacher_as_student_dir(comparison.teacher, out)
    return evaluate_student(student_dir, comparison, out, prune_vocab=bool(cfg.prune_vocab),
                            prune_min_count=int(cfg.prune_min_count), onnx=bool(cfg.onnx))


def comparison_from_config(cfg: DictConfig) -> Comparison:
    """The teacher's side of ``evaluate.py``'s evaluation under ``cfg`` (its teacher, corpus, ``eval`` suite and
    budget), to evaluate several students with :func:`evaluate_student`: the teacher is embedded once for all."""
    suite: EvalSuite = hydra.utils.instantiate(cfg.eval, _convert_="all")
    budget = hydra.utils.instantiate(cfg.latency_budget)
    teacher, corpus = load_teacher(cfg), load_corpus(cfg)
    return Comparison(teacher, corpus, suite, resolve_latency_profile(budget, teacher, corpus))


def evaluate_student(
    student_dir: Path,
    comparison: Comparison,
    out_dir: Path,
    *,
    prune_vocab: bool = False,
    prune_min_count: int = 1,
    onnx: bool = False,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate the student in ``student_dir`` against ``comparison``'s teacher; write ``report.json`` and
    ``report.md``. One ``comparison`` serves any number of students: the teacher is scored once.

    Args:
        student_dir: a ``save_pretrained`` directory (``train.py``'s ``student/``, or its run directory)
            or the teacher's own.
        comparison: the teacher's side (:class:`~kdnas.evaluate.compare.Comparison`: teacher, corpus, suite,
            budget), e.g. :func:`comparison_from_config`.
        out_dir: where the reports (and a pruned student, the ONNX files) are written.
        prune_vocab: also prune the student's vocabulary to the train split's and evaluate that student.
        prune_min_count: keep the ids used at least this often.
        onnx: also export the student to ONNX and evaluate it (:func:`~kdnas.pipelines.evaluate_onnx.evaluate_onnx`).
        command: the command line recorded in the report (default: this process's, ``sys.orig_argv``).

    Returns:
        The report (also written to ``out_dir/report.json``).

    Raises:
        ConfigError: not a model directory, or a tokenizer that is not the teacher's.
    """
    started = time.time()
    student_dir = find_student_dir(student_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_student(student_dir, comparison.teacher)
    argv = command if command is not None else sys.orig_argv[1:]
    report = comparison.report(comparison.evaluate(student_dir, model, tokenizer), shlex.join(["python", *argv]))
    if onnx:
        report["onnx"] = evaluate_onnx(comparison, student_dir, model, tokenizer, out_dir / "onnx")
    if prune_vocab:
        report["pruned"] = comparison.pruned(student_dir, out_dir / "student_pruned", prune_min_count)
    report["wall_seconds"] = round(time.time() - started, 1)
    json_path, md_path = write_report(report, out_dir)
    log.info("report written to %s and %s", json_path, md_path)
    return report
