"""ArchSpec (validation, ids, serialisation, parameter count) and SearchSpace (the conf/ spaces, sampling, encoding)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hydra.utils import instantiate
from omegaconf import OmegaConf
from transformers import BertConfig, BertModel

from kdnas.errors import ConfigError
from kdnas.models.arch import FIELDS, SUPPORTED_ACTIVATIONS, ArchSpec
from kdnas.nas.space import SearchSpace
from tests.conftest import load_space

CONF = Path(__file__).resolve().parents[1] / "conf" / "search_space"

BASE = {
    "num_hidden_layers": 4,
    "hidden_size": 256,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "hidden_act": "gelu",
}


def arch(**overrides: object) -> ArchSpec:
    return ArchSpec(**{**BASE, **overrides})  # type: ignore[arg-type]


def tiny_space(**overrides: object) -> SearchSpace:
    fields: dict[str, object] = {
        "num_hidden_layers": [1, 2],
        "hidden_size": [64],
        "num_attention_heads": [2, 4],
        "intermediate_size": [64, 128],
        "hidden_act": ["gelu", "relu"],
    }
    fields.update(overrides)
    return SearchSpace(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# ArchSpec
def test_arch_basics() -> None:
    a = arch()
    assert a.short_name == "L4-H256-A4-F1024-gelu"
    assert a.head_dim == 64
    assert a.to_dict() == BASE
    assert list(a.to_dict()) == list(FIELDS)
    assert set(SUPPORTED_ACTIVATIONS) >= {"gelu", "relu", "silu", "gelu_new", "tanh"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_hidden_layers": 0}, "arch.num_hidden_layers"),
        ({"hidden_size": -256}, "arch.hidden_size"),
        ({"num_attention_heads": 0}, "arch.num_attention_heads"),
        ({"intermediate_size": 0}, "arch.intermediate_size"),
        ({"hidden_size": 250}, "arch.hidden_size"),  # not divisible by 4 heads
        ({"hidden_act": "gelu_magic"}, "arch.hidden_act"),
        ({"hidden_act": 3}, "arch.hidden_act"),
        ({"num_hidden_layers": "abc"}, "arch.num_hidden_layers"),
        ({"hidden_size": 256.0}, "arch.hidden_size"),
        ({"intermediate_size": True}, "arch.intermediate_size"),
    ],
)
def test_arch_validation_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field) as err:
        arch(**overrides)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=field):
        ArchSpec.from_dict({**BASE, **overrides})


def test_arch_accepts_numpy_ints() -> None:
    a = arch(hidden_size=np.int64(256))
    assert type(a.hidden_size) is int
    assert a == arch()


def test_from_dict_missing_and_unknown_keys() -> None:
    partial = {k: v for k, v in BASE.items() if k != "hidden_act"}
    with pytest.raises(ConfigError, match=r"missing key.*hidden_act"):
        ArchSpec.from_dict(partial)
    with pytest.raises(ConfigError, match=r"unknown key.*num_layers"):
        ArchSpec.from_dict({**BASE, "num_layers": 3})
    with pytest.raises(ConfigError, match="mapping"):
        ArchSpec.from_dict([1, 2, 3])  # type: ignore[arg-type]
    # Hydra's _target_ is ignored.
    assert ArchSpec.from_dict({**BASE, "_target_": "kdnas.models.arch.ArchSpec"}) == arch()


def test_yaml_round_trip_and_errors(tmp_path: Path) -> None:
    a = arch(hidden_act="silu", num_hidden_layers=2)
    path = a.to_yaml(tmp_path / "sub" / "arch.yaml")
    b = ArchSpec.from_yaml(path)
    assert b == a and b.arch_id == a.arch_id

    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=str(missing)):
        ArchSpec.from_yaml(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("num_hidden_layers: [1, 2\nhidden_size: }", encoding="utf-8")
    with pytest.raises(ConfigError, match=str(bad)) as err:
        ArchSpec.from_yaml(bad)
    assert "\n" not in str(err.value)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({**BASE, "hidden_size": "abc"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wrong\.yaml.*arch\.hidden_size"):
        ArchSpec.from_yaml(wrong)


def test_arch_id_is_stable_and_distinct(tmp_path: Path) -> None:
    a = arch()
    assert len(a.arch_id) == 12 and int(a.arch_id, 16) >= 0
    assert ArchSpec.from_dict(dict(reversed(list(a.to_dict().items())))).arch_id == a.arch_id
    assert ArchSpec.from_yaml(a.to_yaml(tmp_path / "a.yaml")).arch_id == a.arch_id
    ids = {s.arch_id for s in load_space("paper").all_valid()}
    assert len(ids) == 1800  # every distinct spec, a distinct id
    assert arch(hidden_act="relu").arch_id != a.arch_id
    # Same id in a fresh interpreter with a different hash seed (no dependence on Python's hash()).
    code = f"from kdnas.models.arch import ArchSpec; print(ArchSpec(**{BASE!r}).arch_id)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert out.stdout.strip() == a.arch_id


@pytest.mark.parametrize(
    "spec",
    [
        arch(),
        arch(num_hidden_layers=1, hidden_size=128, num_attention_heads=2, intermediate_size=256),
        arch(
            num_hidden_layers=3,
            hidden_size=576,
            num_attention_heads=12,
            intermediate_size=384,
            hidden_act="relu",
        ),
    ],
    ids=lambda a: a.short_name,
)
def test_param_count_matches_bert_model(spec: ArchSpec) -> None:
    vocab, max_pos, type_vocab = 1000, 128, 2
    config = BertConfig(
        vocab_size=vocab, max_position_embeddings=max_pos, type_vocab_size=type_vocab, **spec.to_dict()
    )
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = BertModel(config, add_pooling_layer=False)
    total = sum(p.numel() for p in model.parameters())
    layers = sum(p.numel() for p in model.encoder.parameters())
    assert spec.param_count(vocab, max_position=max_pos, type_vocab=type_vocab) == total
    assert spec.param_count(vocab, include_embeddings=False) == layers


def test_param_count_of_the_teacher() -> None:
    teacher = ArchSpec(12, 384, 12, 1536, "gelu")  # multilingual-e5-small: ~118M parameters
    assert round(teacher.param_count(250_037) / 1e6) == 118


# --------------------------------------------------------------------------------------------------
# SearchSpace
def test_preset_sizes() -> None:
    me5 = load_space("me5_small")
    assert me5.size >= 300
    assert me5.size == 1710
    assert all(a.head_dim >= 16 for a in me5.all_valid())
    assert max(a.hidden_size for a in me5.all_valid()) <= 384
    assert max(a.num_hidden_layers for a in me5.all_valid()) < 12

    paper = load_space("paper")
    # METHOD.md: layers {3,4,6,10,12}, heads {2,3,4,6,12}, hidden {384,576,768}, FFN 8 values,
    # activation 3 values, hidden divisible by heads: all 15 (hidden, heads) pairs divide.
    pairs = [(h, a) for h in (384, 576, 768) for a in (2, 3, 4, 6, 12) if h % a == 0]
    assert len(pairs) == 15
    assert paper.size == 5 * len(pairs) * 8 * 3 == 1800
    assert paper.cardinalities() == [5, 3, 5, 8, 3]


@pytest.mark.parametrize("name", ["me5_small", "paper"])
def test_yaml_presets_match_and_instantiate(name: str) -> None:
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert cfg["_target_"] == "kdnas.nas.space.SearchSpace"
    space = instantiate(cfg)
    assert isinstance(space, SearchSpace)
    assert space == load_space(name)
    assert SearchSpace.from_dict(space.to_dict()) == space


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"num_hidden_layers": []}, "search_space.num_hidden_layers"),
        ({"hidden_size": [64, 0]}, "search_space.hidden_size"),
        ({"num_attention_heads": [2, -4]}, "search_space.num_attention_heads"),
        ({"intermediate_size": [64, 64]}, "search_space.intermediate_size"),
        ({"intermediate_size": 64}, "search_space.intermediate_size"),
        ({"hidden_act": ["gelu", "nope"]}, "search_space.hidden_act"),
        ({"hidden_act": []}, "search_space.hidden_act"),
        ({"min_head_dim": 0}, "search_space.min_head_dim"),
        ({"max_params_excl_embeddings": -5}, "search_space.max_params_excl_embeddings"),
        ({"hidden_size": [6], "num_attention_heads": [4]}, "no valid architecture"),
        ({"min_head_dim": 1000}, "no valid architecture"),
        ({"max_params_excl_embeddings": 10}, "no valid architecture"),
    ],
)
def test_space_validation(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        tiny_space(**overrides)


def test_constraints_filter() -> None:
    full = tiny_space()
    assert full.size == 16
    assert tiny_space(min_head_dim=32).size == 8  # 64 / 4 = 16 dropped
    cap = max(a.param_count(0, include_embeddings=False) for a in full.all_valid()) - 1
    capped = tiny_space(max_params_excl_embeddings=cap)
    assert 0 < capped.size < full.size
    assert all(a.param_count(0, include_embeddings=False) <= cap for a in capped.all_valid())
    assert not capped.contains(ArchSpec(2, 64, 2, 128, "gelu"))


def test_all_valid_is_deterministic_and_contains() -> None:
    a, b = load_space("me5_small"), load_space("me5_small")
    assert a.all_valid() == b.all_valid()
    valid = a.all_valid()
    assert len({x.arch_id for x in valid}) == len(valid) == len(a)
    assert all(a.contains(x) and x in a for x in valid[:50])
    assert not a.contains(arch(num_hidden_layers=5))  # 5 layers is not a choice
    assert not a.contains(ArchSpec(2, 192, 12, 256, "tanh"))  # activation not a choice
    assert a.contains(ArchSpec(2, 192, 12, 256, "gelu"))  # head size 16 = min_head_dim
    assert a.contains(ArchSpec(2, 128, 8, 256, "relu"))  # head size 16 = min_head_dim


def test_encode_decode_round_trip() -> None:
    space = load_space("me5_small")
    cards = space.cardinalities()
    assert cards == [5, 5, 5, 6, 3]
    for a in space.all_valid():
        codes = space.encode(a)
        assert all(0 <= c < n for c, n in zip(codes, cards, strict=True))
        assert space.decode(codes) == a
    with pytest.raises(ValueError, match="num_hidden_layers"):
        space.encode(arch(num_hidden_layers=5))
    with pytest.raises(ValueError, match="out of range"):
        space.decode([0, 0, 0, 0, 3])


def test_sample_without_replacement_and_exclusion() -> None:
    space = tiny_space()
    rng = np.random.default_rng(0)
    everything = space.sample(rng, space.size)
    assert sorted(a.arch_id for a in everything) == sorted(a.arch_id for a in space.all_valid())

    exclude = {a.arch_id for a in space.all_valid()[:10]}
    for seed in range(20):
        got = space.sample(np.random.default_rng(seed), 6, exclude=exclude)
        assert len({a.arch_id for a in got}) == 6
        assert not exclude & {a.arch_id for a in got}
    with pytest.raises(ValueError, match="6 valid ones are left"):
        space.sample(rng, 7, exclude=exclude)

    # same seed -> same sample; roughly uniform over the valid set
    me5 = load_space("me5_small")
    assert me5.sample(np.random.default_rng(5), 20) == me5.sample(np.random.default_rng(5), 20)
    counts = np.zeros(space.size)
    index = {a.arch_id: i for i, a in enumerate(space.all_valid())}
    rng = np.random.default_rng(1)
    for _ in range(800):
        for a in space.sample(rng, 2):
            counts[index[a.arch_id]] += 1
    assert counts.min() > 60 and counts.max() < 140  # expectation 100 each


def test_grid_order_is_the_product_of_choices() -> None:
    space = tiny_space()
    expected = [
        ArchSpec(*combo) for combo in itertools.product([1, 2], [64], [2, 4], [64, 128], ["gelu", "relu"])
    ]
    assert space.all_valid() == expected
