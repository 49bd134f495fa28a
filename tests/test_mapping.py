from __future__ import annotations

import pytest

from kdnas.distill.mapping import layer_mapping
from kdnas.errors import ConfigError


def targets(kind: str, n_s: int, n_t: int, emb: bool = False) -> list[tuple[int, tuple[int, ...]]]:
    return list(layer_mapping(kind, n_s, n_t, emb).pairs)


def test_uniform_spreads_over_teacher_depth() -> None:
    assert targets("uniform", 4, 12) == [(1, (3,)), (2, (6,)), (3, (9,)), (4, (12,))]
    assert targets("uniform", 3, 12) == [(1, (4,)), (2, (8,)), (3, (12,))]


def test_last_takes_the_top_layers() -> None:
    assert targets("last", 4, 12) == [(1, (9,)), (2, (10,)), (3, (11,)), (4, (12,))]


def test_uniform_last_concatenates_both_and_dedupes() -> None:
    assert targets("uniform_last", 2, 12) == [(1, (6, 11)), (2, (12,))]
    m = layer_mapping("uniform_last", 3, 12)
    assert m.teacher_layers == (4, 8, 10, 11, 12)


def test_embeddings_optional() -> None:
    assert targets("uniform", 2, 4, emb=True)[0] == (0, (0,))
    assert all(s != 0 for s, _ in targets("uniform", 2, 4))


def test_student_deeper_than_teacher_stays_in_range() -> None:
    for kind in ("uniform", "last", "uniform_last"):
        for _, ts in targets(kind, 6, 2):
            assert all(1 <= t <= 2 for t in ts)


def test_unknown_mapping_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"distill\.mapping"):
        layer_mapping("diagonal", 2, 4)
