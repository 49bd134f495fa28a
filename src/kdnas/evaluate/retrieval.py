"""Cross-lingual sentence retrieval, in the manner of XTREME's Tatoeba task.

For each language, ``n`` English sources and their human translations (distinct sources, distinct
translations) are embedded; every translation searches the ``n`` sources for its own by cosine similarity
(xx->en) and every source its translation (en->xx). The score is precision@1, the fraction found first.

The sample is deterministic: sources are ranked by a hash of ``(seed, source)`` and every language takes
the first ``n`` of its pairs in that ranking. A language's sample is thus a uniform random subset of its
pairs, and languages share most of their English sources, so the sources are embedded only once.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kdnas.data.corpus import TranslationPair


def sample_key(seed: int, source: str) -> bytes:
    """The rank of an English source in every sample drawn with ``seed``."""
    return hashlib.sha256(f"{seed}\0{source}".encode()).digest()[:8]


def ranked_pairs(pairs: Iterable[TranslationPair], seed: int) -> dict[str, list[TranslationPair]]:
    """Each language's pairs in sample order (by :func:`sample_key` of the source), distinct on both sides.

    A pair whose source or translation already occurred earlier in its language's ranking is dropped, so any
    prefix of a language's list is a valid retrieval sample.
    """
    by_language: dict[str, list[TranslationPair]] = defaultdict(list)
    for pair in pairs:
        by_language[pair.language].append(pair)
    keys: dict[str, bytes] = {}
    for items in by_language.values():
        for pair in items:
            if pair.source not in keys:
                keys[pair.source] = sample_key(seed, pair.source)
    ranked: dict[str, list[TranslationPair]] = {}
    for language, items in by_language.items():
        items.sort(key=lambda p: (keys[p.source], p.translation))
        seen_sources: set[str] = set()
        seen_translations: set[str] = set()
        kept = []
        for pair in items:
            if pair.source in seen_sources or pair.translation in seen_translations:
                continue
            seen_sources.add(pair.source)
            seen_translations.add(pair.translation)
            kept.append(pair)
        ranked[language] = kept
    return ranked


@dataclass
class RetrievalPlan:
    """Which pairs each language is scored on, and the languages left out (with the reason)."""

    samples: dict[str, list[TranslationPair]]
    skipped: dict[str, str] = field(default_factory=dict)

    def texts(self) -> list[str]:
        """Every text to embed (English sources and translations), each once, in a stable order."""
        out: dict[str, None] = {}
        for pairs in self.samples.values():
            for p in pairs:
                out[p.source] = None
                out[p.translation] = None
        return list(out)


def plan_retrieval(
    pairs: Sequence[TranslationPair],
    languages: Sequence[str],
    n_candidates: int,
    min_candidates: int,
    seed: int,
    ranked: Mapping[str, list[TranslationPair]] | None = None,
) -> RetrievalPlan:
    """Choose each language's ``n_candidates`` pairs (fewer, down to ``min_candidates``, if it lacks them).

    Args:
        pairs: the test split's pairs.
        languages: locale names; a language with fewer than ``min_candidates`` usable pairs is skipped
            (noted in :attr:`RetrievalPlan.skipped`).
        ranked: :func:`ranked_pairs` of ``pairs`` with ``seed``, if already computed.
    """
    ranked = ranked if ranked is not None else ranked_pairs(pairs, seed)
    samples: dict[str, list[TranslationPair]] = {}
    skipped: dict[str, str] = {}
    for language in languages:
        available = ranked.get(language, [])
        if len(available) < min_candidates:
            skipped[language] = f"{len(available)} usable test pairs < eval.min_candidates={min_candidates}"
            continue
        samples[language] = available[:n_candidates]
    return RetrievalPlan(samples, skipped)


def hits_at_1(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Per row ``i`` of ``queries``: whether its most similar row of ``keys`` (dot product) is row ``i``.

    Rows are expected L2-normalised (then the dot product is the cosine). Ties go to the lowest index.
    """
    if queries.shape != keys.shape or queries.ndim != 2:
        raise ValueError(f"queries and keys must be matching (n, d) arrays, got {queries.shape} and {keys.shape}")
    if len(queries) == 0:
        raise ValueError("precision_at_1 of zero queries")
    scores = queries.astype(np.float32) @ keys.astype(np.float32).T  # (n, n)
    return scores.argmax(axis=1) == np.arange(len(queries))


def precision_at_1(queries: np.ndarray, keys: np.ndarray) -> float:
    """The fraction of :func:`hits_at_1`."""
    return float(np.mean(hits_at_1(queries, keys)))


def score_retrieval(plan: RetrievalPlan, embedding: Mapping[str, np.ndarray]) -> dict[str, object]:
    """Per-language precision@1 in both directions, and their macro average.

    Args:
        embedding: text -> its unit-length embedding, for every text of :meth:`RetrievalPlan.texts`.

    Returns:
        ``{"per_language": {lang: {"en_xx", "xx_en", "mean", "n"}}, "en_xx", "xx_en", "macro", "skipped",
        "items"}`` where ``macro`` is the mean over languages of both directions' mean (``None`` with no
        language) and ``items[lang]`` each pair's score (the mean of its two hits), for intervals.
    """
    per_language: dict[str, dict[str, float | int]] = {}
    items: dict[str, np.ndarray] = {}
    for language, pairs in plan.samples.items():
        sources = np.stack([embedding[p.source] for p in pairs])  # (n, H)
        translations = np.stack([embedding[p.translation] for p in pairs])  # (n, H)
        en_hits, xx_hits = hits_at_1(sources, translations), hits_at_1(translations, sources)
        items[language] = (en_hits.astype(np.float64) + xx_hits) / 2
        en_xx, xx_en = float(en_hits.mean()), float(xx_hits.mean())
        per_language[language] = {"en_xx": en_xx, "xx_en": xx_en, "mean": (en_xx + xx_en) / 2, "n": len(pairs)}
    rows = list(per_language.values())
    return {
        "per_language": per_language,
        "en_xx": _mean(r["en_xx"] for r in rows),
        "xx_en": _mean(r["xx_en"] for r in rows),
        "macro": _mean(r["mean"] for r in rows),
        "skipped": dict(plan.skipped),
        "items": items,
    }


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return float(np.mean(items)) if items else None
