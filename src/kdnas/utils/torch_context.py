"""Torch process state for the length of a block, and where a module lives.

:func:`torch_threads` sets torch's intra-op thread count and restores it; :func:`module_device` reads a
module's device from its first tensor. Used wherever a measurement or a small fit must not leave the
process changed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["module_device", "torch_threads"]


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Set torch's intra-op threads for the block (``None``: leave them), then restore them.

    Inter-op threads stay as they are: ``torch.set_num_interop_threads`` may only be called once per
    process, before any parallel work.
    """
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def module_device(model: nn.Module) -> torch.device:
    """Device of the first parameter (or buffer); CPU for a module with neither."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")
