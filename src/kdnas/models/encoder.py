"""Load a Hugging Face encoder and its tokenizer, frozen in eval mode: the one loader teachers and
evaluated students share.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from kdnas.errors import ConfigError

#: ids below this are special tokens in the vocabularies we use (<s>, <pad>, </s>, <unk>, ...): random inputs
#: for tracing and timing start here
FIRST_REGULAR_TOKEN_ID = 5

hf_logging.set_verbosity_error()  # the load report lists the unused pooler of every sentence encoder


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode, no gradients; returns ``model``."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_frozen_encoder(name_or_path: str | Path, key: str = "model") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The encoder (without a pooler: mean pooling does not use it) and tokenizer of a hub id or directory.

    Args:
        name_or_path: a hub id or a ``save_pretrained`` directory.
        key: the config key the user set, named in errors (``teacher.name_or_path``, ``student``).

    Raises:
        ConfigError: one line naming ``key``: not a model directory, or it cannot be loaded.
    """
    text = str(name_or_path)
    try:
        try:
            model = AutoModel.from_pretrained(text, add_pooling_layer=False)
        except TypeError:  # model classes without a pooler
            model = AutoModel.from_pretrained(text)
        tokenizer = AutoTokenizer.from_pretrained(text)
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(
            f"{key}={text}: cannot load the model and tokenizer ({first}); check the name, connect to the hub, "
            "or pass a directory written by save_pretrained"
        ) from exc
    freeze(model)
    return model, tokenizer
