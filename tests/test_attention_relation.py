"""MiniLMv2 self-attention relation distillation."""

from __future__ import annotations

import copy

import pytest
import torch

from kdnas.distill.attention import attention_relation_kl, capture_qkv
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


def test_relation_compares_students_of_another_width(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    teacher = tiny_teacher.model.eval()
    student = build_student(ArchSpec(2, 32, 2, 64, "relu"), teacher, init="random").eval()
    _, mask = inputs()
    assert attention_relation_kl(qkv(student, 1), qkv(teacher, 1), mask, heads=4).item() > 0
    with pytest.raises(ConfigError, match="attention_relation_heads"):
        attention_relation_kl(qkv(student, 1), qkv(teacher, 1), mask, heads=5)


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
