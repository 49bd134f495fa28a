"""The length-bucketed batch sampler, alone and sharded over data-parallel ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kdnas.data.batching import LengthBucketBatchSampler, pad_sequences

LENGTHS = np.random.default_rng(0).integers(3, 60, size=203).tolist()  # 203 / 8: 26 batches, the last short


def ranks(
    world: int, epoch: int = 0, seed: int = 5, n: int | None = None, shuffle: bool = True
) -> list[list[list[int]]]:
    """Each rank's batches for one epoch, every rank its own sampler (as in separate processes)."""
    lengths = LENGTHS if n is None else LENGTHS[:n]
    out = []
    for rank in range(world):
        sampler = LengthBucketBatchSampler(
            lengths, 8, shuffle=shuffle, seed=seed, bucket_batches=4, rank=rank, world_size=world
        )
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        out.append(batches)
    return out


def test_one_process_yields_every_index_once_in_length_sorted_buckets() -> None:
    (batches,) = ranks(1)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(LENGTHS)))
    assert sum(len(b) < 8 for b in batches) == 1  # only the last of its chunk is short
    # inside a batch lengths are close: they are neighbours in a sorted chunk of 32
    spread = np.mean([np.ptp([LENGTHS[i] for i in b]) for b in batches])
    assert spread < np.ptp(LENGTHS) / 3


@pytest.mark.parametrize("world", [2, 3, 4])
def test_ranks_get_equal_disjoint_shares(world: int) -> None:
    shares = ranks(world)
    n_batches = -(-len(LENGTHS) // 8)
    assert {len(s) for s in shares} == {n_batches // world}  # in step: the same count on every rank
    seen = [i for share in shares for b in share for i in b]
    assert len(seen) == len(set(seen))  # no index on two ranks, or twice on one
    assert set(seen) <= set(range(len(LENGTHS)))
    # what is dropped is whole batches: the remainder of the batch count over the world size
    (whole,) = ranks(1)
    kept = {tuple(b) for share in shares for b in share}
    assert kept <= {tuple(b) for b in whole}
    assert len(whole) - len(kept) == n_batches % world


def test_ranks_cover_everything_when_the_batches_divide() -> None:
    shares = ranks(4, n=8 * 12)  # 12 full batches over 4 ranks: nothing dropped
    seen = sorted(i for share in shares for b in share for i in b)
    assert seen == list(range(8 * 12))


def test_same_seed_and_epoch_repeat_different_epochs_reorder() -> None:
    assert ranks(2, epoch=3) == ranks(2, epoch=3)
    first, second = ranks(1, epoch=0)[0], ranks(1, epoch=1)[0]
    assert first != second
    assert sorted(i for b in first for i in b) == sorted(i for b in second for i in b)
    assert ranks(1, seed=6)[0] != first


def test_evaluation_order_is_length_sorted_and_seed_free() -> None:
    (batches,) = ranks(1, shuffle=False)
    flat = [i for b in batches for i in b]
    assert flat == np.argsort(LENGTHS, kind="stable").tolist()
    assert ranks(1, shuffle=False, seed=9, epoch=4) == [batches]


def test_rank_and_world_size_are_checked() -> None:
    with pytest.raises(ValueError, match="both"):
        LengthBucketBatchSampler(LENGTHS, 8, rank=0)
    with pytest.raises(ValueError, match="rank"):
        LengthBucketBatchSampler(LENGTHS, 8, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        LengthBucketBatchSampler(LENGTHS, 0)


def test_without_a_process_group_the_sampler_is_rank_zero_of_one() -> None:
    assert not (torch.distributed.is_available() and torch.distributed.is_initialized())
    assert list(LengthBucketBatchSampler(LENGTHS, 8, seed=5, bucket_batches=4)) == ranks(1)[0]


def test_pad_sequences_right_pads_with_a_mask() -> None:
    ids, mask = pad_sequences([np.array([5, 6, 7]), np.array([8])], pad_value=1)
    assert ids.tolist() == [[5, 6, 7], [8, 1, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
