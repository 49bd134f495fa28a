"""Which teacher layers each student layer learns (multi-layer hidden state distillation).

Layers are numbered as in Hugging Face's ``output_hidden_states``: 0 is the embedding output, 1..L the
transformer layers. With ``L_T`` teacher and ``L_S`` student layers, student layer ``i`` (1-based) learns:

- ``uniform``:       teacher layer ``floor(i * L_T / L_S)``
- ``last``:          teacher layer ``L_T - L_S + i``
- ``uniform_last``:  both of the above, concatenated (METHOD.md's default)

``include_embeddings`` adds student embeddings -> teacher embeddings. Indices are clamped to ``[1, L_T]``
so a student deeper than its teacher still gets a valid mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdnas.errors import ConfigError

MAPPINGS = ("uniform", "last", "uniform_last")


@dataclass(frozen=True)
class LayerMapping:
    """``pairs[k] = (student_layer, teacher_layers)``, all in hidden-state numbering."""

    pairs: tuple[tuple[int, tuple[int, ...]], ...]

    @property
    def teacher_layers(self) -> tuple[int, ...]:
        """Every teacher layer used, sorted, once."""
        return tuple(sorted({t for _, ts in self.pairs for t in ts}))


def layer_mapping(kind: str, n_student: int, n_teacher: int, include_embeddings: bool = False) -> LayerMapping:
    if kind not in MAPPINGS:
        raise ConfigError(f"distill.mapping={kind!r} is not one of {list(MAPPINGS)}")
    if n_student < 1 or n_teacher < 1:
        raise ConfigError(f"layer counts must be positive (student {n_student}, teacher {n_teacher})")

    def clamp(t: int) -> int:
        return max(1, min(n_teacher, t))

    pairs: list[tuple[int, tuple[int, ...]]] = [(0, (0,))] if include_embeddings else []
    for i in range(1, n_student + 1):
        uniform = clamp(i * n_teacher // n_student)
        last = clamp(n_teacher - n_student + i)
        targets = {"uniform": (uniform,), "last": (last,), "uniform_last": tuple(dict.fromkeys((uniform, last)))}[kind]
        pairs.append((i, targets))
    return LayerMapping(tuple(pairs))
