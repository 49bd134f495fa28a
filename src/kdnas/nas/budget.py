"""A latency budget: the speed-up (or absolute latency) a student must reach, and how latency is measured."""

from __future__ import annotations

from dataclasses import dataclass, field

from kdnas.errors import ConfigError
from kdnas.latency.profile import LatencyProfile
from kdnas.nas.reward import Reward

#: the budgets ``recommendations.yaml`` always reports
RECOMMENDATION_SPEEDUPS: tuple[float, ...] = (2.0, 3.0, 5.0, 7.0, 10.0)


@dataclass
class LatencyBudget:
    """``speedup`` (times faster than the teacher) or ``max_ms``, under a latency ``profile``.

    Args:
        name: the preset's name (``cpu_7x``...), for outputs.
        speedup: required speed-up over the teacher; exactly one of ``speedup`` / ``max_ms``.
        max_ms: absolute latency target in milliseconds.
        profile: how every candidate and the teacher are timed.
        alpha: the reward's latency exponent (< 0).
        hard: over-budget candidates are infeasible (reward 0) instead of penalised.
        margin: the search's safety margin for measurement noise: its rewards, feasibility, seeds and
            recommendations ask for ``speedup * (1 + margin)`` (or ``max_ms / (1 + margin)``), so that a
            recommended student still meets the budget itself when measured again. Evaluations check
            the budget itself (:meth:`target_ms`).
    """

    name: str = "custom"
    speedup: float | None = 7.0
    max_ms: float | None = None
    profile: LatencyProfile = field(default_factory=LatencyProfile)
    alpha: float = -0.07
    hard: bool = False
    margin: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.profile, LatencyProfile):
            raise ConfigError(f"latency_budget.profile: expected a LatencyProfile, got {type(self.profile).__name__}")
        if (self.speedup is None) == (self.max_ms is None):
            raise ConfigError(
                "latency_budget: set exactly one of speedup or max_ms "
                f"(got speedup={self.speedup}, max_ms={self.max_ms}); e.g. latency_budget.max_ms=null"
            )
        if not 0.0 <= self.margin < 1.0:
            raise ConfigError(f"latency_budget.margin={self.margin}: use a fraction in [0, 1), e.g. 0.1 for 10%")
        Reward.from_budget(self.speedup, self.max_ms, 1.0, self.alpha, self.hard)  # validates the numbers

    def reward(self, teacher_ms: float) -> Reward:
        """The search's reward: its target tightened by ``margin``."""
        speedup = None if self.speedup is None else self.speedup * (1 + self.margin)
        max_ms = None if self.max_ms is None else self.max_ms / (1 + self.margin)
        return Reward.from_budget(speedup, max_ms, teacher_ms, self.alpha, self.hard)

    def target_ms(self, teacher_ms: float) -> float:
        """The budget itself, what an evaluation checks."""
        return Reward.from_budget(self.speedup, self.max_ms, teacher_ms, self.alpha, self.hard).target_ms(teacher_ms)

    def search_target_ms(self, teacher_ms: float) -> float:
        """The latency a search candidate must reach: the target with the safety margin."""
        return self.reward(teacher_ms).target_ms(teacher_ms)

    def describe(self, teacher_ms: float) -> str:
        target = self.target_ms(teacher_ms)
        text = f"{self.name}: <= {target:.2f} ms ({teacher_ms / target:.1f}x faster than the teacher's {teacher_ms:.2f} ms)"
        if self.margin:
            search = self.search_target_ms(teacher_ms)
            text += f"; the search asks for <= {search:.2f} ms ({teacher_ms / search:.1f}x, margin {self.margin:.0%})"
        return text
