"""A student beside its teacher: the same texts, the same latency profile, timed side by side.

:class:`Comparison` holds the teacher's side of an evaluation (one :class:`~kdnas.evaluate.suite.EvalPlan`,
the budget's profile, the teacher's facts and scores, computed once) and measures any number of students
against it: the student itself, its vocabulary-pruned copy, its ONNX export::

    comparison = Comparison(teacher, corpus, EvalSuite(), budget)
    model, tokenizer = load_student(student_dir, teacher)
    report = comparison.report(comparison.evaluate(student_dir, model, tokenizer), command="...")
    write_report(report, out_dir)

Latency: :func:`~kdnas.latency.measure.measure_pair` (interleaved, so the speed-up is a ratio measured side
by side) under the budget's profile, and on the other device as well when one is usable.

Beside retention (student / teacher), every student gets: gain retention over its own architecture untrained
and teacher-initialised but not distilled (:mod:`kdnas.evaluate.baselines`), measured on the same texts; the
task-agnostic agreement with the teacher (:mod:`kdnas.evaluate.agreement`) in and out of domain; the worst
language per task; and bootstrap intervals, paired over the same resampled sentences, for every score,
ratio and speed-up (:mod:`kdnas.evaluate.intervals`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from kdnas.compress.prune_vocab import prune_vocabulary
from kdnas.data.corpus import Corpus
from kdnas.evaluate.agreement import agreement
from kdnas.evaluate.baselines import arch_of, build_baseline
from kdnas.evaluate.facts import directory_facts, environment, teacher_facts
from kdnas.evaluate.intervals import relative_intervals, resample, score_intervals, speedup_interval
from kdnas.evaluate.retention import gain_retention, language_summary, retention, size_ratios
from kdnas.evaluate.suite import EvalSuite, macro_tasks
from kdnas.latency.measure import measure_pair
from kdnas.latency.profile import LatencyProfile, with_real_inputs
from kdnas.models.encoder import load_frozen_encoder
from kdnas.models.teacher import Teacher

log = logging.getLogger(__name__)


class LatencyTarget(Protocol):
    """What an evaluation needs of a latency budget (:class:`kdnas.nas.budget.LatencyBudget` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def speedup(self) -> float | None: ...

    @property
    def max_ms(self) -> float | None: ...

    @property
    def profile(self) -> LatencyProfile | Mapping[str, Any]: ...

    def target_ms(self, teacher_ms: float) -> float:
        """The latency (ms) a student must reach, given the teacher's."""
        ...


def latency_profiles(profile: LatencyProfile) -> dict[str, LatencyProfile]:
    """The budget's profile on its device, and the same profile on the other device when one is usable."""
    profiles: dict[str, LatencyProfile] = {profile.device: profile}
    if profile.device == "cpu" and torch.cuda.is_available():
        profiles["cuda"] = dataclasses.replace(profile, device="cuda")
    elif profile.device == "cuda":
        profiles["cpu"] = dataclasses.replace(profile, device="cpu")
    return profiles


class Comparison:
    """The teacher's side of an evaluation, shared by every student measured against it.

    Args:
        teacher: the reference model; its text prefix is used for both.
        corpus: supplies the evaluation texts (test split) and the language-id training texts (train split).
        suite: the tasks; the same texts are embedded by every model.
        budget: its profile times every pair; its target says whether a student meets it.

    Raises:
        ConfigError: a suite the corpus cannot serve, or unreachable hub data (planned here, before any timing).
    """

    def __init__(self, teacher: Teacher, corpus: Corpus, suite: EvalSuite, budget: LatencyTarget) -> None:
        self.teacher, self.corpus, self.suite, self.budget = teacher, corpus, suite, budget
        profile = budget.profile
        self.profile = profile if isinstance(profile, LatencyProfile) else LatencyProfile(**dict(profile))
        self.plan = suite.plan(corpus)
        log.info("evaluation plan: %s", self.plan.describe())
        self.teacher_facts = teacher_facts(teacher)
        self._teacher_scores: dict[str, Any] | None = None
        self._items: dict[str, dict[str, dict[str, np.ndarray]]] = {}  # label -> task -> language -> per item
        self._agreement_rows: dict[str, dict[str, np.ndarray]] = {}  # label -> domain -> (texts, H)
        # arch id -> (baseline -> its scores, its per-item scores, its agreement rows), by label
        self._baselines: dict[str, tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]] = {}

    @property
    def teacher_scores(self) -> dict[str, Any]:
        """The teacher's :meth:`~kdnas.evaluate.suite.EvalSuite.run` on the plan (scored on first use)."""
        if self._teacher_scores is None:
            self._teacher_scores = self.score("teacher", self.teacher.model, self.teacher.tokenizer)
        return self._teacher_scores

    def score(
        self, label: str, model: nn.Module, tokenizer: PreTrainedTokenizerBase, suite: EvalSuite | None = None
    ) -> dict[str, Any]:
        """``model`` on the plan's texts, with ``suite`` (default: the comparison's) and the teacher's prefix.

        ``model``: a Hugging Face encoder, or any module that behaves as one (``config``, a forward returning
        ``last_hidden_state``), such as :class:`kdnas.deploy.onnx_encoder.OnnxEncoder`.
        The per-item scores (for intervals) and the agreement texts' embeddings are kept under ``label``.
        """
        started = time.perf_counter()
        encoder = cast(PreTrainedModel, model)  # duck-typed: see above
        embedding: dict[str, np.ndarray] = {}
        result = (suite or self.suite).run(
            encoder, tokenizer, self.teacher.text_prefix, plan=self.plan, embeddings_out=embedding
        )
        self._items[label] = result.pop("items")
        self._agreement_rows[label] = {
            domain: np.stack([embedding[t] for t in texts]) for domain, texts in self.plan.agreement.items()
        }
        log.info("%s: macro %.4f (%.1f s)", label, result["macro"] or float("nan"), time.perf_counter() - started)
        return result

    def timed_pair(self, student: nn.Module, **profile_changes: Any) -> dict[str, Any]:
        """Student and teacher timed side by side under the budget's profile with ``profile_changes``."""
        profile = dataclasses.replace(self.profile, **profile_changes)
        pair = measure_pair(student, self.teacher.model, profile)
        ci = speedup_interval(pair.student.samples_ms, pair.teacher.samples_ms, max(self.suite.bootstrap, 1), self.suite.seed)
        return {**pair.to_dict(), "speedup_ci": ci if self.suite.bootstrap else None}

    def other_length(self) -> tuple[str, dict[str, Any]] | None:
        """The budget's profile at the other kind of length: real dev texts for a fixed length, 128 tokens for a
        corpus profile; as ``(label, profile changes)``, or ``None`` with no dev texts to time on."""
        if self.profile.is_corpus:
            return "128", {"seq_len": 128, "inputs": ()}
        split = "dev" if "dev" in self.corpus.splits else "validation"
        texts = self.corpus.texts(split)
        if not texts:
            return None
        positions = getattr(self.teacher.model.config, "max_position_embeddings", 512)
        real = with_real_inputs(self.profile, self.teacher.tokenizer, texts, seed=self.suite.seed,
                                prefix=self.teacher.text_prefix, max_length=min(int(positions), 512))  # fmt: skip
        return "real_length", {"seq_len": real.seq_len, "inputs": real.inputs}

    def latency(self, student: nn.Module) -> dict[str, Any]:
        """:meth:`timed_pair` on every device of :func:`latency_profiles`, and at the other kind of length on
        the budget's device (``<device>_real_length`` or ``<device>_128``); ``budget``: whether it is met."""
        out: dict[str, Any] = {
            device: self.timed_pair(student, device=device) for device in latency_profiles(self.profile)
        }
        if other := self.other_length():
            label, changes = other
            out[f"{self.profile.device}_{label}"] = self.timed_pair(student, **changes)
        main = out[self.profile.device]
        teacher_ms, student_ms = main["teacher"]["median_ms"], main["student"]["median_ms"]
        target = self.budget.target_ms(teacher_ms)
        out["budget"] = {
            "name": self.budget.name,
            "speedup": self.budget.speedup,
            "max_ms": self.budget.max_ms,
            "device": self.profile.device,
            "target_ms": target,
            "student_ms": student_ms,
            "meets": student_ms <= target,
        }
        return out

    def evaluate(
        self, directory: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, label: str = "student"
    ) -> dict[str, Any]:
        """One student (saved in ``directory``): its facts, size ratios, latency, scores and retention."""
        facts = directory_facts(model, directory)
        latency = self.latency(model)
        teacher_scores = self.teacher_scores
        scores = self.score(label, model, tokenizer)
        bases = self.baseline_scores(model)
        kept = retention(scores, teacher_scores)
        return {
            "student": facts,
            "ratios": size_ratios(facts, self.teacher_facts),
            "latency": latency,
            "scores": scores,
            "retention": kept,
            "languages": language_summary(kept["per_language"]),
            "baselines": {
                name: {
                    "scores": base,
                    "gain": gain_retention(scores, teacher_scores, base),
                    "agreement": self.agreement(name),
                }
                for name, base in bases.items()
            },
            "agreement": self.agreement(label),
            "intervals": self.intervals(label, list(bases)),
        }

    def baseline_scores(self, model: PreTrainedModel) -> dict[str, dict[str, Any]]:
        """The suite's baselines for ``model``'s architecture, scored once per architecture (labels ``base:<name>``)."""
        arch = arch_of(model)
        labels = [f"base:{name}" for name in self.suite.baselines]
        if arch.arch_id not in self._baselines:
            scored: dict[str, dict[str, Any]] = {}
            for name, label in zip(self.suite.baselines, labels, strict=True):
                base = build_baseline(name, arch, self.teacher.model, seed=self.suite.seed)
                scored[name] = self.score(label, base, self.teacher.tokenizer)
                del base
            kept = ({k: self._items[k] for k in labels}, {k: self._agreement_rows[k] for k in labels})
            self._baselines[arch.arch_id] = (scored, *kept)
        scored, items, rows = self._baselines[arch.arch_id]
        # another architecture's baselines may have been scored since: its per-item rows are this one's again
        self._items.update(items)
        self._agreement_rows.update(rows)
        return scored

    def agreement(self, label: str) -> dict[str, Any]:
        """Neighbourhood agreement and linear CKA of ``label``'s embeddings with the teacher's, per domain."""
        self.teacher_scores  # noqa: B018 - the teacher's embeddings are kept when it is scored
        key = label if label in self._agreement_rows else f"base:{label}"
        teacher, student = self._agreement_rows["teacher"], self._agreement_rows[key]
        s = self.suite
        return {domain: agreement(teacher[domain], student[domain], s.agreement_k, s.bootstrap, s.seed) for domain in teacher}

    def intervals(self, label: str, baselines: list[str]) -> dict[str, Any]:
        """Bootstrap intervals (paired over the same resampled sentences) of ``label``'s scores and ratios.

        ``{"scores": {model: ...}, "retention": ..., "gain": {baseline: ...}}``, or ``{}`` with ``eval.bootstrap=0``.
        """
        if not self.suite.bootstrap:
            return {}
        models = {"teacher": self._items["teacher"], "student": self._items[label]}
        models.update({name: self._items[f"base:{name}"] for name in baselines})
        reps = resample(models, macro_tasks(self.suite.tasks), self.suite.bootstrap, self.suite.seed)
        return {
            "confidence": 0.95,
            "resamples": self.suite.bootstrap,
            "scores": {name: score_intervals(rep) for name, rep in reps.items()},
            "retention": relative_intervals(reps["student"], reps["teacher"]),
            "gain": {name: relative_intervals(reps["student"], reps["teacher"], reps[name]) for name in baselines},
        }

    def pruned(self, student_dir: Path, out_dir: Path, min_count: int = 1) -> dict[str, Any]:
        """Prune the student's vocabulary to the train split's (into ``out_dir``), then :meth:`evaluate` it.

        Returns:
            ``{"pruning": <prune_vocabulary's summary>, **evaluate(...)}``.
        """
        pruning = prune_vocabulary(
            student_dir, self.corpus.texts("train"), out_dir, prefix=self.teacher.text_prefix, min_count=min_count
        )
        model, tokenizer = load_frozen_encoder(out_dir, key="student")  # its own (smaller) vocabulary
        return {"pruning": pruning, **self.evaluate(out_dir, model, tokenizer, label="pruned student")}

    def report(self, student: Mapping[str, Any], command: str) -> dict[str, Any]:
        """The report of one :meth:`evaluate` result: both models, the data, the suite and the environment."""
        return {
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command,
            "teacher": self.teacher_facts,
            "student": student["student"],
            "ratios": student["ratios"],
            "latency": student["latency"],
            "scores": {"teacher": self.teacher_scores, "student": student["scores"]},
            "retention": student["retention"],
            "languages": student["languages"],
            "baselines": student["baselines"],
            "agreement": student["agreement"],
            "intervals": student["intervals"],
            "data": {"corpus": self.corpus.name, "split_sizes": self.corpus.sizes(), "plan": self.plan.describe()},
            "suite": self.suite.settings(),
            "environment": environment(),
        }
