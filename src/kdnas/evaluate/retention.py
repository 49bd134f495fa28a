"""Student / teacher arithmetic: how much of the teacher's score a student keeps, and its relative size.

Pure functions on the result dictionaries of :meth:`kdnas.evaluate.suite.EvalSuite.run` and the model facts
of :func:`kdnas.evaluate.facts.model_facts`; a missing or zero teacher value gives ``None``, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the size facts :func:`size_ratios` compares
SIZE_KEYS: tuple[str, ...] = ("parameters", "parameters_without_embeddings", "bytes")


def ratio(student: float | None, teacher: float | None) -> float | None:
    """``student / teacher``; ``None`` when either is missing or the teacher's is zero."""
    return None if student is None or teacher is None or teacher == 0 else student / teacher


def row_score(row: Mapping[str, Any] | None) -> float | None:
    """A per-language row's headline score: retrieval's ``mean`` (of both directions), else ``accuracy``."""
    if not row:
        return None
    return row.get("mean", row.get("accuracy"))


def retention(student: Mapping[str, Any], teacher: Mapping[str, Any]) -> dict[str, Any]:
    """Student / teacher for the overall macro, every task's macro and every language the teacher was scored on.

    Returns:
        ``{"macro": r, "tasks": {task: r}, "per_language": {task: {lang: r}}}``; ``r`` is ``None`` where
        the student lacks the task or language (or the teacher scored 0).
    """
    out: dict[str, Any] = {
        "macro": ratio(student.get("macro"), teacher.get("macro")),
        "out_of_domain_macro": ratio(student.get("out_of_domain_macro"), teacher.get("out_of_domain_macro")),
        "tasks": {},
        "per_language": {},
    }
    for task, t_res in teacher["tasks"].items():
        s_res = student["tasks"].get(task, {})
        s_rows = s_res.get("per_language", {})
        out["tasks"][task] = ratio(s_res.get("macro"), t_res.get("macro"))
        out["per_language"][task] = {
            lang: ratio(row_score(s_rows.get(lang)), row_score(t_row))
            for lang, t_row in t_res.get("per_language", {}).items()
        }
    return out


def gain(student: float | None, teacher: float | None, base: float | None) -> float | None:
    """``(student - base) / (teacher - base)``: the share of the teacher's lead over ``base`` the student kept.

    0 for a student no better than the base, 1 for one as good as the teacher; ``None`` when a value is
    missing or the teacher is no better than the base (nothing to keep).
    """
    if student is None or teacher is None or base is None or teacher <= base:
        return None
    return (student - base) / (teacher - base)


def gain_retention(student: Mapping[str, Any], teacher: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`gain` for the overall macros and every task's macro."""
    tasks = {
        task: gain(student["tasks"].get(task, {}).get("macro"), t_res.get("macro"), base["tasks"].get(task, {}).get("macro"))
        for task, t_res in teacher["tasks"].items()
    }
    return {
        "macro": gain(student.get("macro"), teacher.get("macro"), base.get("macro")),
        "out_of_domain_macro": gain(
            student.get("out_of_domain_macro"), teacher.get("out_of_domain_macro"), base.get("out_of_domain_macro")
        ),
        "tasks": tasks,
    }


def language_summary(per_language: Mapping[str, Mapping[str, float | None]], threshold: float = 0.9) -> dict[str, Any]:
    """Per task: the worst-kept language, and the share of languages whose retention is under ``threshold``."""
    out: dict[str, Any] = {}
    for task, rows in per_language.items():
        known = {lang: r for lang, r in rows.items() if r is not None}
        if not known:
            continue
        worst = min(known, key=lambda lang: known[lang])
        out[task] = {
            "worst": worst,
            "worst_retention": known[worst],
            "threshold": threshold,
            "below": sorted(lang for lang, r in known.items() if r < threshold),
            "share_below": sum(r < threshold for r in known.values()) / len(known),
            "languages": len(known),
        }
    return out


def size_ratios(student: Mapping[str, Any], teacher: Mapping[str, Any]) -> dict[str, float]:
    """Student / teacher for each of :data:`SIZE_KEYS` the teacher has (non-zero)."""
    return {key: student[key] / teacher[key] for key in SIZE_KEYS if teacher.get(key)}
