"""The near-duplicate relations between normalised sources, found exactly and in about linear time.

Two relations on the distinct normalised forms of :func:`kdnas.data.normalize.normalize_source` (equal forms
are the third, trivial one):

- token-set Jaccard >= a threshold (:func:`jaccard_pairs`): an exact set-similarity join with prefix
  filtering (Bayardo et al., "Scaling up all pairs similarity search", WWW 2007), so only sets that share a
  rare token are ever compared;
- one word apart (:func:`one_word_groups`): one token substituted, inserted or deleted in the token
  sequence. Each sequence is keyed by its one-token deletions (a deletion neighbourhood): sequences with the
  same deletion at the same position differ in that position only (a substitution), and a sequence equal to
  another's deletion is one insertion away from it; the cost is linear in the total number of words.

A relation is returned as groups of indices whose members are pairwise related (a pair is a group of two),
so that a large substitution bucket costs its size, not its size squared.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

Group = tuple[int, ...]

#: sequences longer than this get no deletion keys: for them (with >= 9 distinct words) one word apart
#: implies token-set Jaccard >= 0.8, so the Jaccard relation already holds them
MAX_ONE_WORD_TOKENS = 64


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b| (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def jaccard_pairs(token_sets: Sequence[frozenset[str]], threshold: float = 0.8) -> list[Group]:
    """Every pair ``(i, j)``, ``i < j``, with ``jaccard(token_sets[i], token_sets[j]) >= threshold``.

    Exact: with the tokens of each set ordered rarest first and the sets visited smallest first, a set
    ``x`` with Jaccard >= t to an earlier (no larger) ``y`` shares at least ``o >= t |x|`` and
    ``o >= 2t / (1 + t) |y|`` tokens with it, so ``x``'s first ``|x| - ceil(t |x|) + 1`` tokens (probed) meet
    ``y``'s first ``|y| - ceil(2t / (1 + t) |y|) + 1`` (indexed). Candidates are then filtered by size
    (``|y| >= t |x|``) and verified. Empty sets are related to nothing.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"the Jaccard threshold must be in (0, 1], got {threshold}")
    freq = Counter(token for tokens in token_sets for token in tokens)
    order = sorted(range(len(token_sets)), key=lambda i: len(token_sets[i]))
    index: dict[str, list[int]] = defaultdict(list)
    pairs: list[Group] = []
    eps = 1e-9
    indexed_share = 2 * threshold / (1 + threshold)
    for i in order:  # ascending size: every indexed set is no larger than the one probing
        x = token_sets[i]
        n = len(x)
        if not n:
            continue
        ranked = sorted(x, key=lambda t: (freq[t], t))
        candidates = {j for token in ranked[: n - math.ceil(threshold * n - eps) + 1] for j in index.get(token, ())}
        for j in candidates:
            y = token_sets[j]
            m = len(y)
            if m >= threshold * n - eps:
                shared = len(x & y)  # Jaccard >= t  <=>  shared (1 + t) >= t (|x| + |y|)
                if shared * (1 + threshold) >= threshold * (n + m) - eps:
                    pairs.append((min(i, j), max(i, j)))
        for token in ranked[: n - math.ceil(indexed_share * n - eps) + 1]:
            index[token].append(i)
    return sorted(pairs)


def one_word_groups(
    forms: Sequence[str], max_tokens: int = MAX_ONE_WORD_TOKENS, beyond_jaccard: float | None = None
) -> list[Group]:
    """Groups of distinct forms (words joined by single spaces) pairwise one word apart: one word
    substituted, inserted or deleted.

    A group is either a substitution bucket (the forms equal but at one word) or a ``(shorter, longer)``
    insertion pair. The words left in common must be at least one (so two single words are not related);
    forms of more than ``max_tokens`` words are left out (see :data:`MAX_ONE_WORD_TOKENS`).

    ``beyond_jaccard=t`` keeps only what the Jaccard >= t relation may miss, which is enough for a union
    of the two and cheap on long texts: one substitution in a form of ``d`` distinct words leaves a
    Jaccard >= (d - 1) / (d + 1), one insertion into it >= d / (d + 1), so only forms with fewer distinct
    words than these bounds need keys. Keys are string slices, built in C.
    """
    sub_limit = ins_limit = float("inf")
    if beyond_jaccard is not None and beyond_jaccard < 1.0:
        sub_limit = (1 + beyond_jaccard) / (1 - beyond_jaccard)  # distinct words below which J may be < t
        ins_limit = beyond_jaccard / (1 - beyond_jaccard) + 1  # the longer form's, after an insertion
    full = {form: i for i, form in enumerate(forms)}
    if len(full) != len(forms):
        raise ValueError("one_word_groups needs distinct forms")
    buckets: dict[str, list[int]] = defaultdict(list)
    inserted: set[Group] = set()
    for i, form in enumerate(forms):
        words = form.split(" ")
        if len(words) < 2 or len(words) > max_tokens:  # two single words share nothing: not near-duplicates
            continue
        distinct = len(set(words))
        substitutions, insertions = distinct < sub_limit, distinct < ins_limit
        if not (substitutions or insertions):
            continue
        start = 0
        for p, word in enumerate(words):
            end = start + len(word)
            if substitutions:
                buckets[f"{form[:start]}\0{form[end:]}"].append(i)  # the position is the spaces before \0
            if insertions:
                shorter = form[:start] + form[end + 1 :] if p < len(words) - 1 else form[: start - 1]
                if (j := full.get(shorter)) is not None:
                    inserted.add((j, i))
            start = end + 1
    groups = [tuple(members) for members in buckets.values() if len(members) > 1]
    return sorted(groups) + sorted(inserted)


def group_edges(groups: Sequence[Group]) -> list[tuple[int, int]]:
    """A spanning chain of each group: enough edges to connect its members (for connected components)."""
    return [(g[0], member) for g in groups for member in g[1:]]
