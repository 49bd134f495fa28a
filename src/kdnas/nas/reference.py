"""The teacher as the search's latency reference: its latency, measured once per run (a resumed run scores
alike), and the check that the budget is reachable at all before anything is distilled."""

from __future__ import annotations

import json

from transformers import PreTrainedModel

from kdnas.errors import ConfigError
from kdnas.latency.measure import measure_latency, measure_pair
from kdnas.models.student import build_student
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.seeds import estimated_cost
from kdnas.nas.space import SearchSpace
from kdnas.nas.store import CandidateStore


def teacher_latency(store: CandidateStore, teacher: PreTrainedModel, budget: LatencyBudget) -> float:
    """The teacher's median latency under the budget's profile, stored in ``store`` (resumes reuse it)."""
    key = "teacher_latency:" + json.dumps(budget.profile.to_dict(), sort_keys=True)
    stored = store.meta(key)
    if stored is not None:
        return float(stored["median_ms"])
    result = measure_latency(teacher, budget.profile)
    store.set_meta(key, result.to_dict())
    return result.median_ms


def check_budget_reachable(space: SearchSpace, teacher: PreTrainedModel, budget: LatencyBudget, teacher_ms: float) -> None:
    """Fail early when even the fastest architecture of the space misses the budget's search target.

    The fastest architecture and the teacher are timed side by side (interleaved), and the check compares
    their ratio, so a busy machine does not turn a reachable budget into an error.

    Raises:
        ConfigError: one line naming the budget, the fastest architecture, its latency and the target.
    """
    profile = budget.profile
    tokens = profile.tokens_per_sequence  # a corpus profile: its median input length
    fastest = min(space.all_valid(), key=lambda a: estimated_cost(a, tokens))
    pair = measure_pair(build_student(fastest, teacher, init="random"), teacher, profile)
    ms = teacher_ms / pair.speedup  # the fastest student's latency on the scale of the stored teacher time
    target = budget.search_target_ms(teacher_ms)
    if ms > target:
        raise ConfigError(
            f"latency_budget {budget.name}: unreachable: the fastest architecture in the space, "
            f"{fastest.short_name}, measured {ms:.2f} ms against a target of {target:.2f} ms "
            f"(teacher {teacher_ms:.2f} ms); relax latency_budget.speedup / max_ms or add smaller choices "
            "to the search space"
        )
