"""Families of near-duplicate texts, and the split of each family, so that no family crosses splits.

Hashing each exact text to a split puts "PNM file has an invalid width" in train and "...height" in test,
and "Cannot open file." beside "cannot open file": a test set that partly repeats the training set. A
family is a connected component of the texts under three relations on their normalised forms
(:func:`kdnas.data.normalize.normalize_source`): equal; token-set Jaccard >= 0.8; one word apart
(:mod:`kdnas.data.splits.near_duplicates`). A whole family goes to ``split_of(<its smallest text>)``, so a
text with no near-duplicate keeps exactly the split that hashing the text alone gave it.

Example:
    >>> splits = family_splits(["Cannot open file.", "cannot open file", "Quit now please"], shares)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from kdnas.data.corpus import split_of
from kdnas.data.normalize import normalize_source
from kdnas.data.splits.near_duplicates import group_edges, jaccard_pairs, one_word_groups

#: the token-set Jaccard at and above which two texts are one family
JACCARD = 0.8


@dataclass(frozen=True)
class NormalForms:
    """The distinct normalised forms of some texts, and which form each text has."""

    forms: list[str]  # distinct, sorted
    form_of: dict[str, int]  # text -> index into forms

    @classmethod
    def of(cls, texts: Iterable[str]) -> NormalForms:
        normal = {text: normalize_source(text) for text in dict.fromkeys(texts)}
        forms = sorted(set(normal.values()))
        index = {form: i for i, form in enumerate(forms)}
        return cls(forms, {text: index[form] for text, form in normal.items()})

    def token_sets(self) -> list[frozenset[str]]:
        return [frozenset(form.split()) for form in self.forms]


@dataclass(frozen=True)
class Families:
    """Texts grouped into families: ``family_of[text]`` is the family's id, ``members[id]`` its texts."""

    family_of: dict[str, int]
    members: list[list[str]]  # each sorted; members[id][0] is the family's representative

    def sizes(self) -> list[int]:
        return [len(m) for m in self.members]

    def stats(self) -> dict[str, object]:
        """How many texts, families and singletons; the largest families; sizes as a histogram."""
        sizes = self.sizes()
        n = sum(sizes)
        largest = sorted(sizes, reverse=True)
        histogram = Counter(_size_bin(s) for s in sizes)
        return {
            "texts": n,
            "families": len(sizes),
            "singletons": sum(1 for s in sizes if s == 1),
            "texts_in_families_of_2_plus": sum(s for s in sizes if s > 1),
            "largest": largest[:5],
            "largest_share": largest[0] / n if n else 0.0,
            "histogram": {b: histogram[b] for b in _BINS if histogram[b]},
        }


_BINS = ("1", "2", "3-4", "5-9", "10-49", "50-99", "100+")


def _size_bin(size: int) -> str:
    for label, upper in zip(_BINS, (1, 2, 4, 9, 49, 99), strict=False):
        if size <= upper:
            return label
    return _BINS[-1]


def find_families(texts: Iterable[str], jaccard: float | None = JACCARD, one_word: bool = True) -> Families:
    """Connected components of ``texts`` under: equal normalised form, Jaccard >= ``jaccard`` of the token
    sets (``None``: not used), and (``one_word``) one word apart."""
    nf = NormalForms.of(texts)
    edges: list[tuple[int, int]] = []
    if jaccard is not None:
        edges += group_edges(jaccard_pairs(nf.token_sets(), jaccard))
    if one_word:
        edges += group_edges(one_word_groups(nf.forms, beyond_jaccard=jaccard))
    component = _components(len(nf.forms), edges)
    by_component: dict[int, list[str]] = {}
    for text, form in nf.form_of.items():
        by_component.setdefault(int(component[form]), []).append(text)
    members = sorted((sorted(m) for m in by_component.values()), key=lambda m: m[0])
    family_of = {text: i for i, m in enumerate(members) for text in m}
    return Families(family_of, members)


def _components(n: int, edges: Sequence[tuple[int, int]]) -> np.ndarray:
    """The component label of each of ``n`` nodes (scipy's connected components of the edge graph)."""
    if not edges:
        return np.arange(n)
    rows, cols = np.array(edges, dtype=np.int64).T
    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def family_splits(
    texts: Iterable[str],
    shares: Mapping[str, float],
    jaccard: float | None = JACCARD,
    one_word: bool = True,
) -> dict[str, str]:
    """``text -> split``: every text of a family in ``split_of(<the family's smallest text>, shares)``."""
    families = find_families(texts, jaccard, one_word)
    split_of_family = [split_of(m[0], dict(shares)) for m in families.members]
    return {text: split_of_family[i] for text, i in families.family_of.items()}
