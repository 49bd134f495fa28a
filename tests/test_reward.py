"""The MnasNet-form reward: values, hard constraint, budgets, validation."""

from __future__ import annotations

import math

import pytest

from kdnas.errors import ConfigError
from kdnas.nas.reward import Reward, RewardResult


def test_reward_values_hand_computed() -> None:
    r = Reward(beta=0.25, alpha=-0.07)  # target: 4x faster than the teacher
    # At the target (20 ms for an 80 ms teacher) the latency factor is 1: R = 1 - L.
    at = r(loss=0.2, student_ms=20.0, teacher_ms=80.0)
    assert at == RewardResult(reward=pytest.approx(0.8), feasible=True, speedup=4.0)
    # Twice as fast as the target: factor 0.5 ** -0.07 = 2 ** 0.07 = 1.0497167.
    fast = r(loss=0.2, student_ms=10.0, teacher_ms=80.0)
    assert fast.reward == pytest.approx(0.8 * 1.0497167, rel=1e-6)
    assert fast.reward == pytest.approx(0.8397733, rel=1e-6)
    assert fast.feasible and fast.speedup == 8.0
    # Twice as slow: factor 2 ** -0.07 = 0.9526380; infeasible but still rewarded in soft mode.
    slow = r(loss=0.3, student_ms=40.0, teacher_ms=80.0)
    assert slow.reward == pytest.approx(0.7 * 0.9526380, rel=1e-6)
    assert not slow.feasible and slow.speedup == 2.0


def test_loss_is_clipped() -> None:
    r = Reward(beta=0.5)
    assert r(loss=1.7, student_ms=10.0, teacher_ms=20.0).reward == 0.0
    assert r(loss=-0.3, student_ms=10.0, teacher_ms=20.0).reward == pytest.approx(1.0)
    narrow = Reward(beta=0.5, loss_clip=(0.1, 0.9))
    assert narrow(loss=0.0, student_ms=10.0, teacher_ms=20.0).reward == pytest.approx(0.9)
    assert narrow(loss=1.0, student_ms=10.0, teacher_ms=20.0).reward == pytest.approx(0.1)


def test_lower_loss_and_lower_latency_rank_higher() -> None:
    r = Reward(beta=0.25)
    assert r(0.1, 20.0, 80.0).reward > r(0.2, 20.0, 80.0).reward
    assert r(0.2, 10.0, 80.0).reward > r(0.2, 20.0, 80.0).reward > r(0.2, 40.0, 80.0).reward


def test_hard_mode() -> None:
    r = Reward(beta=0.25, hard=True)
    within = r(loss=0.2, student_ms=10.0, teacher_ms=80.0)
    assert within.feasible and within.reward == pytest.approx(0.8)  # no bonus for extra speed
    assert r(loss=0.2, student_ms=20.0, teacher_ms=80.0).reward == pytest.approx(0.8)  # at the target
    over = r(loss=0.0, student_ms=20.5, teacher_ms=80.0)
    assert over == RewardResult(reward=0.0, feasible=False, speedup=pytest.approx(80.0 / 20.5))


def test_from_budget() -> None:
    by_speedup = Reward.from_budget(speedup=4.0, max_ms=None, teacher_ms=80.0)
    assert by_speedup.beta == pytest.approx(0.25)
    assert by_speedup.target_speedup == pytest.approx(4.0)
    assert by_speedup.target_ms(80.0) == pytest.approx(20.0)
    by_ms = Reward.from_budget(speedup=None, max_ms=20.0, teacher_ms=80.0, alpha=-0.06, hard=True)
    assert by_ms.beta == pytest.approx(0.25)
    assert by_ms.alpha == -0.06 and by_ms.hard
    assert by_ms(loss=0.5, student_ms=19.0, teacher_ms=80.0).reward == pytest.approx(0.5)

    with pytest.raises(ConfigError, match="exactly one of speedup"):
        Reward.from_budget(speedup=2.0, max_ms=10.0, teacher_ms=80.0)
    with pytest.raises(ConfigError, match="exactly one of speedup"):
        Reward.from_budget(speedup=None, max_ms=None, teacher_ms=80.0)
    with pytest.raises(ConfigError, match=r"latency_budget\.speedup"):
        Reward.from_budget(speedup=0.0, max_ms=None, teacher_ms=80.0)
    with pytest.raises(ConfigError, match=r"latency_budget\.max_ms"):
        Reward.from_budget(speedup=None, max_ms=-1.0, teacher_ms=80.0)
    with pytest.raises(ValueError, match="teacher_ms"):
        Reward.from_budget(speedup=2.0, max_ms=None, teacher_ms=0.0)


