"""A fast tokenizer's ``tokenizer.json`` restricted to kept token ids and renumbered (Unigram, WordPiece).

- **Unigram** (XLM-R / e5 SentencePiece): the vocabulary list keeps the kept pieces with their scores, in
  the new id order; ``unk_id``, the added tokens and the post-processor's special-token ids are remapped;
  normaliser, pre-tokenizer and decoder are kept verbatim.
- **WordPiece** (BERT, MiniLM): the piece -> id map keeps the kept pieces; likewise for the rest.
- BPE and others raise :class:`~kdnas.errors.ConfigError` (pruning BPE would have to prune merges).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from kdnas.errors import ConfigError

SUPPORTED_MODELS: tuple[str, ...] = ("Unigram", "WordPiece")
SPECIAL_ATTRIBUTES: tuple[str, ...] = (
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
)  # fmt: skip


def tokenizer_spec(tokenizer: PreTrainedTokenizerBase, model_dir: Path) -> dict[str, Any]:
    """The ``tokenizer.json`` content of a fast tokenizer whose model pruning supports.

    Raises:
        ConfigError: no fast tokenizer, or a tokenizer model other than :data:`SUPPORTED_MODELS`.
    """
    if not getattr(tokenizer, "is_fast", False) or not hasattr(tokenizer, "backend_tokenizer"):
        raise ConfigError(f"prune_vocab: {model_dir} has no fast tokenizer (tokenizer.json); pruning needs one")
    spec: dict[str, Any] = json.loads(tokenizer.backend_tokenizer.to_str())
    kind = spec.get("model", {}).get("type")
    if kind not in SUPPORTED_MODELS:
        raise ConfigError(
            f"prune_vocab: the tokenizer of {model_dir} is a {kind} model; pruning supports {list(SUPPORTED_MODELS)}"
        )
    return spec


def post_processor_ids(node: Any) -> set[int]:
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
            ids |= post_processor_ids(child)
    return ids


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


def build_tokenizer(original: PreTrainedTokenizerBase, spec: dict[str, Any]) -> PreTrainedTokenizerFast:
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
