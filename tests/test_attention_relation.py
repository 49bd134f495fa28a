"""MiniLMv2 self-attention relation distillation."""

from __future__ import annotations

import copy

import pytest
import torch

from kdnas.distill.attention import PROJECTIONS, attention_relation_kl, capture_qkv
from kdnas.distill.module import DistillationModule
from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.models.student import build_student


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(5, 1000, (3, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    return ids, mask


def qkv(model: torch.nn.Module, layer: int) -> dict[str, torch.Tensor]:
    ids, mask = inputs()
    with torch.no_grad(), capture_qkv(model, layer) as captured:
        model(input_ids=ids, attention_mask=mask)
    return dict(captured)


def test_relation_is_zero_for_the_same_layer_and_positive_otherwise(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    teacher = tiny_teacher.model.eval()
    _, mask = inputs()
    same = attention_relation_kl(qkv(teacher, 1), qkv(copy.deepcopy(teacher), 1), mask, heads=2)
    sharper = copy.deepcopy(teacher)
    with torch.no_grad():
        for name in ("query", "key", "value"):  # the random teacher's relations are nearly uniform: sharpen them
            getattr(sharper.encoder.layer[1].attention.self, name).weight.mul_(20)
    other = attention_relation_kl(qkv(sharper, 1), qkv(teacher, 1), mask, heads=2)
    assert same.item() < 1e-6
    assert other.item() > 1e-2


def widen(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(B, T, H)`` -> ``(B, T, 2H)`` whose ``heads`` relation heads hold the same relations as ``x``'s.

    Each head's ``d`` dimensions are scaled by ``2 ** 0.25`` and padded with ``d`` zeros: the dot products
    grow by ``sqrt(2)``, exactly what the wider head's ``1 / sqrt(2d)`` scaling takes back.
    """
    b, t, h = x.shape
    parts = x.view(b, t, heads, h // heads) * 2**0.25
    return torch.cat([parts, torch.zeros_like(parts)], dim=-1).view(b, t, 2 * h)


def test_relation_compares_students_of_another_width(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    _, mask = inputs()
    g = torch.Generator().manual_seed(1)
    student = {name: torch.randn(3, 9, 32, generator=g) for name in PROJECTIONS}
    same_relations = {name: widen(x, heads=4) for name, x in student.items()}  # a teacher twice as wide
    assert attention_relation_kl(student, same_relations, mask, heads=4).item() < 1e-6
    other = {name: x.flip(1) for name, x in same_relations.items()}  # tokens in reverse order
    assert attention_relation_kl(student, other, mask, heads=4).item() > 1e-2
    teacher = tiny_teacher.model.eval()
    small = build_student(ArchSpec(2, 32, 2, 64, "relu"), teacher, init="random").eval()
    assert torch.isfinite(attention_relation_kl(qkv(small, 1), qkv(teacher, 1), mask, heads=4))  # 32 vs 64 wide
    with pytest.raises(ConfigError, match="attention_relation_heads"):
        attention_relation_kl(qkv(small, 1), qkv(teacher, 1), mask, heads=5)


def test_hooks_are_removed_after_the_block(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    teacher = tiny_teacher.model

    def hooks() -> int:
        return sum(len(m._forward_hooks) for m in teacher.modules())

    before = hooks()
    with capture_qkv(teacher, 0):
        assert hooks() == before + 3
    assert hooks() == before


def test_module_adds_the_attention_loss_with_a_live_teacher_only(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    teacher = tiny_teacher.model
    student = build_student(ArchSpec(2, 32, 2, 64, "relu"), teacher)
    n, h = teacher.config.num_hidden_layers, teacher.config.hidden_size
    module = DistillationModule(student, teacher, n, h, attention_weight=0.5, attention_relation_heads=2)
    ids, mask = inputs()
    live = module.losses({"input_ids": ids, "attention_mask": mask})
    assert live["attention"].item() > 0
    assert torch.allclose(live["total"], live["hidden"] + 0.5 * live["attention"])
    live["total"].backward()  # the loss reaches the student's last-layer query weights
    last = student.encoder.layer[-1].attention.self.query.weight
    assert last.grad is not None and last.grad.abs().sum() > 0
    with torch.no_grad():
        cached = teacher(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    batch = {"input_ids": ids, "attention_mask": mask, "teacher_hidden": torch.stack(cached)}
    assert "attention" not in module.losses(batch)
