"""What a runtime is: a runner factory, the one interface a new runtime implements.

A *runner factory* is a context manager ``factory(model, profile, batches)`` that prepares the model (moves,
exports, compiles...) and its input batches (a sequence of ``{"input_ids", "attention_mask"}`` dicts of (B, T)
tensors on CPU: one for a fixed-length profile, a cycle through real texts for a corpus profile), and yields a
:data:`Runner`: ``run(i)`` does one complete forward pass on ``batches[i % len(batches)]`` and returns only
once the work is finished (a CUDA runner synchronises). Preparing every batch up front keeps copies and
conversions out of the timed pass. On exit the factory frees what it made and leaves the model as it found it. Timing, threads and statistics are
:mod:`kdnas.latency.measure`'s, shared by every runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypeAlias

import torch
from torch import nn

if TYPE_CHECKING:
    from kdnas.latency.profile import LatencyProfile

__all__ = ["Runner", "RuntimeFactory"]

#: ``run(i)``: one complete forward pass on batch ``i`` (modulo the number of batches).
Runner: TypeAlias = Callable[[int], None]
#: ``factory(model, profile, batches)``: a context manager yielding a :data:`Runner`.
RuntimeFactory: TypeAlias = Callable[
    [nn.Module, "LatencyProfile", Sequence[dict[str, torch.Tensor]]], AbstractContextManager[Runner]
]
