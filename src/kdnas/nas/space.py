"""The architecture search space: a grid of choices per dimension, minus the invalid combinations.

A :class:`SearchSpace` lists the candidate values of each :class:`~kdnas.models.arch.ArchSpec` field. An
architecture is *valid* when the hidden size divides by the head count, the head size is at least
``min_head_dim`` (if set) and its non-embedding parameter count is at most ``max_params_excl_embeddings``
(if set). The cheap constraints are applied here, before any expensive objective (distillation, latency).

The valid architectures are enumerated once, in a deterministic order (the Cartesian product of the
choice lists, in the order given: layers, hidden, heads, FFN, activation), which makes sampling with a
seeded :class:`numpy.random.Generator` reproducible.

The spaces users search are Hydra configs, one copy each (``conf/search_space/me5_small.yaml``: students
of the 12 x 384 multilingual-e5-small teacher, 1,710 architectures; ``paper.yaml``: METHOD.md's XLM-R base
space, 1,800); from Python, pass the choice lists to :class:`SearchSpace` (or :meth:`SearchSpace.from_dict`
a loaded YAML file).

Example:
    >>> space = SearchSpace(num_hidden_layers=[1, 2], hidden_size=[128, 256], num_attention_heads=[2, 4],
    ...                     intermediate_size=[256, 512], hidden_act=["gelu", "relu"])
    >>> arch = space.sample(np.random.default_rng(0), 1)[0]
    >>> space.decode(space.encode(arch)) == arch
    True
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from kdnas.errors import ConfigError
from kdnas.models.arch import FIELDS, INT_FIELDS, SUPPORTED_ACTIVATIONS, ArchSpec
from kdnas.utils.checks import is_int

# Dimension order of encode()/cardinalities(): the ArchSpec field order.
DIMENSIONS: tuple[str, ...] = FIELDS

def _as_choices(key: str, values: Any, kind: type) -> tuple[Any, ...]:
    """Validate one choice list (accepting lists, tuples, OmegaConf ListConfig) and return it as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(f"search_space.{key}: expected a list of choices, got {values!r}")
    out = tuple(values)
    if not out:
        raise ConfigError(f"search_space.{key}: the list of choices is empty; give at least one value")
    for v in out:
        if kind is int:
            if not is_int(v):
                raise ConfigError(f"search_space.{key}: expected integers, got {v!r}")
            if v <= 0:
                raise ConfigError(f"search_space.{key}: values must be positive, got {v}")
        elif not isinstance(v, str) or v not in SUPPORTED_ACTIVATIONS:
            raise ConfigError(
                f"search_space.{key}: unknown activation {v!r}; supported: {', '.join(SUPPORTED_ACTIVATIONS)}"
            )
    out = tuple(int(v) for v in out) if kind is int else tuple(str(v) for v in out)
    duplicates = sorted({v for v in out if out.count(v) > 1}, key=str)
    if duplicates:
        raise ConfigError(f"search_space.{key}: duplicate value(s) {', '.join(map(str, duplicates))}")
    return out


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Choices per architecture dimension plus constraints.

    Args:
        num_hidden_layers: candidate layer counts.
        hidden_size: candidate widths.
        num_attention_heads: candidate head counts (combined only with widths they divide).
        intermediate_size: candidate FFN widths.
        hidden_act: candidate activations (see :data:`kdnas.models.arch.SUPPORTED_ACTIVATIONS`).
        max_params_excl_embeddings: if set, keep only architectures whose transformer layers (embeddings
            excluded; they are fixed by the teacher's vocabulary and dominate for a 250k vocabulary) have
            at most this many parameters.
        min_head_dim: if set, keep only architectures with hidden_size / num_attention_heads >= this.

    Raises:
        ConfigError: naming ``search_space.<key>``: an empty choice list, a non-positive or duplicate
            value, an unknown activation, or no valid architecture at all.
    """

    num_hidden_layers: Sequence[int]
    hidden_size: Sequence[int]
    num_attention_heads: Sequence[int]
    intermediate_size: Sequence[int]
    hidden_act: Sequence[str]
    max_params_excl_embeddings: int | None = None
    min_head_dim: int | None = None

    def __post_init__(self) -> None:
        # Hydra passes ListConfig; store tuples so the space is hashable and immutable.
        for key in INT_FIELDS:
            object.__setattr__(self, key, _as_choices(key, getattr(self, key), int))
        object.__setattr__(self, "hidden_act", _as_choices("hidden_act", self.hidden_act, str))
        for key in ("max_params_excl_embeddings", "min_head_dim"):
            value = getattr(self, key)
            if value is None:
                continue
            if not is_int(value) or value <= 0:
                raise ConfigError(f"search_space.{key}: must be a positive integer or null, got {value!r}")
            object.__setattr__(self, key, int(value))
        self.validate()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Build from a mapping of the constructor's keys (``_target_`` and other ``_`` keys ignored)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {str(k): v for k, v in data.items() if not str(k).startswith("_")}
        unknown = sorted(set(kwargs) - fields)
        if unknown:
            raise ConfigError(f"search_space: unknown key(s) {', '.join(unknown)}")
        missing = sorted(set(DIMENSIONS) - set(kwargs))
        if missing:
            raise ConfigError(f"search_space: missing key(s) {', '.join(missing)}")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists), the inverse of :meth:`from_dict`."""
        out: dict[str, Any] = {d: list(getattr(self, d)) for d in DIMENSIONS}
        out["max_params_excl_embeddings"] = self.max_params_excl_embeddings
        out["min_head_dim"] = self.min_head_dim
        return out

    # ----------------------------------------------------------------------------------------------
    # validity
    def _reason_invalid(self, arch: ArchSpec) -> str | None:
        """Why a structurally valid ArchSpec violates this space's constraints (None if it does not)."""
        if self.min_head_dim is not None and arch.head_dim < self.min_head_dim:
            return f"head size {arch.head_dim} < min_head_dim {self.min_head_dim}"
        if self.max_params_excl_embeddings is not None:
            n = arch.param_count(vocab_size=0, include_embeddings=False)
            if n > self.max_params_excl_embeddings:
                return f"{n} non-embedding parameters > max_params_excl_embeddings {self.max_params_excl_embeddings}"
        return None

    @cached_property
    def _valid(self) -> tuple[ArchSpec, ...]:
        valid = []
        for layers, hidden, heads, ffn, act in itertools.product(*(getattr(self, d) for d in DIMENSIONS)):
            if hidden % heads:
                continue
            arch = ArchSpec(layers, hidden, heads, ffn, act)
            if self._reason_invalid(arch) is None:
                valid.append(arch)
        return tuple(valid)

    @cached_property
    def _ids(self) -> frozenset[str]:
        return frozenset(a.arch_id for a in self._valid)

    def validate(self) -> None:
        """Raise :class:`ConfigError` if the constraints leave no valid architecture."""
        if not self._valid:
            raise ConfigError(
                "search_space: no valid architecture: no hidden_size is divisible by a num_attention_heads "
                "choice within the min_head_dim / max_params_excl_embeddings constraints; widen the choices"
            )

    def all_valid(self) -> list[ArchSpec]:
        """Every valid architecture, in the deterministic grid order."""
        return list(self._valid)

    @property
    def size(self) -> int:
        """Number of valid architectures."""
        return len(self._valid)

    def __len__(self) -> int:
        return self.size

    def contains(self, arch: ArchSpec) -> bool:
        """True if every field is one of the choices and the constraints hold."""
        return arch.arch_id in self._ids

    def __contains__(self, arch: object) -> bool:
        return isinstance(arch, ArchSpec) and self.contains(arch)

    # ----------------------------------------------------------------------------------------------
    # sampling and encoding
    def sample(
        self, rng: np.random.Generator, n: int, exclude: Iterable[str] | None = None
    ) -> list[ArchSpec]:
        """``n`` distinct valid architectures, uniformly at random, none of whose ``arch_id`` is in ``exclude``.

        Raises:
            ValueError: ``n`` negative, or larger than the number of valid architectures left.
        """
        excluded = set(exclude or ())
        pool = [a for a in self._valid if a.arch_id not in excluded]
        if n < 0 or n > len(pool):
            raise ValueError(
                f"cannot sample {n} architectures: {len(pool)} valid ones are left (of {self.size})"
            )
        picks = rng.choice(len(pool), size=n, replace=False)
        return [pool[int(i)] for i in picks]

    def cardinalities(self) -> list[int]:
        """Number of choices per dimension, in :data:`DIMENSIONS` order."""
        return [len(getattr(self, d)) for d in DIMENSIONS]

    def encode(self, arch: ArchSpec) -> list[int]:
        """Index of each field's value in its choice list (:data:`DIMENSIONS` order).

        Raises:
            ValueError: a field's value is not one of the choices.
        """
        codes = []
        for d in DIMENSIONS:
            choices = getattr(self, d)
            value = getattr(arch, d)
            if value not in choices:
                raise ValueError(
                    f"{arch.short_name}: {d}={value!r} is not in this search space's {list(choices)}"
                )
            codes.append(choices.index(value))
        return codes

    def decode(self, codes: Sequence[int]) -> ArchSpec:
        """Inverse of :meth:`encode` (the result may still violate the constraints; see :meth:`contains`)."""
        if len(codes) != len(DIMENSIONS):
            raise ValueError(f"expected {len(DIMENSIONS)} codes, got {len(codes)}")
        values = {}
        for d, c in zip(DIMENSIONS, codes, strict=True):
            choices = getattr(self, d)
            if not 0 <= int(c) < len(choices):
                raise ValueError(f"code {c} for {d} is out of range 0..{len(choices) - 1}")
            values[d] = choices[int(c)]
        return ArchSpec(**values)
