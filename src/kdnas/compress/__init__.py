"""Model transformations that make a distilled student smaller after training (vocabulary pruning).

May import :mod:`kdnas.models`, :mod:`kdnas.data`, :mod:`kdnas.utils` and :mod:`kdnas.errors` only.
"""

from __future__ import annotations

from kdnas.compress.prune_vocab import (
    PRUNING_FILE,
    count_token_ids,
    prune_embeddings,
    prune_vocabulary,
    weights_bytes,
)
from kdnas.compress.tokenizer_remap import remap_tokenizer_spec
from kdnas.compress.verify import verify_pruned

__all__ = [
    "PRUNING_FILE",
    "count_token_ids",
    "prune_embeddings",
    "prune_vocabulary",
    "remap_tokenizer_spec",
    "verify_pruned",
    "weights_bytes",
]
