"""Replay a search against a candidate store: nothing distilled, nothing timed, no teacher forward.

Every search stores its measurements under its setting (:func:`kdnas.nas.store.setting_key`). A replay runs
the same episode loop over those measurements only: the controller is asked within the pool of
architectures the store holds (``Search(pool=...)``), each candidate is read back from the table
(:class:`ReplayTable` is the evaluator, its candidates have source ``replayed``), and the teacher's latency
is the one the stored candidates were timed beside (``latency * paired speed-up``, the median over the
table), so every speed-up is the stored side-by-side one. It is deterministic per seed and takes seconds,
so search strategies can be compared over many seeds on the same measurements.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.space import SearchSpace
from kdnas.nas.store import REPLAYED, CandidateStore, Measurement


@dataclass(frozen=True)
class ReplayTable:
    """The measurements of one setting, as an evaluator ``(arch, seed) -> Measurement`` (seed unused).

    Attributes:
        measurements: by arch id.
        teacher_ms: the teacher latency the stored candidates were timed beside (median over the table).
        setting: the setting key they were stored under.
    """

    measurements: dict[str, Measurement]
    teacher_ms: float
    setting: str

    @classmethod
    def load(cls, store: CandidateStore, setting: str, key: str = "search.shared_store") -> ReplayTable:
        """Every measurement ``store`` holds under ``setting``.

        Raises:
            ConfigError: one line when the store holds none, or none timed beside the teacher.
        """
        found = {m.arch.arch_id: m for m in store.measurements(setting)}
        if not found:
            raise ConfigError(
                f"search.replay=true: {key} {store.where} holds no measurement of this setting ({setting}): run the "
                "same search without search.replay first (same teacher, data, distillation and latency settings), "
                "and set search.replay_seed to the search.seed it ran with")
        teacher = [m.latency_median_ms * m.paired_speedup for m in found.values()
                   if m.ok and math.isfinite(m.paired_speedup) and math.isfinite(m.latency_median_ms)]
        if not teacher:
            raise ConfigError(
                f"search.replay=true: none of the {len(found)} measurements of setting {setting} in {store.where} "
                "was timed beside the teacher (search.paired_latency=false, or stored by an older kdnas), so they "
                "give no teacher latency: re-run the search with search.paired_latency=true")
        return cls(found, float(statistics.median(teacher)), setting)

    @property
    def pool(self) -> frozenset[str]:
        """The arch ids a replay may evaluate."""
        return frozenset(self.measurements)

    def require(self, space: SearchSpace, wanted: int) -> None:
        """Fail with one line when the space holds fewer than ``wanted`` of the table's architectures.

        Raises:
            ConfigError: naming how many there are, how many the search asks for, and what to do.
        """
        have = sum(a.arch_id in self.measurements for a in space.all_valid())
        if have < wanted:
            raise ConfigError(
                f"search.replay=true: the store holds {have} architectures of this search space measured under "
                f"setting {self.setting}, fewer than the {wanted} this search evaluates (search.episodes x "
                "search.candidates_per_episode): lower those, or measure more first with search.replay=false")

    def __call__(self, arch: ArchSpec, seed: int = 0) -> Measurement:
        found = self.measurements.get(arch.arch_id)
        if found is None:
            raise KeyError(f"replay: {arch.short_name} is not in the table (the search's pool must be the table's)")
        return dataclasses.replace(found, run=REPLAYED)

    def student_ms(self, arch: ArchSpec) -> float | None:
        """The stored latency on the scale of :attr:`teacher_ms` (None: not measured, or failed)."""
        found = self.measurements.get(arch.arch_id)
        if found is None or not found.ok:
            return None
        return found.on_scale(self.teacher_ms).latency_median_ms
