"""What distilling one candidate on the proxy set measured, and the key it is stored under."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from kdnas.models.arch import ArchSpec

#: :attr:`Measurement.run` of a run's own measurements and of those read from a shared store
THIS_RUN, SHARED = "run", "shared"


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
    loss: float = float("nan")
    latency_median_ms: float = float("nan")
    latency_p90_ms: float = float("nan")
    latency_cv: float = float("nan")
    wall_seconds: float = 0.0
    #: who measured it: :data:`THIS_RUN` (this run's own, also after a resume), :data:`SHARED` (another job of
    #: a shared store), or empty (not stored yet)
    run: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_row(self) -> dict[str, Any]:
        """The columns of the ``measurements`` table (NaN as NULL: not every database stores NaN)."""
        row = asdict(self)
        row["arch"] = json.dumps(self.arch.to_dict(), sort_keys=True)
        return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Measurement:
        def num(key: str) -> float:
            return float("nan") if row[key] is None else float(row[key])

        return cls(arch=ArchSpec.from_dict(json.loads(row["arch"])), status=row["status"], reason=row["reason"] or "",
                   parameters=row["parameters"] or 0, parameters_without_embeddings=row["parameters_without_embeddings"] or 0,
                   loss=num("loss"), latency_median_ms=num("latency_median_ms"), latency_p90_ms=num("latency_p90_ms"),
                   latency_cv=num("latency_cv"), wall_seconds=row["wall_seconds"] or 0.0, run=row["run"] or "")
