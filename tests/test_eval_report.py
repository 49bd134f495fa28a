"""Retention arithmetic and the report (report.json, report.md) on hand-built results: no model runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kdnas.evaluate.report import render_markdown, write_report
from kdnas.evaluate.retention import ratio, retention, row_score, size_ratios


def retrieval(rows: dict[str, tuple[float, float]], skipped: dict[str, str] | None = None) -> dict[str, Any]:
    """A retrieval result as :func:`kdnas.evaluate.retrieval.score_retrieval` returns it (40 pairs a language)."""
    per_language = {lang: {"en_xx": a, "xx_en": b, "mean": (a + b) / 2, "n": 40} for lang, (a, b) in rows.items()}
    macro = float(np.mean([r["mean"] for r in per_language.values()])) if per_language else None
    return {"per_language": per_language, "macro": macro, "skipped": skipped or {}}


def langid(rows: dict[str, float]) -> dict[str, Any]:
    per_language = {lang: {"accuracy": acc, "n_test": 20} for lang, acc in rows.items()}
    return {
        "per_language": per_language,
        "macro": float(np.mean(list(rows.values()))),
        "n_train": 80,
        "n_test": 20 * len(rows),
        "chance": 1 / len(rows),
        "skipped": {},
    }


def scores(tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    macros = [t["macro"] for t in tasks.values() if t["macro"] is not None]
    return {"tasks": tasks, "macro": float(np.mean(macros)), "device": "cpu", "dtype": "float32", "threads": 1}


TEACHER = scores({
    "retrieval": retrieval({"de": (0.9, 0.7), "ja": (0.6, 0.4), "ko": (0.5, 0.5)}, skipped={"ka": "3 usable pairs < 10"}),
    "langid": langid({"de": 1.0, "fr": 0.8}),
})  # fmt: skip
# the student has no row for ko (as when a language was scored for one model only)
STUDENT = scores({"retrieval": retrieval({"de": (0.8, 0.8), "ja": (0.3, 0.3)}), "langid": langid({"de": 0.5, "fr": 0.8})})


# --- retention --------------------------------------------------------------------------------------------


def test_ratio_is_none_without_a_usable_teacher_value() -> None:
    assert ratio(0.45, 0.9) == pytest.approx(0.5)
    assert ratio(None, 0.9) is None and ratio(0.5, None) is None and ratio(0.5, 0.0) is None


def test_row_score_prefers_the_retrieval_mean_over_accuracy() -> None:
    assert row_score({"mean": 0.7, "accuracy": 0.1}) == 0.7
    assert row_score({"accuracy": 0.25, "n_test": 4}) == 0.25
    assert row_score(None) is None and row_score({}) is None


def test_retention_per_task_per_language_and_overall() -> None:
    out = retention(STUDENT, TEACHER)
    assert out["macro"] == pytest.approx(STUDENT["macro"] / TEACHER["macro"])
    # retrieval: teacher macro (0.8 + 0.5 + 0.5) / 3 = 0.6, student (0.8 + 0.3) / 2 = 0.55
    assert out["tasks"]["retrieval"] == pytest.approx(0.55 / 0.6)
    assert out["tasks"]["langid"] == pytest.approx(0.65 / 0.9)
    assert out["per_language"]["retrieval"]["de"] == pytest.approx(0.8 / 0.8)
    assert out["per_language"]["retrieval"]["ja"] == pytest.approx(0.3 / 0.5)
    assert out["per_language"]["retrieval"]["ko"] is None  # the student has no ko row
    assert out["per_language"]["langid"] == pytest.approx({"de": 0.5, "fr": 1.0})


def test_retention_of_a_task_the_student_lacks_is_none() -> None:
    out = retention(scores({"langid": langid({"de": 0.5, "fr": 0.8})}), TEACHER)
    assert out["tasks"]["retrieval"] is None
    assert out["per_language"]["retrieval"] == {"de": None, "ja": None, "ko": None}
    assert out["tasks"]["langid"] == pytest.approx(0.65 / 0.9)


def test_size_ratios_skip_what_the_teacher_lacks() -> None:
    teacher = {"parameters": 1000, "parameters_without_embeddings": 0, "bytes": 4000}
    student = {"parameters": 250, "parameters_without_embeddings": 10, "bytes": 1000, "architecture": {}}
    assert size_ratios(student, teacher) == {"parameters": 0.25, "bytes": 0.25}


# --- the report -------------------------------------------------------------------------------------------


def pair(teacher_ms: float, student_ms: float, device: str = "cpu") -> dict[str, Any]:
    profile = {"device": device, "batch_size": 1, "seq_len": 128, "threads": 1, "runtime": "pytorch"}
    return {
        "teacher": {"median_ms": teacher_ms, "profile": profile},
        "student": {"median_ms": student_ms, "profile": profile},
        "speedup": teacher_ms / student_ms,
    }


def model(layers: int, hidden: int, parameters: int, weights: int) -> dict[str, Any]:
    return {
        "architecture": {"model_type": "bert", "num_hidden_layers": layers, "hidden_size": hidden},
        "parameters": parameters,
        "parameters_without_embeddings": parameters // 4,
        "bytes": weights,
    }


@pytest.fixture()
def report() -> dict[str, Any]:
    teacher = {"name": "tiny_random", "source": "memory", "text_prefix": "query: ", **model(4, 64, 8_000_000, 32 * 2**20)}
    student = {"dir": "/runs/a/student", **model(2, 32, 2_000_000, 8 * 2**20)}
    budget = {"name": "cpu_7x", "speedup": 7.0, "max_ms": None, "device": "cpu", "target_ms": 12 / 7}
    budget |= {"student_ms": 4.0, "meets": False}
    return {
        "created": "2024-01-01T00:00:00+00:00",
        "command": "python evaluate.py student=/runs/a/student",
        "teacher": teacher,
        "student": student,
        "ratios": size_ratios(student, teacher),
        "latency": {"cpu": pair(12.0, 4.0), "budget": budget},
        "scores": {"teacher": TEACHER, "student": STUDENT},
        "retention": retention(STUDENT, TEACHER),
        "data": {"corpus": "gettext", "split_sizes": {"train": 100, "test": 50}, "plan": {"texts": 321}},
        "suite": {"seed": 0, "max_length": 64},
        "environment": {"torch": "2.x", "transformers": "4.x", "cpu_threads": 2, "cuda": None},
        "wall_seconds": 12.5,
    }


def test_markdown_summary_states_sizes_speedup_retention_and_the_budget(report: dict[str, Any]) -> None:
    card = render_markdown(report)
    assert card.startswith("# Student model card: 2 layers × 32 (distilled from tiny_random)\n")
    assert "| parameters | 8.00 M | 2.00 M | 0.250 |" in card
    assert "| weights on disk | 32.0 MiB | 8.0 MiB | 0.250 |" in card
    assert "| 12.00 | 4.00 | speed-up 3.00x |" in card
    retrieval_retention = 0.55 / 0.6
    assert f"| retrieval (macro) | 0.600 | 0.550 | retention {retrieval_retention:.3f} |" in card
    macro = STUDENT["macro"] / TEACHER["macro"]
    assert f"| **macro over in-domain tasks** | {TEACHER['macro']:.3f} | {STUDENT['macro']:.3f} | **retention {macro:.3f}** |" in card
    assert "target 1.71 ms; the student (4.00 ms) **does not meet** it." in card
    assert "`python evaluate.py student=/runs/a/student`" in card and "321 distinct texts" in card


def test_markdown_per_language_tables_and_missing_languages(report: dict[str, Any]) -> None:
    card = render_markdown(report)
    assert "| de | 40 | 0.900 | 0.700 | 0.800 | 0.800 | 1.000 |" in card
    assert "| ja | 40 | 0.600 | 0.400 | 0.300 | 0.300 | 0.600 |" in card
    assert "| ko | 40 | 0.500 | 0.500 | – | – | – |" in card  # no student row: dashes, not an error
    assert "Skipped: ka (3 usable pairs < 10)." in card  # languages the plan left out are noted
    assert "| de | 20 | 1.000 | 0.500 | 0.500 |" in card and "| fr | 20 | 0.800 | 0.800 | 1.000 |" in card
    assert "2 classes (chance 0.500)" in card
    assert "## Pruned vocabulary" not in card and "## ONNX Runtime" not in card  # sections only when evaluated


def test_write_report_json_holds_every_number_as_plain_json(report: dict[str, Any], tmp_path: Path) -> None:
    report["scores"]["student"]["tasks"]["langid"]["macro"] = np.float32(0.65)  # numpy scalars happen
    report["latency"]["cpu"]["speedup"] = math.nan  # so do non-finite values
    json_path, md_path = write_report(report, tmp_path / "out")
    saved = json.loads(json_path.read_text(encoding="utf-8"))
    assert saved["retention"]["per_language"]["retrieval"] == pytest.approx({"de": 1.0, "ja": 0.6, "ko": None})
    assert saved["retention"]["tasks"]["retrieval"] == pytest.approx(0.55 / 0.6)
    assert saved["scores"]["student"]["tasks"]["langid"]["macro"] == pytest.approx(0.65)
    assert saved["latency"]["cpu"]["speedup"] is None
    assert saved["ratios"] == {"parameters": 0.25, "parameters_without_embeddings": 0.25, "bytes": 0.25}
    assert md_path.read_text(encoding="utf-8") == render_markdown(report)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "report.md"]  # no temporaries
