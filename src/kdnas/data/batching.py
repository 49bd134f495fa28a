"""Length-bucketed batching and dynamic padding (the texts are short and vary in length)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length examples, in a fresh random order each epoch.

    Indices are shuffled, cut into chunks of ``bucket_batches`` batches, sorted by length inside each
    chunk, batched, and the batches shuffled. Under data parallelism each rank takes every
    ``world_size``-th batch (the batch count is truncated to a multiple of the world size so ranks stay
    in step); every rank draws the same batches from the same seed and epoch, so the ranks' shares are
    disjoint.

    Args:
        lengths: token count of each example.
        batch_size: examples per batch.
        shuffle: random order (training) or length-sorted deterministic order (evaluation).
        seed: base seed; the epoch is added so every epoch differs but a resumed run repeats it.
        bucket_batches: batches per length-sorted chunk.
        rank, world_size: this process's share; ``None`` reads them from ``torch.distributed`` when a
            process group is initialised (else rank 0 of 1) each time the sampler is iterated.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        bucket_batches: int = 50,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither (read from torch.distributed)")
        if world_size is not None and rank is not None and not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_batches = bucket_batches
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(n)
        chunk = self.batch_size * self.bucket_batches
        batches: list[list[int]] = []
        for start in range(0, n, chunk):
            part = order[start : start + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches.extend(part[i : i + self.batch_size].tolist() for i in range(0, len(part), self.batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]  # the order rng.shuffle(batches) gives

    def _rank_world(self) -> tuple[int, int]:
        if self.rank is not None and self.world_size is not None:
            return self.rank, self.world_size
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        rank, world = self._rank_world()
        usable = len(batches) - len(batches) % world if world > 1 else len(batches)
        yield from batches[rank:usable:world]

    def __len__(self) -> int:
        n_batches = -(-len(self.lengths) // self.batch_size)
        _, world = self._rank_world()
        return n_batches // world if world > 1 else n_batches


def pad_sequences(seqs: Sequence[np.ndarray], pad_value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad 1-D id arrays into ``(B, T)`` ids and a ``(B, T)`` attention mask."""
    longest = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), longest), pad_value, dtype=torch.long)
    mask = torch.zeros((len(seqs), longest), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
