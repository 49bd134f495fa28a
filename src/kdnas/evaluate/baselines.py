"""The baselines a student is measured against, besides its teacher: its own architecture, not distilled.

- ``untrained``: random weights (seeded). What the shared tokenizer and mean pooling alone give: identical
  token ids in a source and its translation (names, numbers, code) already make some pairs retrievable.
- ``teacher_init``: initialised from the teacher (layer selection and weight slicing, as
  ``student_init=teacher`` does) but not distilled. What slicing the teacher gives for free.

Gain retention, ``(student - base) / (teacher - base)``, then says how much of the teacher's lead over each
base the distillation recovered; a student that only keeps its initialisation scores about 0.
"""

from __future__ import annotations

from typing import cast

from transformers import PreTrainedModel

from kdnas.models.arch import ArchSpec
from kdnas.models.encoder import freeze
from kdnas.models.student import build_student

#: baseline name -> the ``build_student`` initialisation it uses
INITS: dict[str, str] = {"untrained": "random", "teacher_init": "teacher"}


def arch_of(model: PreTrainedModel) -> ArchSpec:
    """The searched fields of an encoder's config."""
    return ArchSpec.of_config(model.config)


def build_baseline(name: str, arch: ArchSpec, teacher_model: PreTrainedModel, seed: int = 0) -> PreTrainedModel:
    """The frozen ``name`` baseline (a key of :data:`INITS`) for ``arch``, in the teacher's family and vocabulary."""
    model = build_student(arch, teacher_model, init=INITS[name], dropout=None, seed=seed)
    return cast(PreTrainedModel, freeze(model))
