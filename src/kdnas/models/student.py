"""Students: a model of the teacher's family, built from an architecture spec, sharing its tokenizer.

The student's config is the teacher's with the five searched fields replaced, so it loads with plain
``AutoModel`` and uses the teacher's vocabulary. Initialisation from the teacher (``init="teacher"``) picks
teacher layers uniformly and slices every weight to the student's sizes; ``init="random"`` keeps
Hugging Face's random initialisation. The choice is a config switch so its effect can be measured.
"""

from __future__ import annotations

import copy
import re

import torch
from transformers import AutoModel, PreTrainedModel

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec

INIT_MODES = ("teacher", "random")
_LAYER_RE = re.compile(r"(^|\.)layer\.(\d+)\.")


def student_config(arch: ArchSpec, teacher_model: PreTrainedModel, dropout: float | None = None) -> object:
    """The teacher's config with the searched fields replaced (and dropout overridden when given)."""
    config = copy.deepcopy(teacher_model.config)
    config.update(arch.to_dict())
    if dropout is not None:
        config.update({"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout})
    return config


def build_student(
    arch: ArchSpec,
    teacher_model: PreTrainedModel,
    init: str = "teacher",
    dropout: float | None = 0.0,
    seed: int = 0,
    freeze_word_embeddings: bool = False,
) -> PreTrainedModel:
    """Build the student for ``arch`` in the teacher's model family.

    Args:
        init: ``teacher`` (layer selection + weight slicing) or ``random``.
        dropout: the student's dropout during distillation (``None`` keeps the teacher's).
        freeze_word_embeddings: keep the (teacher-sliced) word embeddings fixed. With a 250k-piece
            vocabulary the embedding table is most of a small student's parameters and its dense AdamW
            update most of a step's time; only allowed with ``init="teacher"``.

    Raises:
        ConfigError: unknown ``init`` mode.
    """
    if init not in INIT_MODES:
        raise ConfigError(f"distill.init={init!r} is not one of {list(INIT_MODES)}")
    config = student_config(arch, teacher_model, dropout)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        # keep the model class's default heads (e.g. BERT's pooler) so plain AutoModel loads every weight
        student = AutoModel.from_config(config)
    if freeze_word_embeddings and init != "teacher":
        raise ConfigError("student.freeze_word_embeddings=true needs student.init=teacher (random embeddings must train)")
    if init == "teacher":
        init_from_teacher(student, teacher_model)
    if freeze_word_embeddings:
        student.get_input_embeddings().requires_grad_(False)
    pooler = getattr(student, "pooler", None)
    if pooler is not None:  # not distilled: frozen so DDP sees no unused trainable parameters
        pooler.requires_grad_(False)
    student.train()
    return student


def teacher_layer_for(student_layer: int, n_student: int, n_teacher: int) -> int:
    """0-based teacher layer a 0-based student layer is initialised from (uniform selection, last kept)."""
    return min(n_teacher - 1, round((student_layer + 1) * n_teacher / n_student) - 1)


def init_from_teacher(student: PreTrainedModel, teacher: PreTrainedModel) -> int:
    """Copy the teacher's weights into the student: layer selection, then leading-slice of every dimension.

    Returns the number of student tensors initialised from the teacher.
    """
    n_s, n_t = student.config.num_hidden_layers, teacher.config.num_hidden_layers
    teacher_state = teacher.state_dict()

    def teacher_name(name: str) -> str:
        return _LAYER_RE.sub(lambda m: f"{m.group(1)}layer.{teacher_layer_for(int(m.group(2)), n_s, n_t)}.", name, count=1)

    copied = 0
    with torch.no_grad():
        for name, tensor in student.state_dict().items():
            source = teacher_state.get(teacher_name(name))
            if source is None or source.dim() != tensor.dim():
                continue
            slices = tuple(slice(0, min(a, b)) for a, b in zip(tensor.shape, source.shape, strict=True))
            tensor[slices].copy_(source[slices])
            copied += 1
    return copied


def count_parameters(model: torch.nn.Module, include_embeddings: bool = True) -> int:
    """Parameters of ``model``; without the input (word) embedding matrix when ``include_embeddings`` is false."""
    total = sum(p.numel() for p in model.parameters())
    if include_embeddings:
        return total
    get_embeddings = getattr(model, "get_input_embeddings", None)
    weight = getattr(get_embeddings(), "weight", None) if callable(get_embeddings) else None
    return total - (weight.numel() if isinstance(weight, torch.Tensor) else 0)
