"""Each split's English sources as a text file, one per line: to read, diff or hand to another tool.

``DIR/<split>.txt`` holds the split's unique English sources (:func:`~kdnas.data.splits.leakage.english_sources`)
sorted, so two corpora's files diff line by line. Each file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

from kdnas.data.corpus import SPLITS, Corpus
from kdnas.data.splits.leakage import english_sources
from kdnas.errors import ConfigError
from kdnas.utils.io import write_text


def check_split_dir(directory: str | Path, key: str = "write") -> Path:
    """``directory`` as a path, if it can take the files (checked before a corpus is loaded, to fail early).

    Raises:
        ConfigError: ``directory`` exists and is not a directory (a user's file is never replaced), or a
            ``<split>.txt`` in it is a directory.
    """
    root = Path(directory).expanduser()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{key}: {str(root)!r} exists and is not a directory; give a directory (created if missing)")
    for split in SPLITS:
        if (path := root / f"{split}.txt").is_dir():
            raise ConfigError(f"{key}: {str(path)!r} is a directory; remove it or give another {key} directory")
    return root


def write_split_sources(corpus: Corpus, directory: str | Path, key: str = "write") -> list[Path]:
    """Write ``directory/<split>.txt`` for every split (replacing earlier ones); returns the paths."""
    root = check_split_dir(directory, key)
    written = []
    for split in (s for s in SPLITS if s in corpus.splits):
        path = root / f"{split}.txt"
        lines = sorted(" ".join(text.split()) for text in english_sources(corpus, split))  # one line each
        written.append(write_text(path, "".join(f"{line}\n" for line in lines)))
    return written
