"""The on-disk cache of an extraction (gzipped JSON lines): a cold extraction reads thousands of files.

A cache file is named by what was asked for (the directory and the filter settings) and by what it was
built from (every catalog's path, size and mtime, and the source of the cleaning and extraction code), so
a new catalog or any edit to the cleaning rebuilds it, and the stale version is deleted.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from kdnas.data.gettext import catalogs, clean
from kdnas.data.gettext.catalogs import DEFAULT_LOCALE_DIR, Extraction, extract, list_catalogs, no_gc
from kdnas.data.gettext.clean import MessageFilter
from kdnas.utils.io import atomic_write
from kdnas.utils.paths import cache_root

log = logging.getLogger(__name__)

# Keys the cache together with the source of the modules that decide its content (see the docstring).
EXTRACTION_VERSION = 1
_KEYED_SOURCES = (clean.__file__, catalogs.__file__, __file__)


def cache_path(
    locale_dir: str, found: Sequence[tuple[str, str]], keep: MessageFilter, cache_dir: str | None
) -> Path:
    """``gettext-<dir and settings>-<listing and code>.jsonl.gz``.

    The first hash names what was asked for, the second what it was built from: a file with the same first
    and another second hash is stale.
    """
    asked = f"{os.path.abspath(locale_dir)}\0{keep.min_words}\0{keep.max_chars}"
    files = [(path, "") for path, _ in found]
    return keyed_cache_path("gettext", asked, f"v{EXTRACTION_VERSION}", _KEYED_SOURCES, files, cache_dir)


def keyed_cache_path(
    kind: str,
    asked: str,
    version: str,
    sources: Sequence[str],
    files: Sequence[tuple[str, str]],
    cache_dir: str | None,
) -> Path:
    """``<kind>-<hash of asked>-<hash of version, code and files>.jsonl.gz`` under ``cache_dir``.

    ``sources``: the code files whose bytes decide the content; ``files``: ``(path, tag)`` of every input
    file, keyed by its size and mtime (and ``tag``, e.g. the language it is read as, when not empty).
    """
    built = hashlib.sha256(version.encode())
    for source in sources:
        built.update(Path(source).read_bytes())
    for path, tag in files:
        with contextlib.suppress(OSError):  # vanished since listing: it will be skipped as unreadable
            st = os.stat(path)
            built.update(f"\n{path}\t{tag + chr(9) if tag else ''}{st.st_size}\t{st.st_mtime_ns}".encode())
    root = Path(cache_dir).expanduser() if cache_dir else cache_root() / "corpora"
    asked_hash = hashlib.sha256(asked.encode()).hexdigest()[:8]
    return root / f"{kind}-{asked_hash}-{built.hexdigest()[:16]}.jsonl.gz"


def write_cache(path: Path, extraction: Extraction) -> None:
    """Write the extraction as gzipped JSON lines, atomically, and delete stale versions of it."""
    meta = {"files_found": extraction.files_found, "files_read": extraction.files_read}
    with (
        atomic_write(path, binary=True) as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz,
    ):
        gz.write((json.dumps({"meta": meta}) + "\n").encode())
        for source in sorted(extraction.translations):
            record = {"s": source, "t": extraction.translations[source]}
            gz.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
    asked_prefix = path.name.rsplit("-", 1)[0] + "-"
    for stale in path.parent.glob(f"{asked_prefix}*.jsonl.gz"):
        if stale != path:
            stale.unlink(missing_ok=True)


def read_cache(path: Path) -> Extraction | None:
    """The cached extraction, or ``None`` if absent or unreadable (it is then rebuilt)."""
    start = time.perf_counter()
    try:
        with no_gc(), gzip.open(path, "rt", encoding="utf-8") as fh:
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
    keep = MessageFilter(min_words=min_words, max_chars=max_chars)
    found = list_catalogs(locale_dir)
    if not found:
        return Extraction({}, 0, 0, 0.0)
    cache = cache_path(locale_dir, found, keep, cache_dir)
    if (cached := read_cache(cache)) is not None:
        return cached
    extraction = extract(found, keep)
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
            write_cache(cache, extraction)
        except OSError as err:  # a read-only cache costs time on the next run, not this result
            log.warning("gettext: cannot write the cache %s (%s); the next run extracts again", cache, err)
    return extraction
