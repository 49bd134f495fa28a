"""The normalised form of an English source, under which near-identical strings count as one.

Two sources that differ only in case, punctuation, digits or whitespace ("Cannot open file 3." and
"cannot open file") have the same :func:`normalize_source`; :func:`source_tokens` is its word list, the unit
of the near-duplicate tests (token-set Jaccard, one word apart) that keep families of sources in one split.
"""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[\W\d_]+")


def normalize_source(text: str) -> str:
    """Lower case, NFKC, every run of punctuation, digits, symbols or whitespace replaced by one space."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", folded).strip()


def source_tokens(text: str) -> list[str]:
    """The words of :func:`normalize_source` in order."""
    return normalize_source(text).split()
