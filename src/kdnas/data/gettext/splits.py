"""Splitting translations by English source, so that no source or any of its translations is in two splits.

English sources are grouped into families of near-duplicates (:mod:`kdnas.data.splits.families`: equal up to
case, punctuation and digits, token-set Jaccard >= 0.8, or one word apart) and each family goes whole to
the split ``split_of(<its smallest source>, fractions)`` gives it; a translation shared by
sources of several splits is kept in one of them only (:func:`drop_cross_split_texts`); a split is then
sampled under its text budget in whole source groups and shuffled (:func:`build_split`).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping

from kdnas.data.corpus import SPLITS, CorpusSplit, TranslationPair
from kdnas.data.splits.families import family_splits

Groups = dict[str, dict[str, dict[str, str]]]  # split -> English source -> language -> translation


def group_by_split(translations: Mapping[str, dict[str, str]], shares: dict[str, float]) -> Groups:
    """Each source (with its translations) under the split of its family of near-duplicates."""
    groups: Groups = {s: {} for s in SPLITS}
    split_of_source = family_splits(translations, shares)
    for source, per_language in translations.items():
        groups[split_of_source[source]][source] = per_language
    return groups


def drop_cross_split_texts(groups: Groups) -> int:
    """Remove, in place, translations whose text also occurs in another split; returns how many.

    Different sources can share a translation ("Cannot open file" and "Could not open file" are both
    "Impossible d'ouvrir le fichier"), and a translation can equal another split's English source. Such a
    text stays only in the split holding it as an English source, else in the split where it translates
    the most sources (ties: the earlier split in SPLITS); the other splits lose those pairs (~0.2%).
    """
    split_of_source = {source: split for split, group in groups.items() for source in group}
    first_split: dict[str, str] = {}
    shared: set[str] = set()
    for split, group in groups.items():
        for translations in group.values():
            for text in translations.values():
                if first_split.setdefault(text, split) != split or split_of_source.get(text, split) != split:
                    shared.add(text)
    owner = _owners(groups, shared, split_of_source)
    dropped = 0
    for split, group in groups.items():
        for source, translations in list(group.items()):
            if shared.isdisjoint(translations.values()):
                continue
            kept = {lang: text for lang, text in translations.items() if owner.get(text, split) == split}
            dropped += len(translations) - len(kept)
            if kept:
                group[source] = kept
            else:
                del group[source]
    return dropped


def _owners(
    groups: Mapping[str, Mapping[str, Mapping[str, str]]],
    shared: set[str],
    split_of_source: Mapping[str, str],
) -> dict[str, str]:
    """The one split each shared text is kept in (see :func:`drop_cross_split_texts`)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for split, group in groups.items():
        for translations in group.values():
            for text in translations.values():
                if text in shared:
                    counts[text][split] += 1
    return {
        text: split_of_source.get(text) or max(SPLITS, key=lambda s: (counts[text][s], -SPLITS.index(s)))
        for text in shared
    }


def _sample_sources(group: Mapping[str, Mapping[str, str]], cap: int | None, rng: random.Random) -> list[str]:
    """A split's sources in seeded order; with a cap, whole source groups while they fit the text budget."""
    sources = sorted(group)  # the result depends on the content and the seed only
    rng.shuffle(sources)
    if cap is None:
        return sources
    kept: list[str] = []
    seen: set[str] = set()
    for source in sources:
        new = {source, *group[source].values()} - seen
        if len(seen) + len(new) <= cap:
            kept.append(source)
            seen |= new
            if len(seen) == cap:
                break
    return kept


def build_split(group: Mapping[str, Mapping[str, str]], cap: int | None, rng: random.Random) -> CorpusSplit:
    """One split: its sampled pairs, and its unique sources and translations in a seeded shuffled order."""
    pairs: list[TranslationPair] = []
    texts: dict[str, None] = {}  # an ordered set: one translation can serve several sources
    for source in _sample_sources(group, cap, rng):
        texts[source] = None
        for language, translation in sorted(group[source].items()):
            pairs.append(TranslationPair(source=source, translation=translation, language=language))
            texts[translation] = None
    shuffled = list(texts)
    rng.shuffle(shuffled)  # mix languages and sources within a batch
    return CorpusSplit(texts=shuffled, pairs=pairs)
