"""Runtime ``"pytorch"`` (the default): eager PyTorch on the profile's device."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import nn

from kdnas.latency.runtimes.base import Runner
from kdnas.utils.torch_context import module_device

if TYPE_CHECKING:
    from kdnas.latency.profile import LatencyProfile

__all__ = ["pytorch_runner"]


@contextmanager
def pytorch_runner(
    model: nn.Module, profile: LatencyProfile, batches: Sequence[dict[str, torch.Tensor]]
) -> Iterator[Runner]:
    """Eager PyTorch: ``model(**batch)`` in eval mode under ``torch.inference_mode()``.

    Every batch is moved to ``profile.device`` before the first pass.
    Measures in place when the model already sits on ``profile.device`` (training flags restored on
    exit), else on a moved deep copy. On CUDA every pass ends with ``torch.cuda.synchronize()``.
    """
    device = torch.device(profile.device)
    in_place = module_device(model).type == device.type
    target = model if in_place else copy.deepcopy(model).to(device)
    modes = [(m, m.training) for m in target.modules()]
    target.eval()
    feeds = [{k: v.to(device) for k, v in batch.items()} for batch in batches]
    cuda = device.type == "cuda"

    def run(i: int) -> None:
        target(**feeds[i % len(feeds)])
        if cuda:
            torch.cuda.synchronize(device)

    try:
        with torch.inference_mode():
            yield run
    finally:
        for module, training in modes:
            module.training = training
