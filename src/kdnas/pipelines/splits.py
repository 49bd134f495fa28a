"""``python -m kdnas.data.splits [data=...] [overrides] [--write DIR]``: the splits of a corpus, checked.

Prints, per split, the English sources, the translation pairs and the texts, and the leakage figures
(:func:`kdnas.data.splits.leakage`): sources with a near-duplicate in another split, by normalised
equality, token-set Jaccard >= 0.8 and one word apart. ``--write DIR`` also writes ``DIR/<split>.txt``, the
split's English sources one per line. The config is ``conf/splits.yaml`` (the ``data`` and ``paths``
groups), composed with Hydra's compose API: nothing is written but what ``--write`` asks for.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from kdnas.data.corpus import SPLITS, Corpus
from kdnas.data.splits import RELATIONS, leakage
from kdnas.data.splits.files import check_split_dir, write_split_sources
from kdnas.errors import ConfigError
from kdnas.pipelines.common import clean_exit, load_corpus

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
USAGE = "usage: python -m kdnas.data.splits [data=gettext|text_files|hf_dataset] [key=value ...] [--write DIR]"
_HEADINGS = {"normalized_equal": "norm-equal", "jaccard": "jaccard>=.8", "one_word_apart": "one-word"}


def quote_override(key: str, value: str) -> str:
    """``key='value'`` in Hydra's override grammar: quotes and backslashes before them (or at the end) escaped."""
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
    return f"{key}='{escaped}'"


def hydra_overrides(argv: Sequence[str]) -> list[str]:
    """The Hydra overrides of a command line: ``--write DIR`` (or ``--write=DIR``) becomes ``write=DIR``."""
    overrides: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--write" or arg.startswith("--write="):
            value = arg.partition("=")[2] if "=" in arg else next(args, "")
            if not value or value.startswith("-"):
                raise ConfigError(f"--write needs a directory, e.g. --write splits/; {USAGE}")
            overrides.append(quote_override("write", value))
        elif arg.startswith("-"):
            raise ConfigError(f"unknown option {arg!r}; {USAGE}")
        else:
            overrides.append(arg)
    return overrides


def compose_splits_config(overrides: Sequence[str]) -> DictConfig:
    """``conf/splits.yaml`` with ``overrides``."""
    if not (CONF_DIR / "splits.yaml").is_file():
        raise ConfigError(f"no {CONF_DIR / 'splits.yaml'}: run from a kdnas checkout (pip install -e .)")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose("splits", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


def split_table(corpus: Corpus, leaks: dict[str, dict[str, int]]) -> str:
    """Per split (and in total): sources, pairs, texts, then each leakage count with its share of the sources."""
    names = [s for s in SPLITS if s in corpus.splits]
    header = f"{'split':<11}{'sources':>9}{'pairs':>9}{'texts':>9}" + "".join(f"{_HEADINGS[r]:>18}" for r in RELATIONS)
    lines = [header]
    rows = {s: (len(corpus.pairs(s)), len(corpus.texts(s))) for s in names}
    rows["total"] = (sum(r[0] for r in rows.values()), sum(r[1] for r in rows.values()))
    for split, (pairs, texts) in rows.items():
        n = leaks["sources"][split]
        cells = "".join(f"{f'{leaks[r][split]} ({100 * leaks[r][split] / max(n, 1):.1f}%)':>18}" for r in RELATIONS)
        lines.append(f"{split:<11}{n:>9}{pairs:>9}{texts:>9}{cells}")
    return "\n".join(lines)


def report_splits(cfg: DictConfig) -> dict[str, Any]:
    """Load the ``data`` group's corpus, print its table (and write the files); returns sizes and leakage."""
    if cfg.get("write"):
        check_split_dir(str(cfg.write))  # before the corpus loads
    corpus = load_corpus(cfg)
    leaks = leakage(corpus)
    print(f"corpus {corpus.name}: English sources with a near-duplicate in another split, by relation")
    print(split_table(corpus, leaks))
    written = []
    if cfg.get("write"):
        written = write_split_sources(corpus, str(cfg.write))
        print(f"wrote {len(written)} files under {written[0].parent}" if written else "wrote nothing")
    return {"sizes": corpus.sizes(), "leakage": leaks, "written": [str(p) for p in written]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The command line: ``-h`` prints the usage; a bad argument or setting is one line and exit status 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(args):
        print(f"{USAGE}\n\n{__doc__}")
        return None
    try:
        cfg = compose_splits_config(hydra_overrides(args))
    except (ConfigError, HydraException, OmegaConfBaseException) as err:
        message = str(err).split("Config search path")[0]  # Hydra's list of search paths says nothing here
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        sys.exit(2)
    return clean_exit(report_splits)(cfg)
