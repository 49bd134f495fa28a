"""Intervals, gain retention, language summaries and the task-agnostic agreement scores (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from kdnas.evaluate.agreement import agreement, linear_cka, neighbourhood_overlap
from kdnas.evaluate.intervals import interval, relative_intervals, resample, score_intervals, speedup_interval
from kdnas.evaluate.retention import gain, gain_retention, language_summary


def _items(rng: np.random.Generator, p: float, n: int) -> dict[str, dict[str, np.ndarray]]:
    return {"retrieval": {lang: (rng.random(n) < p).astype(float) for lang in ("de", "fr", "ja")}}


def test_interval_contains_the_point_estimate_and_narrows_with_more_samples() -> None:
    widths = []
    for n in (50, 800):
        rng = np.random.default_rng(n)
        items = {"teacher": _items(rng, 0.9, n), "student": _items(rng, 0.7, n)}
        reps = resample(items, ["retrieval"], n_boot=500, seed=0)
        ci = score_intervals(reps["student"])
        point = np.mean([v.mean() for v in items["student"]["retrieval"].values()])
        lo, hi = ci["macro"]
        assert lo <= point <= hi
        for lang, scores in items["student"]["retrieval"].items():
            lang_lo, lang_hi = ci["tasks"]["retrieval"]["per_language"][lang]
            assert lang_lo <= scores.mean() <= lang_hi
        kept = relative_intervals(reps["student"], reps["teacher"])
        t_point = np.mean([v.mean() for v in items["teacher"]["retrieval"].values()])
        assert kept["macro"][0] <= point / t_point <= kept["macro"][1]
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2  # ~1/sqrt(16) of the width


def test_paired_resampling_makes_a_model_against_itself_exact() -> None:
    rng = np.random.default_rng(1)
    teacher = _items(rng, 0.8, 200)
    reps = resample({"teacher": teacher, "student": teacher}, ["retrieval"], n_boot=200, seed=3)
    assert relative_intervals(reps["student"], reps["teacher"])["macro"] == [1.0, 1.0]


def test_resampling_is_seeded_and_rejects_misaligned_items() -> None:
    rng = np.random.default_rng(2)
    items = {"teacher": _items(rng, 0.8, 100), "student": _items(rng, 0.6, 100)}
    a = score_intervals(resample(items, ["retrieval"], 300, seed=5)["student"])
    b = score_intervals(resample(items, ["retrieval"], 300, seed=5)["student"])
    assert a == b
    items["student"]["retrieval"]["de"] = items["student"]["retrieval"]["de"][:-1]
    with pytest.raises(ValueError, match="items"):
        resample(items, ["retrieval"], 10, seed=0)


def test_gain_is_zero_for_the_base_and_one_for_the_teacher() -> None:
    assert gain(0.3, 0.9, 0.3) == 0.0
    assert gain(0.9, 0.9, 0.3) == 1.0
    assert gain(0.6, 0.9, 0.3) == pytest.approx(0.5)
    assert gain(0.6, 0.3, 0.3) is None  # the teacher has no lead to keep
    t = {"macro": 0.9, "tasks": {"retrieval": {"macro": 0.9}}}
    b = {"macro": 0.2, "tasks": {"retrieval": {"macro": 0.2}}}
    assert gain_retention(b, t, b)["macro"] == 0.0
    assert gain_retention(t, t, b)["tasks"]["retrieval"] == 1.0
    rng = np.random.default_rng(4)
    items = {"teacher": _items(rng, 0.9, 300), "base": _items(rng, 0.2, 300)}
    items["student"] = items["base"]
    reps = resample(items, ["retrieval"], 200, seed=0)
    assert relative_intervals(reps["student"], reps["teacher"], reps["base"])["macro"] == [0.0, 0.0]


def test_language_summary_names_the_worst_language() -> None:
    summary = language_summary({"retrieval": {"de": 0.95, "ka": 0.71, "ja": 0.88, "xx": None}})["retrieval"]
    assert summary["worst"] == "ka" and summary["worst_retention"] == 0.71
    assert summary["below"] == ["ja", "ka"] and summary["share_below"] == pytest.approx(2 / 3)


def test_speedup_interval_brackets_the_ratio_of_medians() -> None:
    rng = np.random.default_rng(0)
    student, teacher = rng.normal(10, 0.5, 60), rng.normal(70, 2, 60)
    lo, hi = speedup_interval(student, teacher, 500, seed=0)
    assert lo <= np.median(teacher) / np.median(student) <= hi
    assert speedup_interval([], teacher) is None
    assert interval(np.array([np.nan, np.inf])) is None


def test_agreement_is_perfect_for_a_rotation_and_low_for_noise() -> None:
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(300, 16))
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    same = agreement(teacher, teacher @ rotation, k=5, n_boot=50, seed=0)
    assert same["neighbourhood"] == pytest.approx(1.0) and same["cka"] == pytest.approx(1.0)
    noise = rng.normal(size=(300, 8))
    other = agreement(teacher, noise, k=5, n_boot=50, seed=0)
    assert other["neighbourhood"] < 0.2 and other["cka"] < 0.3
    lo, hi = other["neighbourhood_ci"]
    assert lo <= other["neighbourhood"] <= hi
    # a partly shared geometry: CKA's interval holds the full-sample value (resampling with replacement did not)
    mixed = agreement(teacher, teacher[:, :8] + 0.5 * noise, k=5, n_boot=100, seed=0)
    lo, hi = mixed["cka_ci"]
    assert lo <= mixed["cka"] <= hi and hi - lo < 0.3
    assert linear_cka(teacher, 3 * teacher) == pytest.approx(1.0)
    assert neighbourhood_overlap(teacher, teacher, k=3).shape == (300,)
    with pytest.raises(ValueError, match="k="):
        neighbourhood_overlap(teacher[:3], teacher[:3], k=3)
