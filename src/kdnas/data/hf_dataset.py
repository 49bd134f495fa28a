"""A monolingual corpus from a Hugging Face ``datasets`` dataset (the paper's CC-100, or local files).

The first ``max_texts_total`` non-empty rows of one text column are read (streamed by default, so a
CC-100 language need not be downloaded whole), de-duplicated, and assigned to splits by families of
near-duplicates, like :mod:`kdnas.data.text_files`. Local JSON, CSV or text files load with ``path="json"``
(``"csv"``, ``"text"``) and ``data_files=...``, which also works offline.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from kdnas.data.corpus import Corpus
from kdnas.data.text_files import split_monolingual
from kdnas.errors import ConfigError

DataFiles = str | Sequence[str] | Mapping[str, str | Sequence[str]]


def _describe(path: str, name: str | None, data_files: DataFiles | None) -> str:
    what = repr(path) if name is None else f"{path!r} (config {name!r})"
    return what if data_files is None else f"{what} with data_files={data_files!r}"


def _load_error(what: str, err: BaseException) -> ConfigError:
    reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]  # one line, bounded
    return ConfigError(
        f"data.path: cannot load dataset {what} ({reason}); the Hugging Face Hub needs internet (offline: "
        "set HF_DATASETS_OFFLINE=1 to use datasets already in the cache, or load local files with "
        "data.path=json|csv|text and data.data_files=...), or choose data=gettext or data=text_files"
    )


def _plain(data_files: DataFiles | None) -> DataFiles | None:
    """Hydra's ListConfig/DictConfig to plain lists and dicts, which ``datasets`` expects."""
    if data_files is None or isinstance(data_files, str):
        return data_files
    if isinstance(data_files, Mapping):
        return {str(k): v if isinstance(v, str) else [str(f) for f in v] for k, v in data_files.items()}
    return [str(f) for f in data_files]


def _texts(rows: Iterable[Mapping[str, Any]], text_field: str, min_chars: int) -> Iterator[str]:
    """The whitespace-collapsed, non-empty values of ``text_field``; a missing column is an error."""
    for row in rows:
        if text_field not in row:
            raise ConfigError(
                f"data.text_field: the dataset has no column {text_field!r}; its columns are {sorted(row)}"
            )
        value = row[text_field]
        text = " ".join(value.split()) if isinstance(value, str) else ""
        if len(text) >= max(1, min_chars):
            yield text


def load_hf_dataset_corpus(
    path: str = "cc100",
    name: str | None = None,
    split: str = "train",
    text_field: str = "text",
    max_texts_total: int = 100_000,
    streaming: bool = True,
    fractions: Mapping[str, float] | None = None,
    max_texts: Mapping[str, int | None] | None = None,
    seed: int = 0,
    data_files: DataFiles | None = None,
    min_chars: int = 1,
) -> Corpus:
    """A corpus from the first ``max_texts_total`` texts of a ``datasets`` dataset.

    Args:
        path: a Hub dataset (``"cc100"``), a local dataset directory, or a builder for local files
            (``"json"``, ``"csv"``, ``"text"``) together with ``data_files``.
        name: the dataset configuration (for CC-100 the language, e.g. ``"fr"``).
        split: the dataset split to read.
        text_field: the column holding the text.
        max_texts_total: read at most this many non-empty texts (before de-duplication).
        streaming: stream rows instead of downloading and preparing the whole split.
        fractions: share of texts per corpus split (default :data:`kdnas.data.text_files.DEFAULT_FRACTIONS`).
        max_texts: cap per corpus split (``None`` or a split left out: no cap), sampled with ``seed``.
        seed: seeds the sampling and the order of each split's texts.
        data_files: local files for ``path="json"``/``"csv"``/``"text"`` (a path, glob, list, or
            split -> files mapping).
        min_chars: drop texts shorter than this.

    Raises:
        ConfigError: the dataset cannot be loaded (e.g. no internet), lacks ``text_field``, or is empty.
    """
    if max_texts_total < 1:
        raise ConfigError(f"data.max_texts_total must be a positive integer, got {max_texts_total!r}")
    what = _describe(path, name, data_files)
    try:
        import datasets  # here, not at the top: importing it costs a second that other sources need not pay

        dataset = datasets.load_dataset(
            path, name=name, split=split, data_files=_plain(data_files), streaming=streaming
        )
        texts = list(itertools.islice(_texts(dataset, text_field, min_chars), max_texts_total))
    except ConfigError:
        raise
    except Exception as err:  # network, missing files, unknown config or split, parse errors, ...
        raise _load_error(what, err) from err
    if not texts:
        raise ConfigError(
            f"data.path: dataset {what} has no text of at least {min_chars} characters in column "
            f"{text_field!r} of split {split!r}; check data.text_field and data.split"
        )
    return split_monolingual(f"hf:{path}" + (f"/{name}" if name else ""), texts, fractions, max_texts, seed)
