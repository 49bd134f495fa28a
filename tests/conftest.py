"""Shared fixtures. Tests run offline: W&B in offline mode, hubs never contacted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_teacher():  # type: ignore[no-untyped-def]
    from kdnas.models.teacher import load_tiny_random_teacher

    return load_tiny_random_teacher()


@pytest.fixture()
def hydra_cfg() -> Iterator[object]:
    """``compose("train", overrides)`` on the project's real config tree."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from kdnas.pipelines.schemas import register_configs

    register_configs()

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        yield compose
    GlobalHydra.instance().clear()


def compose_config(name: str, overrides: list[str], output_dir: Path) -> object:
    """The project's real config ``name`` with ``overrides``, writing to ``output_dir`` (no Hydra run)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from kdnas.pipelines.schemas import register_configs

    register_configs()

    GlobalHydra.instance().clear()
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(name, overrides=[*overrides, f"paths.output_dir={output_dir}"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # so ${hydra:...} interpolations resolve as in a real run
    with open_dict(cfg):
        del cfg["hydra"]
    GlobalHydra.instance().clear()
    return cfg


def load_space(name: str) -> object:
    """A search space of ``conf/search_space/<name>.yaml`` (the one copy of each preset)."""
    import yaml

    from kdnas.nas.space import SearchSpace

    return SearchSpace.from_dict(yaml.safe_load((ROOT / "conf" / "search_space" / f"{name}.yaml").read_text()))


@pytest.fixture(scope="session")
def postgres_base() -> Iterator[str]:
    """A throw-away PostgreSQL server for the session (its base URL). Skipped, saying why, where it cannot
    start, unless ``KDNAS_REQUIRE_POSTGRES=1`` (CI), where that is a failure."""
    from tests.postgres_server import PostgresUnavailable, postgres_server

    try:
        with postgres_server() as base:
            yield base
    except PostgresUnavailable as err:
        if os.environ.get("KDNAS_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL back-end not tested: {err}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """``new()`` -> the URL of a fresh, empty candidate store on each back-end in turn."""
    counter = iter(range(10**6))
    if request.param == "sqlite":
        yield lambda: str(tmp_path / f"store-{next(counter)}.sqlite")
        return
    from tests.postgres_server import new_database

    base = request.getfixturevalue("postgres_base")
    yield lambda: new_database(base)


_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]  # 70, so 4,900 two-syllable pseudo-words
_DISTINCT_MODULUS = 401  # a prime: i -> (k + 1) i + k (mod 401) differs for every i < 401 at every position k


def distinct_words(i: int, n: int = 5) -> str:
    """``n`` pseudo-words, every one of them different for every other ``i`` (0 <= i < 401), each position
    drawing on its own words: texts that differ only by them are not near-duplicates of each other (token-set
    Jaccard < 0.8, more than one word apart), so each lands in a split of its own hash
    (:mod:`kdnas.data.splits.families`), where "file {i}" would make one family of them all."""
    if not 0 <= i < _DISTINCT_MODULUS or not 1 <= n <= 12:
        raise ValueError(f"distinct_words needs 0 <= i < {_DISTINCT_MODULUS} and 1 <= n <= 12, got {i}, {n}")
    codes = [k * _DISTINCT_MODULUS + ((k + 1) * i + k) % _DISTINCT_MODULUS for k in range(n)]
    return " ".join(_SYLLABLES[c // 70] + _SYLLABLES[c % 70] for c in codes)
