"""Bootstrap intervals over sentences, paired across the models of one evaluation.

Every task scores each model on the same items (a retrieval pair, a language-id test text, a hub test pair),
so one resample of the items serves every model: the teacher, the student and the baselines are scored on
the same resampled sentences, and a ratio such as retention is computed per resample (a paired bootstrap,
narrower and more honest than combining separate intervals). Resampling is stratified by language, as the
scores are macro averages over languages. A language-id probe is fitted once; its training texts are not
resampled (the intervals cover the test sentences, not the probe's fit).

Item scores are ``model -> task -> language -> array`` of per-item scores in ``[0, 1]`` whose mean is the
language's score. We resample with NumPy rather than ``scipy.stats.bootstrap`` because the statistic is
stratified over languages and shared by several models and ratios of them; the percentile method is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: model -> task -> language -> per-item scores
ItemScores = Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]
#: the same shape with (n_boot,) arrays of resampled means, plus each task's ``"macro"`` and the overall
Replicates = dict[str, Any]

CONFIDENCE = 0.95


def seeded_rng(seed: int, *names: str) -> np.random.Generator:
    digest = hashlib.sha256("\0".join((str(seed), *names)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def interval(replicates: np.ndarray | None, confidence: float = CONFIDENCE) -> list[float] | None:
    """The percentile interval of ``replicates`` (non-finite draws ignored); ``None`` without finite draws."""
    if replicates is None:
        return None
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return [float(lo), float(hi)]


def resample(items: ItemScores, macro_tasks: Sequence[str], n_boot: int, seed: int) -> dict[str, Replicates]:
    """Per model: ``{"tasks": {task: {"per_language": {lang: (B,)}, "macro": (B,)}}, "macro": (B,) | None}``.

    ``macro`` averages the task macros of ``macro_tasks`` the model has (as :meth:`EvalSuite.score` does).
    Every model must have the same items per task and language (the same plan).
    """
    models = list(items)
    out: dict[str, Replicates] = {m: {"tasks": {}} for m in models}
    if not models:
        return out
    reference = items[models[0]]
    for task, languages in reference.items():
        per_model: dict[str, dict[str, np.ndarray]] = {m: {} for m in models}
        for language, first in languages.items():
            n = len(first)
            if n == 0:
                continue
            draws = seeded_rng(seed, task, language).integers(0, n, size=(n_boot, n))
            for m in models:
                scores = np.asarray(items[m][task][language], dtype=np.float64)
                if scores.shape != (n,):
                    raise ValueError(f"{m}: {task}/{language} has {scores.shape} items, {models[0]} has {n}")
                per_model[m][language] = scores[draws].mean(axis=1)
        for m in models:
            rows = per_model[m]
            macro = np.mean(np.stack(list(rows.values())), axis=0) if rows else None
            out[m]["tasks"][task] = {"per_language": rows, "macro": macro}
    for m in models:
        macros = [out[m]["tasks"][t]["macro"] for t in macro_tasks if t in out[m]["tasks"]]
        macros = [x for x in macros if x is not None]
        out[m]["macro"] = np.mean(np.stack(macros), axis=0) if macros else None
    return out


def _div(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def gain(student: np.ndarray | None, teacher: np.ndarray | None, base: np.ndarray | None) -> np.ndarray | None:
    """``(student - base) / (teacher - base)`` elementwise (non-finite where the teacher equals the base)."""
    if student is None or teacher is None or base is None:
        return None
    return _div(student - base, teacher - base)


def score_intervals(rep: Replicates) -> dict[str, Any]:
    """One model's intervals: ``{"macro": ci, "tasks": {task: {"macro": ci, "per_language": {lang: ci}}}}``."""
    return {
        "macro": interval(rep.get("macro")),
        "tasks": {
            task: {"macro": interval(r["macro"]), "per_language": {k: interval(v) for k, v in r["per_language"].items()}}
            for task, r in rep["tasks"].items()
        },
    }


def relative_intervals(student: Replicates, teacher: Replicates, base: Replicates | None = None) -> dict[str, Any]:
    """Intervals of retention (``base=None``: student / teacher) or of gain retention over ``base``.

    Same shape as :func:`score_intervals`, with ``per_language`` for retention only.
    """

    def rel(s: np.ndarray | None, t: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
        return _div(s, t) if base is None else gain(s, t, b)

    def base_of(task: str | None, key: str | None = None) -> np.ndarray | None:
        if base is None:
            return None
        if task is None:
            return base.get("macro")
        row = base["tasks"].get(task, {})
        return row.get("macro") if key is None else row.get("per_language", {}).get(key)

    out: dict[str, Any] = {"macro": interval(rel(student.get("macro"), teacher.get("macro"), base_of(None))), "tasks": {}}
    for task, t_row in teacher["tasks"].items():
        s_row = student["tasks"].get(task)
        if s_row is None:
            continue
        entry: dict[str, Any] = {"macro": interval(rel(s_row["macro"], t_row["macro"], base_of(task)))}
        if base is None:
            entry["per_language"] = {
                lang: interval(_div(s_row["per_language"].get(lang), t_lang))
                for lang, t_lang in t_row["per_language"].items()
            }
        out["tasks"][task] = entry
    return out


def speedup_interval(
    student_ms: Sequence[float], teacher_ms: Sequence[float], n_boot: int = 1000, seed: int = 0
) -> list[float] | None:
    """Interval of teacher median / student median, resampling each model's timed passes."""
    s, t = np.asarray(student_ms, dtype=np.float64), np.asarray(teacher_ms, dtype=np.float64)
    if s.size == 0 or t.size == 0:
        return None
    rng = seeded_rng(seed, "speedup")
    s_med = np.median(s[rng.integers(0, s.size, size=(n_boot, s.size))], axis=1)
    t_med = np.median(t[rng.integers(0, t.size, size=(n_boot, t.size))], axis=1)
    return interval(_div(t_med, s_med))
