"""Atomic writes and inter-process locks: a crash or a kill never leaves a half-written output.

Every output kdnas rewrites while it runs (``candidates.csv``, summaries, caches) goes through
:func:`atomic_write`: the data lands in a temporary sibling (same file system) that replaces the target
with :func:`os.replace` only once it is complete.

Example:
    >>> with atomic_write(path) as handle:
    ...     handle.write("complete or absent")
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import filelock
import yaml


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], binary: bool = False, newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path``, on error it is removed.

    Args:
        path: the file to (re)write; its parent folders are created.
        binary: open in binary mode (else UTF-8 text).
        newline: passed to :func:`open` in text mode (``""`` for :mod:`csv`).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        handle = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline=newline)
        with handle:
            yield handle
        os.chmod(tmp, 0o644)  # mkstemp makes it private; outputs and caches are not secret
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` atomically; returns the path."""
    with atomic_write(path) as handle:
        handle.write(text)
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any, indent: int = 2, sort_keys: bool = False) -> Path:
    """Write ``data`` as JSON (with a final newline) atomically; returns the path."""
    return write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys, default=str) + "\n")


def write_yaml(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as YAML (key order kept) atomically; returns the path."""
    return write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], timeout: float = -1) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (``filelock``): processes building one cache entry take turns.

    Args:
        path: the lock file (created with its parent folders).
        timeout: seconds to wait before :class:`filelock.Timeout`; -1 waits forever.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(target), timeout=timeout):
        yield
