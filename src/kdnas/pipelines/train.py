"""``python train.py``: distil one student on the full training split.

Writes, in Hydra's run directory: ``student/`` (``save_pretrained`` model and tokenizer plus
``kdnas_arch.yaml``), ``summary.json``, ``checkpoints/last.ckpt`` (a re-run with the same
``hydra.run.dir`` resumes from it) and the loggers' files.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor
from omegaconf import DictConfig, OmegaConf

from kdnas.distill.module import DistillationModule
from kdnas.models.arch import ArchSpec, read_searched_for
from kdnas.models.sentence_transformers import write_sentence_transformers_files
from kdnas.models.student import count_parameters
from kdnas.pipelines.common import (
    build_callbacks,
    build_loggers,
    finish_wandb,
    load_corpus,
    load_teacher,
    make_datamodule,
    output_dir,
    resolve_arch,
    resolve_latency_profile,
)
from kdnas.utils.io import write_json

log = logging.getLogger(__name__)


def save_student(module: DistillationModule, teacher: Any, arch: ArchSpec, directory: Path) -> Path:
    """``save_pretrained`` of the student and the teacher's tokenizer, loadable with no kdnas import, plus the
    sentence-transformers files (the teacher's prompts and normalisation): ``SentenceTransformer(directory)``."""
    directory.mkdir(parents=True, exist_ok=True)
    module.student.save_pretrained(directory)
    teacher.tokenizer.save_pretrained(directory)
    arch.to_yaml(directory / "kdnas_arch.yaml")
    write_sentence_transformers_files(directory, prompts=teacher.prompts, normalize=teacher.normalize)
    return directory


def train(cfg: DictConfig) -> dict[str, Any]:
    """Distil the configured student; returns the summary written to ``summary.json``."""
    started = time.time()
    L.seed_everything(cfg.seed, workers=True)
    out = output_dir(cfg)
    arch = resolve_arch(cfg)
    if cfg.distill.get("crosslingual_weight", 0) > 0 and not cfg.data.get("paired", False):
        log.warning("the cross-lingual loss is off: it needs translation pairs (data.paired=true, data=gettext)")
    teacher = load_teacher(cfg)
    corpus = load_corpus(cfg)
    student = hydra.utils.instantiate(cfg.student_init)(arch, teacher.model)
    module: DistillationModule = hydra.utils.instantiate(cfg.distill)(
        student=student,
        teacher=teacher.model,
        teacher_layers=teacher.num_layers,
        teacher_hidden_size=teacher.hidden_size,
    )
    datamodule = make_datamodule(cfg, corpus, teacher)
    loggers = build_loggers(cfg)
    # the learning-rate monitor refuses a Trainer with no logger: logger=none drops it instead of failing
    callbacks = [c for c in build_callbacks(cfg) if loggers or not isinstance(c, LearningRateMonitor)]
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    for lg in trainer.loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]

    last = out / "checkpoints" / "last.ckpt"
    ckpt_path = str(last) if cfg.get("resume", True) and last.is_file() else None
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    train_loss = trainer.callback_metrics.get("train/loss")
    val = trainer.validate(module, datamodule=datamodule, verbose=False)[0]

    if not trainer.is_global_zero:  # under DDP only rank 0 writes the outputs
        return {"rank": trainer.global_rank, "val_loss": float(val["val/loss"])}
    student_dir = save_student(module, teacher, arch, out / "student")
    if cfg.get("arch_file") and (searched_for := read_searched_for(cfg.arch_file)):  # the budget it was searched for
        arch.to_yaml(student_dir / "kdnas_arch.yaml", searched_for=searched_for)
    summary = {
        "architecture": arch.to_dict(),
        "arch_id": arch.arch_id,
        "teacher": teacher.name,
        "teacher_source": teacher.source,
        "parameters": count_parameters(module.student),
        "parameters_without_embeddings": count_parameters(module.student, include_embeddings=False),
        "steps": int(trainer.global_step),
        "train_loss": float(train_loss) if train_loss is not None else None,
        "val_loss": float(val["val/loss"]),
        "corpus": corpus.sizes(),
        "resumed_from": ckpt_path,
        "wall_seconds": round(time.time() - started, 2),
        "student_dir": str(student_dir),
    }
    if cfg.get("evaluate", False):
        from kdnas.evaluate.compare import Comparison
        from kdnas.pipelines.evaluate import evaluate_student

        budget = resolve_latency_profile(hydra.utils.instantiate(cfg.latency_budget, _convert_="all"), teacher, corpus)
        comparison = Comparison(teacher, corpus, hydra.utils.instantiate(cfg.eval, _convert_="all"), budget)
        report = evaluate_student(student_dir, comparison, out, prune_vocab=bool(cfg.get("prune_vocab", False)))
        summary["report"] = str(out / "report.json")
        summary["retention_macro"] = report.get("retention", {}).get("macro")
    if cfg.get("deploy", False):
        from kdnas.pipelines.deploy import deploy_student

        bundle_dir = Path(cfg.bundle.out_dir) if cfg.bundle.get("out_dir") else out / "bundle"
        bundle = deploy_student(student_dir, bundle_dir, teacher, corpus, cfg)
        summary["bundle"] = str(bundle_dir)
        summary["meets_budget"] = bundle["latency_card"].get("meets_budget")
    write_json(out / "summary.json", summary)
    for lg in trainer.loggers:
        lg.log_metrics({"final/val_loss": float(val["val/loss"])}, step=trainer.global_step)
        if hasattr(lg, "experiment") and hasattr(lg.experiment, "summary"):  # W&B: the final report
            lg.experiment.summary.update({f"final/{k}": v for k, v in summary.items() if not isinstance(v, dict)})
        lg.finalize("success")
    finish_wandb()
    log.info("student written to %s (val loss %.4f)", student_dir, summary["val_loss"])
    return summary

