"""What distilling one candidate on the proxy set measured, and the key it is stored under.

A latency is only meaningful against a teacher time: a candidate timed side by side with the teacher keeps that
ratio (:attr:`Measurement.paired_speedup`), so a run that reuses it (another job, a replay) puts it on its own
teacher's scale (:meth:`Measurement.on_scale`) instead of dividing by a teacher time it measured itself.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from kdnas.models.arch import ArchSpec

#: :attr:`Measurement.run` of a run's own measurements and of those read from a shared store
THIS_RUN, SHARED = "run", "shared"
#: :attr:`Measurement.run` of a measurement a replay (``search.replay=true``) read back from a store
REPLAYED = "replayed"
#: distillations of one candidate before its failure is final: a failed one is retried once, by a later run
MAX_ATTEMPTS = 2


def setting_key(parts: Mapping[str, Any]) -> str:
    """A 16-hex-digit hash of everything that determines a candidate's measured loss and latency.

    Measurements are stored under it: two searches share a measurement only when their settings agree
    (teacher, proxy set, distillation settings, latency profile...), whatever their budgets.
    """
    return hashlib.sha256(json.dumps(dict(parts), sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Measurement:
    """What distilling one candidate on the proxy set measured."""

    arch: ArchSpec
    status: str  # ok | failed
    reason: str = ""
    parameters: int = 0
    parameters_without_embeddings: int = 0
    loss: float = math.nan
    latency_median_ms: float = math.nan
    latency_p90_ms: float = math.nan
    latency_cv: float = math.nan
    wall_seconds: float = 0.0
    #: the speed-up over the teacher timed side by side with it (NaN: timed alone, against a teacher time)
    paired_speedup: float = math.nan
    #: distillations this result took (a failure with fewer than :data:`MAX_ATTEMPTS` is retried by a later run)
    attempts: int = 1
    #: who measured it: :data:`THIS_RUN` (this run's own, also after a resume), :data:`SHARED` (another job of
    #: a shared store), or empty (not stored yet)
    run: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def retryable(self) -> bool:
        """A failure that a later run distils again (a second failure is final)."""
        return self.status == "failed" and self.attempts < MAX_ATTEMPTS

    def speedup_over(self, teacher_ms: float) -> float:
        """The speed-up over the teacher: the side-by-side one when it was timed so, else ``teacher_ms / latency``."""
        if math.isfinite(self.paired_speedup) and self.paired_speedup > 0:
            return self.paired_speedup
        return teacher_ms / self.latency_median_ms

    def on_scale(self, teacher_ms: float) -> Measurement:
        """This measurement with its latencies on the scale of ``teacher_ms`` (``teacher_ms / paired speed-up``,
        p90 alike); itself when it has no paired speed-up or already is on that scale."""
        if not (self.ok and math.isfinite(self.paired_speedup) and self.paired_speedup > 0):
            return self
        factor = teacher_ms / self.paired_speedup / self.latency_median_ms
        if math.isclose(factor, 1.0, rel_tol=1e-12) or not math.isfinite(factor):
            return self
        return replace(self, latency_median_ms=self.latency_median_ms * factor,
                       latency_p90_ms=self.latency_p90_ms * factor)

    def to_row(self) -> dict[str, Any]:
        """The columns of the ``measurements`` table (NaN as NULL: not every database stores NaN)."""
        row = asdict(self)
        row["arch"] = json.dumps(self.arch.to_dict(), sort_keys=True)
        return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Measurement:
        """A stored row back (a row migrated from schema v2 has no paired speed-up and one attempt)."""

        def num(key: str) -> float:
            return math.nan if row.get(key) is None else float(row[key])

        return cls(arch=ArchSpec.from_dict(json.loads(row["arch"])), status=row["status"], reason=row["reason"] or "",
                   parameters=row["parameters"] or 0, parameters_without_embeddings=row["parameters_without_embeddings"] or 0,
                   loss=num("loss"), latency_median_ms=num("latency_median_ms"), latency_p90_ms=num("latency_p90_ms"),
                   latency_cv=num("latency_cv"), wall_seconds=row["wall_seconds"] or 0.0,
                   paired_speedup=num("paired_speedup"), attempts=int(row.get("attempts") or 1), run=row["run"] or "")
