"""Near-duplicate-safe corpus splits: families of near-identical texts kept in one split, and the leakage
figures that check it (``python -m kdnas.data.splits`` prints them).

May import :mod:`kdnas.data`, :mod:`kdnas.utils` and :mod:`kdnas.errors` only (``__main__`` is an entry point
and calls :mod:`kdnas.pipelines.splits`).
"""

from __future__ import annotations

from kdnas.data.splits.families import JACCARD, Families, family_splits, find_families
from kdnas.data.splits.leakage import RELATIONS, english_sources, leakage

__all__ = ["JACCARD", "RELATIONS", "Families", "english_sources", "family_splits", "find_families", "leakage"]
