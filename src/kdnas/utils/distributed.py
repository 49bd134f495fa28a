"""Rank helpers for running the search loop under a Lightning DDP strategy.

With ``trainer=ddp`` Lightning re-launches the entry script once per extra device (same command, same
Hydra run directory). Every rank then runs the search loop; rank 0 makes every decision (which
candidates, distil or reuse) and broadcasts it, and only rank 0 writes the store, outputs and logs.
The process group exists once the first distillation has started; before that only rank 0 runs.
"""

from __future__ import annotations

from typing import TypeVar

import torch.distributed as dist
from lightning.fabric.utilities.rank_zero import rank_zero_only

T = TypeVar("T")


def global_rank() -> int:
    """This process's global rank (0 when not distributed), from the launcher's environment."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(getattr(rank_zero_only, "rank", 0) or 0)


def is_global_zero() -> bool:
    return global_rank() == 0


def broadcast_from_zero(obj: T) -> T:
    """Rank 0's ``obj`` on every rank (a no-op before the process group exists, or on one process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
