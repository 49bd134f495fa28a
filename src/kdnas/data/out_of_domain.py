"""An out-of-domain translation set: the gettext catalogs that other software ships in its Python packages.

The training corpus is the system's catalogs (:mod:`kdnas.data.gettext`: desktop and command-line software).
A student that only learnt those strings may still fail on other software's; these catalogs, from web
applications (Weblate, Wagtail, Django), a documentation tool (Sphinx) and a notebook UI (JupyterLab),
measure that. The packages are pinned in ``requirements-ood.txt`` and installed without dependencies:
nothing imports them, their installed ``.mo`` files are found through :mod:`importlib.metadata` and read and
cleaned exactly as the corpus's are. Every English source the caller excludes (the training corpus's) is
dropped, so the set shares no normalised source with it.

Example:
    >>> corpus = load_gettext_corpus()  # doctest: +SKIP
    >>> sources = [p.source for split in corpus.splits.values() for p in split.pairs]  # doctest: +SKIP
    >>> load_out_of_domain(sources).languages()["ja"]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kdnas.data.corpus import TranslationPair
from kdnas.data.gettext import cache, catalogs, clean
from kdnas.data.gettext.catalogs import Extraction, extract, no_gc
from kdnas.data.gettext.clean import MessageFilter
from kdnas.data.normalize import normalize_source
from kdnas.errors import ConfigError

log = logging.getLogger(__name__)

#: The distributions of ``requirements-ood.txt``, in priority order: when two translate the same English
#: source into one language, the earlier one's translation is kept.
DEFAULT_DISTRIBUTIONS: tuple[str, ...] = (
    "weblate", "wagtail", "django", "sphinx",
    *(f"jupyterlab-language-pack-{code}" for code in (
        "de-DE", "es-ES", "fi-FI", "fr-FR", "he-IL", "id-ID", "it-IT", "ja-JP", "ko-KR", "nl-NL", "pl-PL",
        "pt-BR", "ru-RU", "tr-TR", "uk-UA", "vi-VN", "zh-CN", "zh-TW",
    )),
)  # fmt: skip

_INSTALL_HINT = "run `make setup`, or `.venv/bin/pip install --no-deps -r requirements-ood.txt`"

# Regional variants the system's catalogs (and so the corpus) keep apart; every other region is dropped
# (de_DE -> de, he_IL -> he, es_419 -> es) and its catalog ranks after the plain language's.
_KEEP_REGION = frozenset({"pt_BR", "zh_CN", "zh_TW", "zh_HK", "pa_PK", "az_IR", "bn_IN"})
# Script subtags: Chinese scripts name the corpus's regional locales; others become a gettext modifier.
_ZH_SCRIPT = {"hans": "zh_CN", "hant": "zh_TW"}
_SCRIPT_MODIFIER = {"latn": "latin", "cyrl": "cyrillic"}
_ALIASES = {"no": "nb", "zh": "zh_CN"}  # Norwegian is Bokmål; a bare zh is Simplified (as in Wagtail)
_REGION = re.compile(r"[A-Za-z]{2}|\d{3}")


def corpus_language(code: str) -> tuple[str, int] | None:
    """The corpus-style locale name of a catalog's language code, with its rank; ``None`` for English.

    The rank orders catalogs that map to one name: 0 the name itself (``de``), 1 a renamed script, alias or
    charset (``zh_Hans``, ``sr_Latn``, ``no``, ``zh_TW.Big5``), 2 a dropped region or a guess (``de_DE``,
    ``es_419``, ``zh``).

    Example:
        >>> corpus_language("zh-Hans"), corpus_language("sr_Latn"), corpus_language("de_DE")
        (('zh_CN', 1), ('sr@latin', 1), ('de', 2))
    """
    base, charset, _ = code.replace("-", "_").partition(".")  # zh_TW.Big5
    base, _, modifier = base.partition("@")
    lang, *subtags = base.split("_")
    lang = lang.lower()
    if lang == "en":
        return None
    rank, name, region = 1 if charset else 0, lang, ""
    for tag in subtags:
        if len(tag) == 4 and tag.isalpha():  # a script
            rank = max(rank, 1)
            if lang == "zh" and tag.lower() in _ZH_SCRIPT:
                name = _ZH_SCRIPT[tag.lower()]
            elif lang != "zh" and not modifier:
                modifier = _SCRIPT_MODIFIER.get(tag.lower(), "")
        elif _REGION.fullmatch(tag):
            region = tag.upper()
    if region and name == lang:
        if f"{lang}_{region}" in _KEEP_REGION:
            name = f"{lang}_{region}"
        else:
            rank = 2
    if name in _ALIASES:
        name, rank = _ALIASES[name], max(rank, 1 if name == "no" else 2)
    return (f"{name}@{modifier}" if modifier else name), rank


@dataclass(frozen=True)
class OutOfDomainSet:
    """Human translations of English strings from software the training corpus does not cover."""

    pairs: list[TranslationPair]  # sorted by language, then source
    distributions: dict[str, str]  # distribution name -> version read
    removed_sources: int  # English sources dropped because their normalised form is among the excluded

    def languages(self) -> dict[str, int]:
        """Pairs per language, most first (ties by name)."""
        counts = Counter(p.language for p in self.pairs)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _installed_catalogs(names: Sequence[str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``(path, language)`` of every installed ``.mo`` of ``names`` in priority order, and their versions.

    Priority: the order of ``names``, then the rank of the language mapping, then the path.
    """
    found: list[tuple[int, int, str, str]] = []
    versions: dict[str, str] = {}
    missing, empty = [], []
    for order, name in enumerate(names):
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        versions[name] = dist.version
        n_before = len(found)
        for file in dist.files or ():
            if file.suffix != ".mo" or file.parent.name != "LC_MESSAGES":
                continue
            mapped = corpus_language(file.parent.parent.name)
            if mapped is not None:
                found.append((order, mapped[1], str(dist.locate_file(file)), mapped[0]))
        if len(found) == n_before:
            empty.append(name)
    if missing:
        raise ConfigError(f"out-of-domain distributions not installed: {', '.join(missing)}; {_INSTALL_HINT}")
    if empty:
        raise ConfigError(
            f"out-of-domain distributions ship no installed gettext catalogs (.mo): {', '.join(empty)}; "
            f"choose among {', '.join(DEFAULT_DISTRIBUTIONS)} ({_INSTALL_HINT})"
        )
    found.sort()
    return [(path, language) for _, _, path, language in found], versions


