"""Reading the ``.mo`` catalogs: list them, decode one, and extract the cleaned pairs of all of them.

Every ``<locale_dir>/<language>/LC_MESSAGES/<domain>.mo`` maps English UI and error-message strings to one
language. The catalogs are GPL/LGPL: they are read at run time and never copied into the repository.
"""

from __future__ import annotations

import contextlib
import gc
import gettext
import glob
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kdnas.data.gettext.clean import MessageFilter, clean_message

DEFAULT_LOCALE_DIR = "/usr/share/locale"


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
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


def _extract_file(
    path: str, keep: MessageFilter, source_memo: dict[str, str | None]
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


def extract(catalogs: Sequence[tuple[str, str]], keep: MessageFilter) -> Extraction:
    """Read and clean every catalog; the first translation per (source, language) in path order wins.

    One process: on the 2 (shared) cores of the development machine a pool of 2 spawned workers was
    slower in three trials (10-16 s in-process against 15-21 s), and a pool needs ``spawn`` (torch threads
    make ``fork`` unsafe), which re-imports the caller's ``__main__``.
    """
    start = time.perf_counter()
    translations: dict[str, dict[str, str]] = defaultdict(dict)
    memo: dict[str, str | None] = {}
    files_read = 0
    with no_gc():
        for path, language in catalogs:
            pairs = _extract_file(path, keep, memo)
            if pairs is None:
                continue
            files_read += 1
            for source, translation in pairs:
                translations[source].setdefault(language, translation)
    return Extraction(dict(translations), len(catalogs), files_read, time.perf_counter() - start)
