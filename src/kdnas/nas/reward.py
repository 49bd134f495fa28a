"""The search reward: distillation quality traded against latency (MnasNet form).

    R = (1 - clip(L)) * (lat_S / (beta * lat_T)) ** alpha

``L`` is the normalised distillation loss (0 = perfect, 1 = no better than predicting the mean), ``lat_S``
and ``lat_T`` the student's and teacher's latencies, ``beta * lat_T`` the latency target (``beta = 1/k``
for a budget "k times faster than the teacher"), and ``alpha < 0`` the trade-off: a student twice as
slow as the target loses a factor ``2 ** alpha`` (about 5% for alpha = -0.07); one twice as fast gains
as much.

Soft mode (default) rewards every student by that formula; ``feasible`` only reports whether it meets
the target. Hard mode is MnasNet's hard constraint: a student within the target gets ``1 - clip(L)``
(no bonus for being faster than needed), one over it is infeasible with reward 0.0. We chose 0.0 rather
than ``-inf`` so rewards stay finite for the controller's regression and for logging; every feasible
reward is >= 0 too, so 0.0 still ranks an infeasible student last (tied with a useless one).

Example:
    >>> reward = Reward.from_budget(speedup=4.0, max_ms=None, teacher_ms=80.0)
    >>> round(reward(loss=0.2, student_ms=20.0, teacher_ms=80.0).reward, 6)
    0.8
"""

from __future__ import annotations

import dataclasses
import math
import numbers

from kdnas.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class RewardResult:
    """The outcome of scoring one student.

    Attributes:
        reward: the scalar reward (0.0 for an infeasible student in hard mode).
        feasible: the student meets the latency target (``lat_S <= beta * lat_T``).
        speedup: ``lat_T / lat_S``.
    """

    reward: float
    feasible: bool
    speedup: float


def _finite(x: float) -> bool:
    """A real number (Python or NumPy), not a bool, neither NaN nor infinite."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reward:
    """MnasNet-style reward ``(1 - clip(L)) * (lat_S / (beta * lat_T)) ** alpha``.

    Args:
        beta: latency target as a fraction of the teacher's latency (1 / required speedup); > 0.
        alpha: latency exponent, < 0 (METHOD.md: about -0.06 to -0.07).
        hard: hard constraint: over the target is infeasible with reward 0.0; within it, ``1 - clip(L)``.
        loss_clip: ``(low, high)`` the loss is clipped to, with ``0 <= low < high <= 1``.

    Raises:
        ConfigError: naming ``latency_budget.<key>`` for an invalid alpha, beta or loss_clip.
    """

    beta: float
    alpha: float = -0.07
    hard: bool = False
    loss_clip: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if not _finite(self.alpha) or self.alpha >= 0:
            raise ConfigError(
                f"latency_budget.alpha: must be negative (slower students earn less), got {self.alpha!r}; "
                "METHOD.md uses about -0.07"
            )
        if not _finite(self.beta) or self.beta <= 0:
            raise ConfigError(
                f"latency_budget.beta: must be a positive number (1 / speedup), got {self.beta!r}"
            )
        clip = tuple(self.loss_clip)
        if len(clip) != 2 or not all(_finite(c) for c in clip) or not 0.0 <= clip[0] < clip[1] <= 1.0:
            raise ConfigError(
                f"latency_budget.loss_clip: expected [low, high] with 0 <= low < high <= 1, got {self.loss_clip!r}"
            )
        object.__setattr__(self, "loss_clip", (float(clip[0]), float(clip[1])))
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "beta", float(self.beta))

    @classmethod
    def from_budget(
        cls,
        speedup: float | None,
        max_ms: float | None,
        teacher_ms: float,
        alpha: float = -0.07,
        hard: bool = False,
        loss_clip: tuple[float, float] = (0.0, 1.0),
    ) -> Reward:
        """A reward for a latency budget given either as a speedup over the teacher or in milliseconds.

        Args:
            speedup: the student must be this many times faster than the teacher (beta = 1 / speedup).
            max_ms: absolute latency target in ms (beta = max_ms / teacher_ms).
            teacher_ms: the teacher's measured latency, in the same setting as the students'.
            alpha, hard, loss_clip: as in :class:`Reward`.

        Raises:
            ConfigError: neither or both of speedup / max_ms given, or a non-positive one (named).
            ValueError: a non-positive or non-finite ``teacher_ms`` (a measurement, not a setting).
        """
        if not _finite(teacher_ms) or teacher_ms <= 0:
            raise ValueError(f"teacher_ms must be a positive number, got {teacher_ms!r}")
        if (speedup is None) == (max_ms is None):
            raise ConfigError(
                "latency_budget: give exactly one of speedup (times faster than the teacher) or max_ms "
                f"(absolute target), got speedup={speedup!r}, max_ms={max_ms!r}"
            )
        if speedup is not None:
            if not _finite(speedup) or speedup <= 0:
                raise ConfigError(f"latency_budget.speedup: must be a positive number, got {speedup!r}")
            beta = 1.0 / speedup
        else:
            assert max_ms is not None  # for the type checker; checked above
            if not _finite(max_ms) or max_ms <= 0:
                raise ConfigError(f"latency_budget.max_ms: must be a positive number of ms, got {max_ms!r}")
            beta = max_ms / teacher_ms
        return cls(beta=beta, alpha=alpha, hard=hard, loss_clip=loss_clip)

    @property
    def target_speedup(self) -> float:
        """The speedup over the teacher that the target asks for (1 / beta)."""
        return 1.0 / self.beta

    def target_ms(self, teacher_ms: float) -> float:
        """The latency target ``beta * teacher_ms``."""
        return self.beta * teacher_ms

    def __call__(self, loss: float, student_ms: float, teacher_ms: float) -> RewardResult:
        """Score one student.

        Raises:
            ValueError: a NaN/infinite loss (the episode loop should mark such a candidate as failed
                instead of rewarding it), or non-positive/non-finite latencies.
        """
        if not _finite(loss):
            raise ValueError(
                f"loss must be a finite number, got {loss!r}; mark the candidate as failed instead"
            )
        for name, value in (("student_ms", student_ms), ("teacher_ms", teacher_ms)):
            if not _finite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite latency, got {value!r}")
        low, high = self.loss_clip
        quality = 1.0 - min(max(float(loss), low), high)
        target = self.beta * teacher_ms
        feasible = student_ms <= target
        speedup = teacher_ms / student_ms
        if self.hard:
            reward = quality if feasible else 0.0
        else:
            reward = quality * (student_ms / target) ** self.alpha
        return RewardResult(reward=float(reward), feasible=bool(feasible), speedup=float(speedup))
