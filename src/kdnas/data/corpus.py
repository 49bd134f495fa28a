"""The corpus abstraction every data source produces.

A :class:`Corpus` holds five disjoint splits. ``train`` feeds full distillation, ``proxy`` the short
distillations of the search, ``validation`` the validation loss (and the proxy reward). ``dev`` is where
every choice is made (levers, proxy settings, the recipe, thresholds); ``test`` is read once, for the final
reports only, so no choice is tuned on it. Sources with translations (gettext catalogs) also keep ``(English, translation, language)``
pairs per split, for cross-lingual evaluation; they split by English source string so that no sentence
or any of its translations appears in two splits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

SPLITS: tuple[str, ...] = ("train", "proxy", "validation", "dev", "test")


@dataclass(frozen=True)
class TranslationPair:
    """One human translation of an English source string."""

    source: str  # the English string
    translation: str
    language: str  # e.g. "fr", "zh_CN"


@dataclass
class CorpusSplit:
    texts: list[str]  # the sentences to distil on (unique)
    pairs: list[TranslationPair] = field(default_factory=list)  # empty for monolingual sources


@dataclass
class Corpus:
    name: str
    splits: dict[str, CorpusSplit]

    def __post_init__(self) -> None:
        missing = [s for s in SPLITS if s not in self.splits]
        if missing:
            raise ValueError(f"corpus {self.name!r} lacks splits {missing}")

    def texts(self, split: str) -> list[str]:
        return self.splits[split].texts

    def pairs(self, split: str) -> list[TranslationPair]:
        return self.splits[split].pairs

    def fingerprint(self, split: str) -> str:
        """Stable hash of a split's texts (keys the teacher-output cache and the candidate store)."""
        return texts_fingerprint(self.splits[split].texts)

    def sizes(self) -> dict[str, int]:
        return {s: len(self.splits[s].texts) for s in SPLITS}


def texts_fingerprint(texts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def split_of(key: str, fractions: dict[str, float], salt: str = "kdnas") -> str:
    """Assign ``key`` to a split by a stable hash, so the same key always lands in the same split.

    ``fractions`` maps split name to its share; shares must sum to 1.
    """
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    acc = 0.0
    for name, frac in fractions.items():
        acc += frac
        if u < acc:
            return name
    return next(reversed(fractions))