def _cache_path(
    names: Sequence[str], found: Sequence[tuple[str, str]], keep: MessageFilter, cache_dir: str | None
) -> Path:
    """``out-of-domain-<distributions and settings>-<catalogs, their languages and the code>.jsonl.gz``."""
    asked = f"{chr(0).join(names)}\0{keep.min_words}\0{keep.max_chars}"
    sources = (clean.__file__, catalogs.__file__, cache.__file__, __file__)
    return cache.keyed_cache_path("out-of-domain", asked, "", sources, found, cache_dir)


def _extract_cached(
    names: Sequence[str], found: Sequence[tuple[str, str]], keep: MessageFilter, cache_dir: str | None
) -> Extraction:
    """:func:`~kdnas.data.gettext.catalogs.extract`, kept on disk: reading the ~2,800 catalogs takes ~7 s."""
    path = _cache_path(names, found, keep, cache_dir)
    if (cached := cache.read_cache(path)) is not None:
        return cached
    extraction = extract(found, keep)
    log.info("out-of-domain: read %d catalogs in %.1f s", extraction.files_read, extraction.seconds)
    if extraction.num_pairs():
        try:
            cache.write_cache(path, extraction)
        except OSError as err:  # a read-only cache costs time on the next run, not this result
            log.warning("out-of-domain: cannot write the cache %s (%s)", path, err)
    return extraction


def load_out_of_domain(
    exclude_sources: Iterable[str] = (),
    *,
    distributions: Sequence[str] = DEFAULT_DISTRIBUTIONS,
    min_words: int = 4,
    max_chars: int = 300,
    cache_dir: str | None = None,
) -> OutOfDomainSet:
    """The installed distributions' catalogs as translation pairs, minus everything ``exclude_sources`` has.

    Cleaned and filtered by the corpus's rules (:class:`~kdnas.data.gettext.clean.MessageFilter` with the
    same ``min_words`` and ``max_chars``); where catalogs disagree on a (source, language) the first in
    priority order wins. Per language, one pair per normalised English source (the first source in
    code-point order, whether or not the extraction came from the cache), so retrieval candidates are never
    near-identical. A pair is dropped when the normalised form of its source, or of its translation, is that
    of any excluded string.

    Args:
        exclude_sources: strings the set must not contain (the training corpus's English sources).
        distributions: installed Python distributions whose ``.mo`` catalogs are read, in priority order.
        min_words / max_chars: as the corpus's ``data.min_words`` / ``data.max_chars``.
        cache_dir: where the extraction cache lives (default ``cache_root()/corpora``); it is keyed by the
            catalogs' paths, sizes and times and by the reading code, so an upgrade rebuilds it.

    Raises:
        ConfigError: a distribution is not installed or ships no catalog, or a bad filter setting.
    """
    if min_words < 1 or max_chars < 1:
        raise ConfigError(f"min_words and max_chars must be >= 1, got {min_words} and {max_chars}")
    if not distributions:
        raise ConfigError(f"distributions: empty; choose among {', '.join(DEFAULT_DISTRIBUTIONS)}")
    found, versions = _installed_catalogs(distributions)
    extraction = _extract_cached(distributions, found, MessageFilter(min_words, max_chars), cache_dir)
    with no_gc():
        excluded = {normalize_source(text) for text in set(exclude_sources)}
        excluded.discard("")
        removed: set[str] = set()
        seen: set[tuple[str, str]] = set()
        pairs = []
        for source in sorted(extraction.translations):  # the cache's order, not the catalogs'
            key = normalize_source(source)
            if key in excluded:
                removed.add(source)
                continue
            for language, translation in extraction.translations[source].items():
                if (key, language) in seen or (excluded and normalize_source(translation) in excluded):
                    continue
                seen.add((key, language))
                pairs.append(TranslationPair(source, translation, language))
    pairs.sort(key=lambda p: (p.language, p.source))
    return OutOfDomainSet(pairs=pairs, distributions=versions, removed_sources=len(removed))
