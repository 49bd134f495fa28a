"""Where kdnas keeps files reused across runs (converted teachers, extracted corpora, teacher outputs)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$KDNAS_CACHE`` if set, else ``$XDG_CACHE_HOME/kdnas``, else ``~/.cache/kdnas``."""
    if env := os.environ.get("KDNAS_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kdnas"
