"""How much of each split repeats another split, up to case, punctuation and a word: the check on the splits.

For every split and relation, the number of the split's English sources that have a near-duplicate in
another split: an equal normalised form (must be 0), a token-set Jaccard >= 0.8 (must be 0; it includes the
equal forms), one word apart (0 when the families use that relation). A split's English sources are the
sources of its translation pairs (gettext), else its texts (monolingual corpora).

Example:
    >>> leakage(load_gettext_corpus())["jaccard"]["test"]  # doctest: +SKIP
    0
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from kdnas.data.corpus import SPLITS, Corpus
from kdnas.data.splits.families import JACCARD, NormalForms
from kdnas.data.splits.near_duplicates import Group, jaccard_pairs, one_word_groups

RELATIONS = ("normalized_equal", "jaccard", "one_word_apart")


def english_sources(corpus: Corpus, split: str) -> list[str]:
    """The split's unique English sources: its pairs' sources, else (a monolingual corpus) its texts."""
    pairs = corpus.pairs(split)
    return list(dict.fromkeys(p.source for p in pairs)) if pairs else list(corpus.texts(split))


def leakage(corpus: Corpus, jaccard: float = JACCARD) -> dict[str, dict[str, int]]:
    """``{"sources" | relation: {split: count, ..., "total": count}}``: per split, its English sources and
    how many of them have a near-duplicate in another split under each of :data:`RELATIONS`."""
    names = [s for s in SPLITS if s in corpus.splits]
    per_split = {s: english_sources(corpus, s) for s in names}
    nf = NormalForms.of(t for s in names for t in per_split[s])
    # form -> split -> how many of the split's sources have that form
    counts: list[dict[str, int]] = [defaultdict(int) for _ in nf.forms]
    for s in names:
        for text in per_split[s]:
            counts[nf.form_of[text]][s] += 1
    identity: list[Group] = [(i,) for i in range(len(nf.forms))]  # equal forms: Jaccard 1, not one word apart
    relations: dict[str, Sequence[Group]] = {
        "normalized_equal": identity,
        "jaccard": identity + jaccard_pairs(nf.token_sets(), jaccard),
        "one_word_apart": one_word_groups(nf.forms),
    }
    result: dict[str, dict[str, int]] = {"sources": _with_total({s: len(per_split[s]) for s in names})}
    for name, groups in relations.items():
        flagged = _leaking(groups, counts)
        leaked = dict.fromkeys(names, 0)
        for form, split in flagged:
            leaked[split] += counts[form][split]
        result[name] = _with_total(leaked)
    return result


def _leaking(groups: Sequence[Group], counts: Sequence[Mapping[str, int]]) -> set[tuple[int, str]]:
    """The ``(form, split)`` whose sources are related to a source of another split.

    A group's members are pairwise related (a one-member group relates a form to itself). A member's
    split-``s`` sources leak when another member holds sources of a split other than ``s``, or, in a group
    of one, when the form itself also occurs in another split.
    """
    flagged: set[tuple[int, str]] = set()
    for group in groups:
        if len(group) == 1:
            own = counts[group[0]]
            flagged.update((group[0], split) for split in own if len(own) > 1)
            continue
        holders: dict[str, int] = defaultdict(int)  # split -> how many members hold sources of it
        for form in group:
            for split in counts[form]:
                holders[split] += 1
        for form in group:
            own = counts[form]
            for split in own:
                if any(n - (other in own) > 0 for other, n in holders.items() if other != split):
                    flagged.add((form, split))
    return flagged


def _with_total(per_split: dict[str, int]) -> dict[str, int]:
    return {**per_split, "total": sum(per_split.values())}
