"""MiniLMv2-style self-attention relation distillation (Wang et al., 2021).

For one student layer and one teacher layer, the query, key and value projections are each split into the
same number ``R`` of *relation heads*; within each head the scaled dot-product relation between every pair
of tokens, ``softmax(X X^T / sqrt(d_r))``, is compared between teacher and student by KL divergence.
Relations are ``T x T`` whatever the widths, so student and teacher need neither the same hidden size nor
the same number of attention heads: only both widths divisible by ``R``.

The projections are read with forward hooks on ``*.layer.<i>.attention.self.{query,key,value}``, the
module names of BERT, RoBERTa and XLM-R in Hugging Face ``transformers``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from kdnas.errors import ConfigError

PROJECTIONS = ("query", "key", "value")


def qkv_modules(model: nn.Module, layer: int) -> dict[str, nn.Module]:
    """The query/key/value linear modules of 0-based transformer ``layer``."""
    pattern = re.compile(rf"(^|\.)layer\.{layer}\.attention\.self\.(query|key|value)$")
    found = {m.group(2): module for name, module in model.named_modules() if (m := pattern.search(name))}
    if set(found) != set(PROJECTIONS):
        raise ConfigError(
            f"distill.attention_weight > 0 needs BERT-style attention modules (layer.{layer}.attention.self.query/"
            f"key/value) in {type(model).__name__}: set distill.attention_weight=0 for this model family"
        )
    return found


@contextmanager
def capture_qkv(model: nn.Module, layer: int) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, forward passes of ``model`` fill the yielded dict with ``layer``'s Q, K, V outputs."""
    captured: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out))
        for name, module in qkv_modules(model, layer).items()
    ]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def relation_log_probs(x: torch.Tensor, mask: torch.Tensor, heads: int) -> torch.Tensor:
    """``(B, T, H)`` -> ``(B, R, T, T)`` log-softmax relations over the valid (key) tokens."""
    b, t, h = x.shape
    if h % heads:
        raise ConfigError(f"distill.attention_relation_heads={heads} does not divide the hidden size {h}")
    d = h // heads
    x = x.float().view(b, t, heads, d).transpose(1, 2)  # (B, R, T, d)
    scores = x @ x.transpose(-1, -2) / d**0.5
    scores = scores.masked_fill(~mask.bool()[:, None, None, :], torch.finfo(scores.dtype).min)
    return scores.log_softmax(-1)


def attention_relation_kl(
    student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], mask: torch.Tensor, heads: int
) -> torch.Tensor:
    """Mean over Q-Q, K-K and V-V relations of KL(teacher || student), averaged over valid query tokens."""
    rows = mask.bool()[:, None, :].float()  # (B, 1, T): which query rows count
    losses = []
    for name in PROJECTIONS:
        s = relation_log_probs(student[name], mask, heads)
        t = relation_log_probs(teacher[name].to(student[name].dtype), mask, heads)
        kl = (t.exp() * (t - s)).masked_fill(~mask.bool()[:, None, None, :], 0.0).sum(-1)  # (B, R, T)
        losses.append((kl * rows).sum() / (rows.sum() * heads).clamp_min(1.0))
    return torch.stack(losses).mean()