@pytest.mark.parametrize("alpha", [0.0, 0.07, math.nan, math.inf])
def test_invalid_alpha(alpha: float) -> None:
    with pytest.raises(ConfigError, match=r"latency_budget\.alpha"):
        Reward(beta=0.5, alpha=alpha)
    with pytest.raises(ConfigError, match=r"latency_budget\.alpha"):
        Reward.from_budget(speedup=2.0, max_ms=None, teacher_ms=10.0, alpha=alpha)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"beta": 0.0}, "latency_budget.beta"),
        ({"beta": -1.0}, "latency_budget.beta"),
        ({"beta": 0.5, "loss_clip": (0.5, 0.2)}, "latency_budget.loss_clip"),
        ({"beta": 0.5, "loss_clip": (0.0, 2.0)}, "latency_budget.loss_clip"),
        ({"beta": 0.5, "loss_clip": (0.0,)}, "latency_budget.loss_clip"),
    ],
)
def test_invalid_settings(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Reward(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("loss", "student_ms", "teacher_ms", "match"),
    [
        (math.nan, 10.0, 20.0, "loss"),
        (math.inf, 10.0, 20.0, "loss"),
        (0.1, 0.0, 20.0, "student_ms"),
        (0.1, math.nan, 20.0, "student_ms"),
        (0.1, 10.0, -1.0, "teacher_ms"),
    ],
)
def test_invalid_measurements(loss: float, student_ms: float, teacher_ms: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Reward(beta=0.5)(loss, student_ms, teacher_ms)


def test_budget_margin_tightens_the_search_not_the_budget() -> None:
    from kdnas.errors import ConfigError
    from kdnas.nas.budget import LatencyBudget

    budget = LatencyBudget(speedup=7.0, margin=0.1)
    assert budget.target_ms(77.0) == pytest.approx(11.0)  # what an evaluation checks
    assert budget.search_target_ms(77.0) == pytest.approx(10.0)  # what the search asks for
    assert budget.reward(77.0).target_ms(77.0) == pytest.approx(10.0)
    assert "margin 10%" in budget.describe(77.0)
    assert LatencyBudget(speedup=None, max_ms=11.0, margin=0.1).search_target_ms(1.0) == pytest.approx(10.0)
    with pytest.raises(ConfigError, match=r"latency_budget\.margin"):
        LatencyBudget(speedup=7.0, margin=1.5)


def test_recommendations_honour_the_margin() -> None:
    from kdnas.models.arch import ArchSpec
    from kdnas.nas.results import recommendations
    from kdnas.nas.store import Measurement

    def candidate(layers: int, ms: float, loss: float) -> Measurement:
        return Measurement(arch=ArchSpec(layers, 64, 4, 128, "gelu"), status="ok", loss=loss, latency_median_ms=ms)

    borderline, safe = candidate(3, 9.7, 0.5), candidate(2, 8.0, 0.6)  # 7.2x and 8.75x
    assert recommendations([borderline, safe], 70.0)["7x"]["arch_id"] == borderline.arch.arch_id
    assert recommendations([borderline, safe], 70.0, margin=0.1)["7x"]["arch_id"] == safe.arch.arch_id
