"""``python deploy.py student=DIR`` (and ``train.py deploy=true``): a saved student -> its bundle
(:func:`kdnas.deploy.bundle.build_bundle`), re-timed beside the teacher against the budget it was searched for."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from kdnas.data.corpus import Corpus
from kdnas.deploy.bundle import BundleSettings, all_passed, build_bundle
from kdnas.evaluate.student import find_student_dir
from kdnas.latency.profile import LatencyProfile
from kdnas.models.arch import read_searched_for
from kdnas.models.teacher import Teacher
from kdnas.nas.budget import LatencyBudget
from kdnas.pipelines.common import load_corpus, load_teacher, output_dir, resolve_latency_profile

log = logging.getLogger(__name__)


def searched_budget(student_dir: Path, fallback: LatencyBudget) -> tuple[LatencyBudget, str]:
    """The budget recorded in the student's ``kdnas_arch.yaml`` by its search, else ``fallback`` (the config's)."""
    recorded = (read_searched_for(student_dir / "kdnas_arch.yaml") or {}).get("budget")
    if isinstance(recorded, dict):
        fields = {f.name for f in dataclasses.fields(LatencyBudget)}
        values = {k: v for k, v in recorded.items() if k in fields}
        values["profile"] = LatencyProfile.from_dict(dict(values.get("profile") or {}))
        return LatencyBudget(**values), "recorded by its search in kdnas_arch.yaml"
    return fallback, "from the latency_budget config (no search recorded)"


def deploy_student(student_dir: Path, out_dir: Path, teacher: Teacher, corpus: Corpus | None, cfg: DictConfig
                   ) -> dict[str, Any]:
    """Build the bundle of ``student_dir`` with the ``bundle`` settings, timed under its budget."""
    settings: BundleSettings = hydra.utils.instantiate(cfg.bundle)
    budget, source = searched_budget(student_dir, hydra.utils.instantiate(cfg.latency_budget))
    if corpus is not None:  # seq_len=corpus: the dev split's texts
        budget = resolve_latency_profile(budget, teacher, corpus)
    info = {"name": budget.name, "speedup": budget.speedup, "max_ms": budget.max_ms, "margin": budget.margin,
            "source": source}
    report_file = Path(settings.report) if settings.report else student_dir.parent / "report.json"
    result = build_bundle(
        student_dir, out_dir, teacher, settings, profile=budget.profile, budget=info, target_speedup=budget.speedup,
        train_texts=corpus.texts("train") if corpus is not None and settings.prune_vocab else (),
        real_texts=corpus.texts("dev" if "dev" in corpus.splits else "validation") if corpus is not None else (),
        report=json.loads(report_file.read_text()) if report_file.is_file() else None,
    )
    card = result["latency_card"]
    log.info("bundle in %s: %.2fx faster than the teacher at %d tokens (%s); ONNX checks %s", out_dir,
             card["fixed_length"]["speedup"], card["fixed_length"]["seq_len"],
             {True: "budget met", False: "budget missed"}.get(card.get("meets_budget"), "no budget verdict"),
             "passed" if all_passed(result["onnx"]) else "FAILED")
    return result


def deploy(cfg: DictConfig) -> dict[str, Any]:
    """``deploy.py``: the bundle of ``cfg.student`` in ``bundle.out_dir`` (default: Hydra's run directory).

    Raises:
        ConfigError: ``student`` names neither a model directory nor a ``train.py`` run directory.
    """
    student = find_student_dir(str(cfg.student))
    out_dir = Path(cfg.bundle.out_dir) if cfg.bundle.get("out_dir") else output_dir(cfg)
    teacher = load_teacher(cfg)
    return deploy_student(student, out_dir, teacher, load_corpus(cfg), cfg)
