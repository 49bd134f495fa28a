"""What a runtime is: a runner factory, the one interface a new runtime implements.

A *runner factory* is a context manager ``factory(model, profile, inputs)`` that prepares the model (moves,
exports, compiles...) and yields a :data:`Runner`: a zero-argument callable doing one complete forward pass,
which returns only once the work is finished (a CUDA runner synchronises). On exit the factory frees what it
made and leaves the model as it found it. Timing, threads and statistics are
:mod:`kdnas.latency.measure`'s, shared by every runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypeAlias

import torch
from torch import nn

if TYPE_CHECKING:
    from kdnas.latency.profile import LatencyProfile

__all__ = ["Runner", "RuntimeFactory"]

#: One complete forward pass.
Runner: TypeAlias = Callable[[], None]
#: ``factory(model, profile, inputs)``: a context manager yielding a :data:`Runner`.
RuntimeFactory: TypeAlias = Callable[
    [nn.Module, "LatencyProfile", dict[str, torch.Tensor]], AbstractContextManager[Runner]
]
