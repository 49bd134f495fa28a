"""A monolingual corpus from plain text files: one sentence per non-empty line.

Lines are stripped, de-duplicated, grouped into families of near-duplicates (equal up to case, punctuation
and digits, token-set Jaccard >= 0.8, or one word apart: :mod:`kdnas.data.splits.families`) and each
family is assigned to a split by a stable hash of its smallest line (``split_of``). Adding files moves an
existing sentence to another split only when a new line joins its family.

This module also holds the split helpers the other corpus sources share (fraction and cap checks, the
seeded cap-and-shuffle of a split).
"""

from __future__ import annotations

import glob
import os
import random
from collections.abc import Iterable, Mapping, Sequence

from kdnas.data.corpus import SPLITS, Corpus, CorpusSplit
from kdnas.data.splits.families import family_splits
from kdnas.errors import ConfigError
from kdnas.utils.checks import is_int

# train feeds full distillation; proxy the search's short distillations; validation the proxy reward;
# dev every choice; test the final reports only.
DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.75, "proxy": 0.05, "validation": 0.05, "dev": 0.05, "test": 0.1}


def check_fractions(
    fractions: Mapping[str, float] | None,
    key: str = "data.fractions",
    default: Mapping[str, float] = DEFAULT_FRACTIONS,
) -> dict[str, float]:
    """Validate split shares (every split named, none negative, sum 1); ``None`` gives ``default``.

    The result is ordered as :data:`SPLITS`, so ``split_of`` assigns the same way whatever order the
    user wrote the shares in.
    """
    if fractions is None:
        return {s: float(default[s]) for s in SPLITS}
    given = {str(k): v for k, v in dict(fractions).items()}
    if set(given) != set(SPLITS):
        raise ConfigError(
            f"{key} must give a share for exactly the splits {list(SPLITS)}, got {sorted(given)}; "
            f"e.g. {key}={dict(default)}"
        )
    try:
        shares = {s: float(given[s]) for s in SPLITS}
    except (TypeError, ValueError):
        raise ConfigError(f"{key} shares must be numbers, got {given}") from None
    if any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ConfigError(
            f"{key} shares must be >= 0 and sum to 1, got {shares} (sum {sum(shares.values())})"
        )
    return shares


def check_max_texts(
    max_texts: Mapping[str, int | None] | None, key: str = "data.max_texts"
) -> dict[str, int | None]:
    """Validate per-split caps on the number of texts (``None`` = no cap); unnamed splits are uncapped."""
    caps: dict[str, int | None] = dict.fromkeys(SPLITS)
    if max_texts is None:
        return caps
    for split, cap in dict(max_texts).items():
        if split not in SPLITS:
            raise ConfigError(f"{key} names unknown split {split!r}; the splits are {list(SPLITS)}")
        if cap is not None and not _is_count(cap):
            raise ConfigError(f"{key}.{split} must be a positive integer or null (no cap), got {cap!r}")
        caps[str(split)] = cap
    return caps


def _is_count(value: object) -> bool:
    """A positive integer (not a bool)."""
    return is_int(value) and value >= 1  # type: ignore[operator]


def cap_and_shuffle(texts: Sequence[str], cap: int | None, rng: random.Random) -> list[str]:
    """A seeded sample of at most ``cap`` texts, in seeded shuffled order (input order does not matter)."""
    out = sorted(texts)  # the result depends on the set of texts and the seed only
    rng.shuffle(out)
    return out if cap is None else out[:cap]


def split_monolingual(
    name: str,
    texts: Iterable[str],
    fractions: Mapping[str, float] | None = None,
    max_texts: Mapping[str, int | None] | None = None,
    seed: int = 0,
) -> Corpus:
    """Build a :class:`Corpus` from unique sentences, each family of near-duplicates in one split."""
    shares = check_fractions(fractions)
    caps = check_max_texts(max_texts)
    unique = list(dict.fromkeys(texts))  # dedupe, keep first-seen order
    split_of_text = family_splits(unique, shares)
    by_split: dict[str, list[str]] = {s: [] for s in SPLITS}
    for text in unique:
        by_split[split_of_text[text]].append(text)
    splits = {
        s: CorpusSplit(texts=cap_and_shuffle(by_split[s], caps[s], random.Random(f"{seed}:{s}")))
        for s in SPLITS
    }
    return Corpus(name=name, splits=splits)


def expand_paths(paths: Sequence[str] | str, key: str = "data.paths") -> list[str]:
    """Expand ``~`` and globs; a pattern that matches nothing is an error (likely a typo)."""
    patterns = [paths] if isinstance(paths, str) else list(paths)
    if not patterns:
        raise ConfigError(
            f"{key} is empty: give one or more text files (globs allowed), e.g. {key}=[corpus/*.txt]"
        )
    files: list[str] = []
    for pattern in patterns:
        expanded = os.path.expanduser(str(pattern))
        matches = sorted(glob.glob(expanded, recursive=True)) if glob.has_magic(expanded) else [expanded]
        matches = [m for m in matches if os.path.isfile(m)]
        if not matches:
            raise ConfigError(f"{key}: no file matches {pattern!r}; give existing text files (globs allowed)")
        files.extend(matches)
    return list(dict.fromkeys(files))


def read_lines(path: str, min_chars: int = 1, key: str = "data.paths") -> list[str]:
    """The stripped lines of a UTF-8 text file that have at least ``min_chars`` characters."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [" ".join(line.split()) for line in fh]  # collapse inner whitespace and tabs
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{key}: cannot read {path!r} as UTF-8 text ({err}); fix or remove it") from None
    return [line for line in lines if len(line) >= max(1, min_chars)]


def load_text_files_corpus(
    paths: Sequence[str] | str,
    fractions: Mapping[str, float] | None = None,
    max_texts: Mapping[str, int | None] | None = None,
    min_chars: int = 1,
    seed: int = 0,
) -> Corpus:
    """A corpus from UTF-8 text files, one sentence per line (blank and shorter lines dropped).

    Args:
        paths: files or glob patterns (``~`` and ``**`` allowed).
        fractions: share of sentences per split (default :data:`DEFAULT_FRACTIONS`).
        max_texts: cap per split (``None`` or a missing split = no cap), sampled with ``seed``.
        min_chars: drop lines shorter than this after stripping.
        seed: seeds the sampling and the order of each split's texts.

    Raises:
        ConfigError: no file matches, a file is unreadable, or no line survives.
    """
    files = expand_paths(paths)
    texts = [line for path in files for line in read_lines(path, min_chars)]
    if not texts:
        raise ConfigError(
            f"data.paths: no line of at least {min_chars} characters in {files}; "
            "give text files with one sentence per line (or lower data.min_chars)"
        )
    return split_monolingual("text_files", texts, fractions, max_texts, seed)
