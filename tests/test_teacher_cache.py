"""The teacher-output cache: the stored states are the teacher's, a second build runs no forward."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kdnas.data.datamodule import tokenize_texts
from kdnas.data.teacher_cache import TeacherCache, build_teacher_cache

TEXTS = [
    "Could not open the file",
    "a",
    "The archive is damaged and cannot be extracted any further",
    "Save all changes before quitting?",
    "Permission denied",
    "No space left on device, free some and try again",
    "Quit",
]


class CountForwards:
    """Counts forward passes of a module with a hook (independent of the cache's own counter)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls = 0
        self.handle = module.register_forward_hook(self._count)

    def _count(self, *_: object) -> None:
        self.calls += 1


@pytest.fixture()
def ids(tiny_teacher) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return tokenize_texts(tiny_teacher.tokenizer, TEXTS, max_length=16)


def build(root: Path, teacher, ids: list[np.ndarray], max_length: int = 16) -> TeacherCache:  # type: ignore[no-untyped-def]
    return build_teacher_cache(
        root, teacher.model, teacher.cache_key, ids, "fingerprint", max_length, pad_id=0, batch_size=3
    )


def test_cached_states_equal_a_direct_forward(tiny_teacher, ids: list[np.ndarray], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cache = build(tmp_path, tiny_teacher, ids)
    layers = tiny_teacher.num_layers + 1
    assert len(cache) == len(TEXTS)
    with torch.no_grad():
        for i, x in enumerate(ids):
            out = tiny_teacher.model(input_ids=torch.as_tensor(x[None], dtype=torch.long), output_hidden_states=True)
            direct = torch.stack(out.hidden_states, dim=2)[0]  # (T, L + 1, H), one text alone: no padding
            cached = torch.from_numpy(np.asarray(cache.states(i)).astype(np.float32))
            assert cached.shape == (len(x), layers, tiny_teacher.hidden_size)
            torch.testing.assert_close(cached, direct, rtol=2e-3, atol=2e-3)  # fp16 storage


def test_second_build_reuses_the_cache(tiny_teacher, ids: list[np.ndarray], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    counter = CountForwards(tiny_teacher.model)
    try:
        first = build(tmp_path, tiny_teacher, ids)
        assert counter.calls == -(-len(TEXTS) // 3)  # one forward a batch
        second = build(tmp_path, tiny_teacher, ids)
        assert counter.calls == -(-len(TEXTS) // 3)  # none more
        assert second.directory == first.directory
        np.testing.assert_array_equal(np.asarray(second.hidden), np.asarray(first.hidden))
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
        other = build(tmp_path, tiny_teacher, ids, max_length=32)  # another key: built anew
        assert other.directory != first.directory and counter.calls == 2 * -(-len(TEXTS) // 3)
    finally:
        counter.handle.remove()


def test_layer_selection_returns_the_requested_layers(tiny_teacher, ids: list[np.ndarray], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cache = build(tmp_path, tiny_teacher, ids)
    rows, length = [2, 0, 5], 20
    full = cache.batch(rows, length)
    assert full.shape == (tiny_teacher.num_layers + 1, len(rows), length, tiny_teacher.hidden_size)
    picked = cache.batch(rows, length, layers=[4, 0, 2])
    assert picked.dtype == torch.float32
    torch.testing.assert_close(picked, full[[4, 0, 2]], rtol=0, atol=0)
    for row, i in enumerate(rows):
        n = len(ids[i])
        states = torch.from_numpy(np.asarray(cache.states(i)).astype(np.float32))  # (n, L + 1, H)
        torch.testing.assert_close(picked[1, row, :n], states[:, 0], rtol=0, atol=0)
        assert not picked[:, row, n:].any()  # right padding is zeros
