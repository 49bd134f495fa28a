"""The sentence-transformers files of a ``save_pretrained`` directory: ``SentenceTransformer(dir)`` then embeds
exactly as kdnas does.

kdnas's sentence embedding (:func:`kdnas.evaluate.embed.embed_texts`) is the mean of the last hidden states
over the real (non-padding) tokens, prefix and special tokens included, scaled to unit length. The files
written here describe that pipeline to sentence-transformers: a ``Transformer`` module in the directory's
root (the model and tokenizer already there), ``1_Pooling`` (mean, prompt tokens included) and, where the
teacher normalises, ``2_Normalize``; the teacher's text prefixes are named prompts
(``encode(texts, prompt_name="query")``).

The format mirrors what ``SentenceTransformer.save`` of the pinned sentence-transformers writes (the test
compares the two), without importing sentence-transformers (a 5 s import) or loading the model again: only
JSON files are written, each atomically, ``modules.json`` last (until it exists the directory is no
sentence-transformers model, so an interrupted write never leaves a half-described one).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdnas.utils.checks import check_int
from kdnas.utils.io import write_json

#: multilingual-e5's input convention: queries and passages are prefixed differently
E5_PROMPTS: dict[str, str] = {"query": "query: ", "passage": "passage: "}

MODULES_FILE = "modules.json"
TRANSFORMER_CONFIG = "sentence_bert_config.json"
MODEL_CONFIG = "config_sentence_transformers.json"
POOLING_DIR = "1_Pooling"
NORMALIZE_DIR = "2_Normalize"

# module class references as sentence-transformers 6 saves them
_TRANSFORMER = "sentence_transformers.base.modules.transformer.Transformer"
_POOLING = "sentence_transformers.sentence_transformer.modules.pooling.Pooling"
_NORMALIZE = "sentence_transformers.base.modules.normalize.Normalize"


def st_prompts(prompts: Mapping[str, str]) -> dict[str, str]:
    """``prompts`` as saved: a ``passage`` prompt also becomes ``document`` (unless one is given).

    sentence-transformers' ``encode_document`` looks for ``document`` first and every model has one (empty
    unless saved), so without it an e5 student's documents would lose their ``passage: `` prefix.
    """
    out = {str(k): str(v) for k, v in prompts.items()}
    if "passage" in out and "document" not in out:
        out["document"] = out["passage"]
    return out


def default_max_seq_length(directory: Path) -> int:
    """What sentence-transformers itself would use: the tokenizer's ``model_max_length`` capped at the
    model's ``max_position_embeddings``."""
    config = _read_json(directory / "config.json")
    limits = [int(config["max_position_embeddings"])] if "max_position_embeddings" in config else []
    tokenizer_config = directory / "tokenizer_config.json"
    if tokenizer_config.is_file() and (length := _read_json(tokenizer_config).get("model_max_length")) is not None:
        limits.append(int(length))
    if not limits:
        raise ValueError(f"{directory}: neither max_position_embeddings nor model_max_length; pass max_seq_length")
    return min(limits)


def write_sentence_transformers_files(
    directory: str | Path,
    prompts: Mapping[str, str] | None = None,
    normalize: bool = True,
    max_seq_length: int | None = None,
) -> list[Path]:
    """Make the ``save_pretrained`` directory ``directory`` a sentence-transformers model too.

    Args:
        directory: holds ``config.json`` (its ``hidden_size`` is the embedding size), the weights and the
            tokenizer; only JSON files are added (an existing sentence-transformers description is replaced).
        prompts: named prompts, e.g. :data:`E5_PROMPTS`; ``None`` or ``{}`` for a model without prefixes.
        normalize: append a ``Normalize`` module (unit-length embeddings, as kdnas evaluates).
        max_seq_length: tokens kept per text; ``None``: :func:`default_max_seq_length`.

    Returns:
        The files written, ``modules.json`` last.

    Raises:
        FileNotFoundError: no ``config.json`` in ``directory``.
    """
    directory = Path(directory)
    config = _read_json(directory / "config.json")
    if max_seq_length is None:
        max_seq_length = default_max_seq_length(directory)
    check_int("max_seq_length", max_seq_length, minimum=1)
    written = [
        write_json(directory / TRANSFORMER_CONFIG, transformer_config(max_seq_length), indent=4),
        write_json(directory / POOLING_DIR / "config.json", pooling_config(int(config["hidden_size"])), indent=4),
    ]
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": _TRANSFORMER},
        {"idx": 1, "name": "1", "path": POOLING_DIR, "type": _POOLING},
    ]
    if normalize:
        written.append(write_json(directory / NORMALIZE_DIR / "config.json", normalize_config(), indent=4))
        modules.append({"idx": 2, "name": "2", "path": NORMALIZE_DIR, "type": _NORMALIZE})
    else:
        shutil.rmtree(directory / NORMALIZE_DIR, ignore_errors=True)
    written.append(write_json(directory / MODEL_CONFIG, model_config(prompts or {}), sort_keys=True))
    written.append(write_json(directory / MODULES_FILE, modules))
    return written


def transformer_config(max_seq_length: int) -> dict[str, Any]:
    """``sentence_bert_config.json``: a feature-extraction encoder whose token embeddings are pooled."""
    return {
        "transformer_task": "feature-extraction",
        "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        "module_output_name": "token_embeddings",
        "max_seq_length": max_seq_length,
    }


def pooling_config(embedding_dimension: int) -> dict[str, Any]:
    """``1_Pooling/config.json``: the mean over the attention mask (prompt tokens included, as kdnas trains)."""
    return {"embedding_dimension": embedding_dimension, "pooling_mode": "mean", "include_prompt": True}


def normalize_config() -> dict[str, Any]:
    """``2_Normalize/config.json``: L2 normalisation of the sentence embedding."""
    return {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"}


def model_config(prompts: Mapping[str, str]) -> dict[str, Any]:
    """``config_sentence_transformers.json``: prompts, cosine similarity, the library versions."""
    import torch

    versions = {"transformers": importlib.metadata.version("transformers"), "pytorch": torch.__version__}
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):  # it is in requirements.txt
        versions["sentence_transformers"] = importlib.metadata.version("sentence-transformers")
    return {
        "model_type": "SentenceTransformer",
        "__version__": versions,
        "prompts": st_prompts(prompts),
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data
