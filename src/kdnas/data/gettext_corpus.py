"""A multilingual corpus of human translations from the gettext catalogs installed on the machine.

Every ``<locale_dir>/<language>/LC_MESSAGES/<domain>.mo`` maps English UI and error-message strings to one
language. We extract cleaned ``(English source, translation, language)`` triples, cache them on disk (a
cold extraction reads thousands of files), and split them by English source string so that no source or
any of its translations appears in two splits.

The catalogs are GPL/LGPL: they are read at run time and never copied into the repository.

Example:
    >>> corpus = load_gettext_corpus(max_texts={"proxy": 2000})  # doctest: +SKIP
    >>> corpus_stats(corpus)["texts"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import gc
import gettext
import glob
import gzip
import hashlib
import json
import logging
import os
import random
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kdnas.data.corpus import SPLITS, Corpus, CorpusSplit, TranslationPair, split_of
from kdnas.data.text_files import check_fractions, check_max_texts
from kdnas.errors import ConfigError
from kdnas.utils.paths import cache_root

log = logging.getLogger(__name__)

DEFAULT_LOCALE_DIR = "/usr/share/locale"
# Fewer pairs than this is too little to distil on or evaluate with.
MIN_PAIRS = 200
# Keys the on-disk cache together with this module's own source, so any edit to the cleaning rebuilds it.
EXTRACTION_VERSION = 1
# Debian packages whose catalogs bring the most sentence-length strings in the most languages.
PACKAGE_HINT = (
    "libgtk2.0-common libglib2.0-data libgdk-pixbuf2.0-common gsettings-desktop-schemas coreutils dpkg "
    "libc-l10n gnupg-l10n git"
)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Hundreds of thousands of new strings and pairs would otherwise trigger full collections that scan the
    whole heap again and again (a third of the load time) and find no garbage.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- cleaning --------------------------------------------------------------------------------------------

# Characters that start something to remove; most strings contain none and only get whitespace collapsed.
_SPECIAL = re.compile(r"[%{}$@<>&_~\\\x00-\x1f\x7f]")
# Escape and control sequences (ANSI colours, a literal "\n" left in the text, raw control characters),
# markup (<b>, </span>, <a href="...">, <br/>) and usage metavariables (<file>, <commit-ish>, <커밋>).
_NOISE = re.compile(
    r"\x1b\[[0-9;?]*[A-Za-z]"
    r"|\\(?:[nrtvfab]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[0-7]{1,3})"
    r"|[\x00-\x1f\x7f]"
    r"|</?[^\W\d_][\w:.-]*(?:\s[^<>]*)?/?>"
)
# Mnemonics: "Ouvrir (_O)", "ファイル(&F)" (CJK appends the key), then "_Open", "&Open", "E&xit", "~Open".
_ACCEL_GROUP = re.compile(r"\s?[(（][_&~][^\W_][)）]")
_ACCEL = re.compile(r"(?<!\w)_(?=[^\W\d_])|&(?!#?\w+;)(?=\w)|~(?=[^\W\d_])")
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&nbsp;": " "}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)))
# printf (%s, %-10.3lu, %1$s, %'d, %*.s, %Y) with "%%" kept as a literal percent, except before a
# conversion ("%%s": a placeholder escaped for a second formatting pass, as in git); Python %(name)s;
# Qt %1. No space flag: "100% of" is text, not "% o".
_PRINTF = re.compile(
    r"%%(?:\d+\$)?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*)?)?(?:hh|ll|[hlLqjzZt])?[diouxXeEfFgGaAcsp]"
    r"|%%|%\(\w+\)[-+#0]*\d*(?:\.\d+)?[A-Za-z]"
    r"|%(?:\d+\$)?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*)?)?(?:hh|ll|I64|I32|[hlLqjzZtI])?[A-Za-z]"
    r"|%L?\d+"
)
# str.format {0} {name!r} {0:.2f}; shell/perl $VAR ${VAR} $(VAR); autoconf @VAR@.
_OTHER_PLACEHOLDER = re.compile(
    r"\{[\w.\[\]-]*(?:![rsa])?(?::[^{}]*)?\}|\$\{\w+\}|\$\(\w+\)|\$\w+|@[A-Z][A-Z0-9_]*@"
)
# Quotes and brackets left empty by a removed placeholder: `%s' -> `' ; « %s » -> « » ; (%d) -> ().
_EMPTY_PAIR = re.compile(r"""`'|''|""|[‘“«„「『(\[‹<]\s*[’”»“」』)\]›>]|»\s*«""")
_LEADING_PUNCT = re.compile(r"^[\s:;,|]+")  # left by a removed leading placeholder ("%s: cannot ...")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,])(?=\s|$)")  # "cannot open %s." -> "cannot open ."
_LETTER = re.compile(r"[^\W\d_]")
# English puts no space before these; other languages may (French "Fichier :"), so sources only.
_ENGLISH_SPACE_BEFORE_PUNCT = re.compile(r"\s+([:;!?])")


def _printf_sub(match: re.Match[str]) -> str:
    return "%" if match.group(0) == "%%" else ""


def clean_message(text: str) -> str:
    """Strip what is not natural language from a catalog string; ``""`` if nothing is left.

    Removes accelerator marks (``_File``, ``&Open``, ``~Open``, ``(_F)``), format placeholders (``%s``,
    ``%(name)s``, ``%1$s``, ``%1``, ``{0}``, ``{name}``, ``$VAR``, ``@VAR@``), markup tags, escape and
    control sequences, and quotes left empty by a removed placeholder; collapses whitespace.

    Example:
        >>> clean_message("%s: cannot open `%s'\\n")
        'cannot open'
        >>> clean_message("<b>_Save</b> the {count} files as…")
        'Save the files as…'
    """
    if _SPECIAL.search(text) is None:
        return " ".join(text.split())
    # Placeholders are removed without a space (they sit between spaces or inside quotes); tags and
    # escapes become a space (they can separate words).
    text = _NOISE.sub(" ", text)
    if "_" in text or "&" in text or "~" in text:
        text = _ACCEL.sub("", _ACCEL_GROUP.sub("", text))
        if "&" in text:
            text = _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], text)
    if "%" in text:
        text = _PRINTF.sub(_printf_sub, text)
    text = " ".join(_OTHER_PLACEHOLDER.sub("", text).split())
    text = _EMPTY_PAIR.sub("", text)
    text = _LEADING_PUNCT.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return " ".join(text.split())


def count_words(text: str) -> int:
    """Whitespace-separated tokens that contain a letter (so "--", "42" and "|" do not count)."""
    return sum(1 for token in text.split() if _LETTER.search(token))


def has_letter(text: str) -> bool:
    """Whether ``text`` has any letter (in any script): pure symbols and numbers are no sentence."""
    return _LETTER.search(text) is not None


# --- reading catalogs --------------------------------------------------------------------------------------


def read_catalog(path: str) -> dict[str, str]:
    """English msgid -> translation of one ``.mo`` file, uncleaned (raises on an unreadable file).

    Plural entries keep their singular form (index 0); a message context (``ctx\\x04msgid``) is dropped;
    the header (msgid ``""``) and empty translations are skipped.
    """
    with open(path, "rb") as fh:
        # GNUTranslations decodes with the catalog's charset; it offers no public way to iterate.
        catalog = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
    out: dict[str, str] = {}
    for key, value in catalog.items():
        if isinstance(key, tuple):  # plural entry: (msgid, plural index)
            msgid, index = key
            if index != 0:
                continue
        else:
            msgid = key
        msgid = msgid.rpartition("\x04")[2]
        if msgid and value:
            out.setdefault(msgid, value)
    return out


def list_catalogs(locale_dir: str) -> list[tuple[str, str]]:
    """``(path, language)`` of every ``<locale_dir>/<language>/LC_MESSAGES/*.mo``, sorted by path.

    English locales (``en``, ``en_GB``, ``en@quot``, ...) are skipped: they do not translate.
    """
    pattern = os.path.join(glob.escape(locale_dir), "*", "LC_MESSAGES", "*.mo")
    out = []
    for path in sorted(glob.glob(pattern)):
        language = Path(path).parent.parent.name
        if not (language == "en" or language.startswith(("en_", "en@"))):
            out.append((path, language))
    return out


@dataclass(frozen=True)
class _Filter:
    """Which cleaned strings are kept."""

    min_words: int  # of the English source
    max_chars: int  # of either side

    def source(self, raw: str) -> str | None:
        """The cleaned source, or ``None`` if it is too short or too long to keep."""
        source = _ENGLISH_SPACE_BEFORE_PUNCT.sub(r"\1", clean_message(raw))
        if len(source) > self.max_chars or count_words(source) < self.min_words:
            return None
        return source

    def keeps(self, source: str, translation: str) -> bool:
        return (
            0 < len(translation) <= self.max_chars
            and has_letter(translation)
            and translation.casefold() != source.casefold()  # an untranslated copy of the source
        )


def _extract_file(
    path: str, keep: _Filter, source_memo: dict[str, str | None]
) -> list[tuple[str, str]] | None:
    """Cleaned (source, translation) pairs of one catalog, ``None`` if unreadable.

    ``source_memo`` caches the cleaning of English strings, which recur in every language.
    """
    try:
        catalog = read_catalog(path)
    except Exception:  # corrupt, truncated, undecodable charset, bad plural formula: skip the file
        return None
    pairs = []
    for raw_source, raw_translation in catalog.items():
        if raw_source not in source_memo:
            source_memo[raw_source] = keep.source(raw_source)
        source = source_memo[raw_source]
        if source is not None:
            translation = clean_message(raw_translation)
            if keep.keeps(source, translation):
                pairs.append((source, translation))
    return pairs


@dataclass
class Extraction:
    """Every kept translation, by English source then language, and how it was obtained."""

    translations: dict[str, dict[str, str]]  # English source -> language -> translation
    files_found: int  # .mo files of non-English locales
    files_read: int  # of those, readable
    seconds: float  # spent extracting, or reading the cache
    from_cache: bool = False

    def num_pairs(self) -> int:
        return sum(len(t) for t in self.translations.values())


def _extract(catalogs: Sequence[tuple[str, str]], keep: _Filter) -> Extraction:
    """Read and clean every catalog; the first translation per (source, language) in path order wins.

    One process: on the 2 (shared) cores of the development machine a pool of 2 spawned workers was
    slower in three trials (10-16 s in-process against 15-21 s), and a pool needs ``spawn`` (torch threads
    make ``fork`` unsafe), which re-imports the caller's ``__main__``.
    """
    start = time.perf_counter()
    translations: dict[str, dict[str, str]] = defaultdict(dict)
    memo: dict[str, str | None] = {}
    files_read = 0
    with _no_gc():
        for path, language in catalogs:
            pairs = _extract_file(path, keep, memo)
            if pairs is None:
                continue
            files_read += 1
            for source, translation in pairs:
                translations[source].setdefault(language, translation)
    return Extraction(dict(translations), len(catalogs), files_read, time.perf_counter() - start)


# --- the on-disk cache ---------------------------------------------------------------------------------------


def _cache_path(
    locale_dir: str, catalogs: Sequence[tuple[str, str]], keep: _Filter, cache_dir: str | None
) -> Path:
    """``gettext-<dir and settings>-<listing and code>.jsonl.gz``.

    The first hash names what was asked for (the directory and the filter settings), the second what it
    was built from (every catalog's path, size and mtime, and this module's source): a file with the same
    first and another second hash is stale.
    """
    asked = hashlib.sha256(f"{os.path.abspath(locale_dir)}\0{keep.min_words}\0{keep.max_chars}".encode())
    built = hashlib.sha256(f"v{EXTRACTION_VERSION}".encode())
    built.update(Path(__file__).read_bytes())
    for path, _ in catalogs:
        with contextlib.suppress(OSError):  # vanished since listing: it will be skipped as unreadable
            st = os.stat(path)
            built.update(f"\n{path}\t{st.st_size}\t{st.st_mtime_ns}".encode())
    root = Path(cache_dir).expanduser() if cache_dir else cache_root() / "corpora"
    return root / f"gettext-{asked.hexdigest()[:8]}-{built.hexdigest()[:16]}.jsonl.gz"


def _write_cache(path: Path, extraction: Extraction) -> None:
    """Write the extraction as gzipped JSON lines, atomically, and delete stale versions of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"files_found": extraction.files_found, "files_read": extraction.files_read}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz,
        ):
            gz.write((json.dumps({"meta": meta}) + "\n").encode())
            for source in sorted(extraction.translations):
                record = {"s": source, "t": extraction.translations[source]}
                gz.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is not secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    asked_prefix = path.name.rsplit("-", 1)[0] + "-"
    for stale in path.parent.glob(f"{asked_prefix}*.jsonl.gz"):
        if stale != path:
            stale.unlink(missing_ok=True)


def _read_cache(path: Path) -> Extraction | None:
    """The cached extraction, or ``None`` if absent or unreadable (it is then rebuilt)."""
    start = time.perf_counter()
    try:
        with _no_gc(), gzip.open(path, "rt", encoding="utf-8") as fh:
            meta = json.loads(next(fh))["meta"]
            translations = {}
            for line in fh:
                record = json.loads(line)
                translations[record["s"]] = record["t"]
    except (OSError, EOFError, ValueError, KeyError, StopIteration):
        return None
    return Extraction(
        translations, meta["files_found"], meta["files_read"], time.perf_counter() - start, from_cache=True
    )


def extract_gettext(
    locale_dir: str = DEFAULT_LOCALE_DIR,
    min_words: int = 4,
    max_chars: int = 300,
    cache_dir: str | None = None,
) -> Extraction:
    """Cleaned translations of every catalog under ``locale_dir``, from the on-disk cache when it is valid.

    Args:
        locale_dir: the directory holding ``<language>/LC_MESSAGES/*.mo``.
        min_words: drop English sources with fewer words.
        max_chars: drop sources and translations longer than this (after cleaning).
        cache_dir: where the cache lives (default ``cache_root()/corpora``).
    """
    keep = _Filter(min_words=min_words, max_chars=max_chars)
    catalogs = list_catalogs(locale_dir)
    if not catalogs:
        return Extraction({}, 0, 0, 0.0)
    cache = _cache_path(locale_dir, catalogs, keep, cache_dir)
    if (cached := _read_cache(cache)) is not None:
        return cached
    extraction = _extract(catalogs, keep)
    log.info(
        "gettext: read %d of %d catalogs in %.1f s: %d pairs, %d English sources",
        extraction.files_read,
        extraction.files_found,
        extraction.seconds,
        extraction.num_pairs(),
        len(extraction.translations),
    )
    if extraction.num_pairs():
        try:
            _write_cache(cache, extraction)
        except OSError as err:  # a read-only cache costs time on the next run, not this result
            log.warning("gettext: cannot write the cache %s (%s); the next run extracts again", cache, err)
    return extraction


# --- splitting ---------------------------------------------------------------------------------------------


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


def _drop_cross_split_texts(groups: dict[str, dict[str, dict[str, str]]]) -> int:
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
    """The one split each shared text is kept in (see :func:`_drop_cross_split_texts`)."""
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


def _build_split(group: Mapping[str, Mapping[str, str]], cap: int | None, rng: random.Random) -> CorpusSplit:
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
        fractions: share of English sources per split (default train .8, proxy .05, validation .05,
            test .1).
        max_texts: cap on the texts per split (``None``, or a split left out: no cap), filled with whole
            source groups (a source and all its translations) drawn with ``seed``, so pairs stay complete.
        languages: keep only these locale names (e.g. ``["fr", "zh_CN"]``); ``None`` keeps all.
        seed: seeds the sampling and the order of the texts.
        cache_dir: where the extraction cache lives (default ``cache_root()/corpora``).
        min_pairs: fewer pairs than this (after the language filter) is an error.

    Raises:
        ConfigError: a bad setting, or too little translated text under ``locale_dir``.
    """
    shares = check_fractions(fractions)
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
    groups: dict[str, dict[str, dict[str, str]]] = {s: {} for s in SPLITS}
    for source, per_language in translations.items():
        groups[split_of(source, shares)][source] = per_language
    with _no_gc():
        _drop_cross_split_texts(groups)
        splits = {s: _build_split(groups[s], caps[s], random.Random(f"{seed}:{s}")) for s in SPLITS}
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
