"""The baseline every learned controller must beat: uniformly random unseen architectures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kdnas.models.arch import ArchSpec
from kdnas.nas.controllers.base import Controller, Proposal


class RandomController(Controller):
    """``k`` distinct unseen valid architectures drawn uniformly; :meth:`predict` returns zeros."""

    has_predictor = False

    def _choose(self, rng: np.random.Generator, available: list[ArchSpec], k: int) -> list[Proposal]:
        picks = rng.choice(len(available), size=k, replace=False)
        return [Proposal(available[int(i)], "random") for i in picks]

    def predict(self, archs: Sequence[ArchSpec]) -> np.ndarray:
        return np.zeros(len(archs))
