"""A student architecture: the five numbers/names that define a BERT-style encoder.

The field names are exactly Hugging Face's (`BertConfig` / `XLMRobertaConfig`), so
``BertConfig(vocab_size=..., **arch.to_dict())`` builds the student. An architecture is identified by
:attr:`ArchSpec.arch_id`, a short hash of its canonical JSON, used to de-duplicate candidates across a
search (an architecture is never distilled twice).

Example:
    >>> arch = ArchSpec(num_hidden_layers=4, hidden_size=256, num_attention_heads=4,
    ...                 intermediate_size=1024, hidden_act="gelu")
    >>> arch.short_name
    'L4-H256-A4-F1024-gelu'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from transformers.activations import ACT2FN

from kdnas.errors import ConfigError
from kdnas.utils.checks import is_int
from kdnas.utils.io import write_yaml

# Common activations that every runtime we target (PyTorch eager, ONNX export) handles. Validation accepts
# only these, not every exotic entry of ACT2FN; intersected with ACT2FN so a transformers release that
# drops one cannot make us accept a name BertModel would refuse.
_COMMON_ACTIVATIONS = (
    "gelu",
    "gelu_new",
    "gelu_fast",
    "gelu_pytorch_tanh",
    "quick_gelu",
    "relu",
    "relu6",
    "silu",
    "swish",
    "mish",
    "tanh",
)
SUPPORTED_ACTIVATIONS: tuple[str, ...] = tuple(a for a in _COMMON_ACTIVATIONS if a in ACT2FN)

INT_FIELDS: tuple[str, ...] = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size")
#: the block of an architecture file that says what it was searched for (budget, latency profile, teacher time)
SEARCHED_FOR = "searched_for"
FIELDS: tuple[str, ...] = (*INT_FIELDS, "hidden_act")




@dataclasses.dataclass(frozen=True)
class ArchSpec:
    """A BERT-style encoder architecture (embeddings and vocabulary come from the teacher).

    Args:
        num_hidden_layers: number of transformer layers (L).
        hidden_size: model width (H); must be divisible by ``num_attention_heads``.
        num_attention_heads: attention heads per layer (A); head size is H / A.
        intermediate_size: feed-forward inner width (F).
        hidden_act: feed-forward activation, one of :data:`SUPPORTED_ACTIVATIONS`.

    Raises:
        ConfigError: at construction, naming the offending field (see :meth:`validate`).
    """

    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str

    def __post_init__(self) -> None:
        # Normalise NumPy integers (e.g. from a search-space grid) to plain ints so hashes and YAML agree.
        for name in INT_FIELDS:
            value = getattr(self, name)
            if is_int(value) and type(value) is not int:
                object.__setattr__(self, name, int(value))
        self.validate()

    def validate(self) -> None:
        """Check types and consistency.

        Raises:
            ConfigError: one line naming the field: a non-integer or non-positive size, a hidden size not
                divisible by the number of heads, an unknown activation.
        """
        for name in INT_FIELDS:
            value = getattr(self, name)
            if not is_int(value):
                raise ConfigError(f"arch.{name}: expected a positive integer, got {value!r}")
            if value <= 0:
                raise ConfigError(f"arch.{name}: must be a positive integer, got {value}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ConfigError(
                f"arch.hidden_size: {self.hidden_size} is not divisible by "
                f"num_attention_heads={self.num_attention_heads}; choose a multiple of the head count"
            )
        if not isinstance(self.hidden_act, str) or self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ConfigError(
                f"arch.hidden_act: unknown activation {self.hidden_act!r}; "
                f"supported: {', '.join(SUPPORTED_ACTIVATIONS)}"
            )

    # ----------------------------------------------------------------------------------------------
    # identity and names
    @property
    def head_dim(self) -> int:
        """Size of one attention head (hidden_size / num_attention_heads)."""
        return self.hidden_size // self.num_attention_heads

    @property
    def arch_id(self) -> str:
        """Stable 12-hex-digit id: sha1 of the canonical JSON (sorted keys, no spaces) of :meth:`to_dict`."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:12]

    @property
    def short_name(self) -> str:
        """Human-readable name, e.g. ``L4-H256-A4-F1024-gelu``."""
        return (
            f"L{self.num_hidden_layers}-H{self.hidden_size}-A{self.num_attention_heads}"
            f"-F{self.intermediate_size}-{self.hidden_act}"
        )

    def __str__(self) -> str:
        return self.short_name

    # ----------------------------------------------------------------------------------------------
    # (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """The five fields as a plain dict (Hugging Face config names)."""
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchSpec:
        """Build from a mapping with exactly the five fields.

        Keys starting with ``_`` (Hydra's ``_target_`` and friends) are ignored.

        Raises:
            ConfigError: not a mapping, missing or unknown keys (named), wrong types, invalid values.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"arch: expected a mapping with keys {', '.join(FIELDS)}, got {type(data).__name__}"
            )
        keys = {str(k) for k in data if not str(k).startswith("_") and k != SEARCHED_FOR}
        missing = [f for f in FIELDS if f not in keys]
        unknown = sorted(keys - set(FIELDS))
        if missing:
            raise ConfigError(f"arch: missing key(s) {', '.join(missing)}")
        if unknown:
            raise ConfigError(f"arch: unknown key(s) {', '.join(unknown)}; expected {', '.join(FIELDS)}")
        return cls(**{f: data[f] for f in FIELDS})

    @classmethod
    def of_config(cls, config: Any) -> ArchSpec:
        """The five searched fields of a Hugging Face encoder's config (a teacher's, a saved student's).

        Raises:
            ConfigError: a value the space cannot hold (an unsupported activation, say).
        """
        return cls.from_dict({name: getattr(config, name) for name in FIELDS})

    @classmethod
    def from_yaml(cls, path: str | Path) -> ArchSpec:
        """Read an architecture from a YAML file (a mapping of the five fields).

        Raises:
            ConfigError: unreadable or malformed file (naming the path), or invalid contents.
        """
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"arch file {path}: cannot read it ({err.__class__.__name__}: {err})") from err
        except yaml.YAMLError as err:
            detail = " ".join(str(err).split())
            raise ConfigError(f"arch file {path}: malformed YAML ({detail})") from err
        try:
            return cls.from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"arch file {path}: {err}") from err

    def to_yaml(self, path: str | Path, searched_for: Mapping[str, Any] | None = None) -> Path:
        """Write :meth:`to_dict` as YAML, atomically (creating parent folders); returns the path.

        Args:
            searched_for: the budget and latency profile the architecture was searched for (its
                :data:`SEARCHED_FOR` block, which readers of the five fields ignore).
        """
        data: dict[str, Any] = self.to_dict()
        if searched_for:
            data[SEARCHED_FOR] = dict(searched_for)
        return write_yaml(path, data)

    # ----------------------------------------------------------------------------------------------
    # cost
    def multiply_adds_per_token(self, seq_len: int) -> int:
        """The encoder's multiply-adds per token: projections ``4 h^2``, FFN ``2 h f`` and attention over
        ``seq_len`` tokens ``2 seq_len h``, per layer (a lower bound on the latency ratio of a small model)."""
        h, f = self.hidden_size, self.intermediate_size
        return self.num_hidden_layers * (4 * h * h + 2 * h * f + 2 * seq_len * h)

    def param_count(
        self,
        vocab_size: int,
        max_position: int = 512,
        type_vocab: int = 2,
        include_embeddings: bool = True,
    ) -> int:
        """Parameters of ``transformers.BertModel(config, add_pooling_layer=False)``, computed analytically.

        Args:
            vocab_size: token vocabulary (250,037 for XLM-R / multilingual-e5).
            max_position: learned position embeddings (``max_position_embeddings``).
            type_vocab: token-type embeddings (``type_vocab_size``).
            include_embeddings: False counts only the transformer layers (what a size constraint on a
                large-vocabulary student should look at: the embedding table is fixed by the teacher).
        """
        h, f = self.hidden_size, self.intermediate_size
        # Per layer: Q, K, V, attention-output (H x H + bias each) = 4H^2 + 4H; two LayerNorms = 4H;
        # FFN in (H x F + F) and out (F x H + H) = 2HF + F + H.
        per_layer = 4 * h * h + 2 * h * f + 9 * h + f
        total = self.num_hidden_layers * per_layer
        if include_embeddings:
            for name, value in (
                ("vocab_size", vocab_size),
                ("max_position", max_position),
                ("type_vocab", type_vocab),
            ):
                if not is_int(value) or value < 0:
                    raise ValueError(f"param_count: {name} must be a non-negative integer, got {value!r}")
            # word + position + token-type tables, and the embedding LayerNorm (weight + bias).
            total += (vocab_size + max_position + type_vocab) * h + 2 * h
        return total


def read_searched_for(path: str | Path) -> dict[str, Any] | None:
    """The :data:`SEARCHED_FOR` block of an architecture file (None when it has none or cannot be read)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    block = data.get(SEARCHED_FOR) if isinstance(data, dict) else None
    return dict(block) if isinstance(block, dict) else None
