from __future__ import annotations

import pytest
import torch
from transformers import AutoModel

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.models.student import build_student, count_parameters, teacher_layer_for

SMALL = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64, hidden_act="relu")


@pytest.mark.parametrize(
    ("field", "value"),
    [("hidden_size", 30), ("num_hidden_layers", 0), ("intermediate_size", -1), ("hidden_act", "sparkle")],
)
def test_invalid_arch_names_the_field(field: str, value: object) -> None:
    spec = dict(SMALL, **{field: value})
    if field == "hidden_size":
        spec["num_attention_heads"] = 4  # 30 is not divisible by 4
    with pytest.raises(ConfigError, match=field if field != "hidden_size" else "hidden_size|num_attention_heads"):
        ArchSpec(**spec)  # type: ignore[arg-type]


def test_student_shares_family_and_vocabulary(tiny_teacher, tmp_path) -> None:  # type: ignore[no-untyped-def]
    student = build_student(ArchSpec(**SMALL), tiny_teacher.model)  # type: ignore[arg-type]
    assert type(student) is type(tiny_teacher.model)
    assert student.config.vocab_size == tiny_teacher.model.config.vocab_size
    assert student.config.hidden_act == "relu" and student.config.num_hidden_layers == 2
    student.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path)
    assert count_parameters(reloaded) == count_parameters(student)


def test_teacher_init_copies_selected_layers_and_slices(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    teacher = tiny_teacher.model
    student = build_student(ArchSpec(**SMALL), teacher, init="teacher")  # type: ignore[arg-type]
    random = build_student(ArchSpec(**SMALL), teacher, init="random")  # type: ignore[arg-type]
    t_emb = teacher.get_input_embeddings().weight
    assert torch.equal(student.get_input_embeddings().weight, t_emb[:, :32])
    assert not torch.equal(random.get_input_embeddings().weight, t_emb[:, :32])
    # 2 student layers from 4 teacher layers: teacher layers 1 and 3 (0-based)
    assert [teacher_layer_for(i, 2, 4) for i in range(2)] == [1, 3]
    s_w = student.encoder.layer[0].intermediate.dense.weight
    t_w = teacher.encoder.layer[1].intermediate.dense.weight
    assert torch.equal(s_w, t_w[:64, :32])


def test_unknown_init_mode(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"distill\.init|init"):
        build_student(ArchSpec(**SMALL), tiny_teacher.model, init="magic")  # type: ignore[arg-type]


def test_frozen_word_embeddings_only_with_teacher_init(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    student = build_student(ArchSpec(**SMALL), tiny_teacher.model, freeze_word_embeddings=True)  # type: ignore[arg-type]
    assert not student.get_input_embeddings().weight.requires_grad
    assert student.encoder.layer[0].intermediate.dense.weight.requires_grad
    with pytest.raises(ConfigError, match="freeze_word_embeddings"):
        build_student(ArchSpec(**SMALL), tiny_teacher.model, init="random", freeze_word_embeddings=True)  # type: ignore[arg-type]
