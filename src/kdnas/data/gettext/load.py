"""The gettext corpus: the cached extraction, filtered by language, split by English source, with its sizes.

Example:
    >>> corpus = load_gettext_corpus(max_texts={"proxy": 2000})  # doctest: +SKIP
    >>> corpus_stats(corpus)["texts"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Mapping, Sequence

from kdnas.data.corpus import SPLITS, Corpus
from kdnas.data.gettext.cache import extract_gettext
from kdnas.data.gettext.catalogs import DEFAULT_LOCALE_DIR, no_gc
from kdnas.data.gettext.splits import build_split, drop_cross_split_texts, group_by_split
from kdnas.data.text_files import check_fractions, check_max_texts
from kdnas.errors import ConfigError

# Share of English sources per split: dev and test each get a tenth (more pairs for the cross-lingual tasks).
GETTEXT_FRACTIONS: dict[str, float] = {"train": 0.7, "proxy": 0.05, "validation": 0.05, "dev": 0.1, "test": 0.1}
# Fewer pairs than this is too little to distil on or evaluate with.
MIN_PAIRS = 200
# Debian packages whose catalogs bring the most sentence-length strings in the most languages.
PACKAGE_HINT = (
    "libgtk2.0-common libglib2.0-data libgdk-pixbuf2.0-common gsettings-desktop-schemas coreutils dpkg "
    "libc-l10n gnupg-l10n git"
)


def _too_little_text(locale_dir: str, found: str) -> ConfigError:
    return ConfigError(
        f"data.locale_dir: too little translated text in {locale_dir}/*/LC_MESSAGES/*.mo ({found}); "
        f"install packages that ship translations (Debian: apt-get install --reinstall {PACKAGE_HINT}, "
        "with no 'path-exclude=/usr/share/locale/*' in /etc/dpkg/dpkg.cfg.d/), point data.locale_dir at "
        "another catalog directory, or choose data=text_files or data=hf_dataset"
    )


def _filter_languages(
    translations: Mapping[str, Mapping[str, str]], languages: Sequence[str] | None
) -> dict[str, dict[str, str]]:
    if languages is None:
        return {source: dict(t) for source, t in translations.items()}
    wanted = {str(lang) for lang in languages}
    available = {lang for t in translations.values() for lang in t}
    if missing := sorted(wanted - available):
        raise ConfigError(
            f"data.languages: no catalog translates into {missing}; "
            f"choose among the locale names found: {' '.join(sorted(available))}"
        )
    kept = {
        source: {lang: tr for lang, tr in t.items() if lang in wanted} for source, t in translations.items()
    }
    return {source: t for source, t in kept.items() if t}


def load_gettext_corpus(
    locale_dir: str = DEFAULT_LOCALE_DIR,
    min_words: int = 4,
    max_chars: int = 300,
    fractions: Mapping[str, float] | None = None,
    max_texts: Mapping[str, int | None] | None = None,
    languages: Sequence[str] | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
    min_pairs: int = MIN_PAIRS,
) -> Corpus:
    """The gettext catalogs as a multilingual corpus of English sources and their human translations.

    Each English source is assigned to a split by ``split_of(source, fractions)``. A split's ``texts`` are
    its unique sources and translations in a seeded shuffled order, its ``pairs`` the
    ``(source, translation, language)`` triples. No text occurs in two splits.

    Args:
        locale_dir: directory of ``<language>/LC_MESSAGES/*.mo`` catalogs.
        min_words: drop English sources with fewer words.
        max_chars: drop sources and translations longer than this.
        fractions: share of English sources per split (default :data:`GETTEXT_FRACTIONS`: train .7,
            proxy .05, validation .05, dev .1, test .1).
        max_texts: cap on the texts per split (``None``, or a split left out: no cap), filled with whole
            source groups (a source and all its translations) drawn with ``seed``, so pairs stay complete.
        languages: keep only these locale names (e.g. ``["fr", "zh_CN"]``); ``None`` keeps all.
        seed: seeds the sampling and the order of the texts.
        cache_dir: where the extraction cache lives (default ``cache_root()/corpora``).
        min_pairs: fewer pairs than this (after the language filter) is an error.

    Raises:
        ConfigError: a bad setting, or too little translated text under ``locale_dir``.
    """
    shares = check_fractions(fractions, default=GETTEXT_FRACTIONS)
    caps = check_max_texts(max_texts)
    if min_words < 1 or max_chars < 1:
        raise ConfigError(f"data.min_words and data.max_chars must be >= 1, got {min_words} and {max_chars}")
    locale_dir = os.path.expanduser(locale_dir)
    if not os.path.isdir(locale_dir):
        raise _too_little_text(locale_dir, "the directory does not exist")
    extraction = extract_gettext(locale_dir, min_words, max_chars, cache_dir)
    translations = _filter_languages(extraction.translations, languages)
    n_pairs = sum(len(t) for t in translations.values())
    if n_pairs < min_pairs:
        found = f"{extraction.files_read} of {extraction.files_found} catalogs readable, {n_pairs} pairs kept"
        raise _too_little_text(locale_dir, f"{found}, need {min_pairs}")
    groups = group_by_split(translations, shares)
    with no_gc():
        drop_cross_split_texts(groups)
        splits = {s: build_split(groups[s], caps[s], random.Random(f"{seed}:{s}")) for s in SPLITS}
    return Corpus(name="gettext", splits=splits)


def corpus_stats(corpus: Corpus) -> dict[str, object]:
    """Sizes for logging: texts, pairs and sources per split; pairs per language over all splits."""
    per_language: Counter[str] = Counter(p.language for s in SPLITS for p in corpus.pairs(s))
    return {
        "texts": corpus.sizes(),
        "pairs": {s: len(corpus.pairs(s)) for s in SPLITS},
        "sources": {s: len({p.source for p in corpus.pairs(s)}) for s in SPLITS},
        "languages": len(per_language),
        "pairs_per_language": dict(per_language.most_common()),
    }
