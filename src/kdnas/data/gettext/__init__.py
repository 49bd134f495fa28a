"""A multilingual corpus of human translations read from the gettext catalogs installed on the machine.

May import :mod:`kdnas.data`, :mod:`kdnas.utils` and :mod:`kdnas.errors` only.
"""

from __future__ import annotations

from kdnas.data.gettext.cache import extract_gettext
from kdnas.data.gettext.catalogs import DEFAULT_LOCALE_DIR, Extraction, list_catalogs, read_catalog
from kdnas.data.gettext.clean import clean_message, count_words, has_letter
from kdnas.data.gettext.load import MIN_PAIRS, corpus_stats, load_gettext_corpus

__all__ = [
    "DEFAULT_LOCALE_DIR",
    "MIN_PAIRS",
    "Extraction",
    "clean_message",
    "corpus_stats",
    "count_words",
    "extract_gettext",
    "has_letter",
    "list_catalogs",
    "load_gettext_corpus",
    "read_catalog",
]
