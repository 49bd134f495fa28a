"""What a latency measurement runs on: device, inputs, threads, runtime and repetitions.

A :class:`LatencyProfile` is a plain, validated value: building one checks every field and raises a
one-line :class:`~kdnas.errors.ConfigError` naming the field and the fix. It is hashable (frozen) and
turns into a ``dict`` for logs and result files (:meth:`LatencyProfile.to_dict`).

Its inputs are either random token ids of a fixed length (``seq_len=128``: comparable across corpora) or
real texts at their own lengths (``seq_len="corpus"``): real inputs are short (a median of ~17 tokens on
the gettext corpus), where the fixed cost of each layer weighs more than at 128 tokens, so a shallow
student's speed-up over its teacher can differ. A corpus profile carries the token ids of a fixed,
seeded sample of texts, set by :func:`with_real_inputs` (the pipelines do it from the dev split).

Runtimes are named in :data:`kdnas.latency.runtimes.RUNTIMES` (name -> runner factory); a runtime that
needs an optional package (ONNX Runtime) imports it only when a measurement runs, so importing this module
has no side effects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from kdnas.errors import ConfigError
from kdnas.latency.runtimes import RUNTIMES
from kdnas.utils.checks import check_int, is_int

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Device = Literal["cpu", "cuda"]

#: ``LatencyProfile.seq_len`` of real texts at their own lengths
CORPUS: Literal["corpus"] = "corpus"
#: what :meth:`LatencyProfile.to_dict` records of a corpus profile's inputs (instead of the ids themselves)
INPUT_SUMMARY_KEYS: tuple[str, ...] = ("n_inputs", "median_tokens", "mean_tokens", "inputs_sha")

_DEVICES: tuple[str, ...] = ("cpu", "cuda")


@dataclass(frozen=True)
class LatencyProfile:
    """How to time a model's forward pass.

    Args:
        device: ``"cpu"`` or ``"cuda"`` (``"cuda"`` needs a GPU visible to torch).
        batch_size: Sequences per forward pass.
        seq_len: Tokens per sequence (random ids, every position attended), or ``"corpus"``: real texts at
            their own lengths (:attr:`inputs`; a batch pads ``batch_size`` consecutive ones to the longest).
        threads: CPU intra-op threads (``torch.set_num_threads``) while measuring; the previous value is
            restored afterwards.
        runtime: Name of the runtime executing the model, a key of
            :data:`kdnas.latency.runtimes.RUNTIMES`.
        warmup: Untimed forward passes before timing starts.
        repeats: Timed forward passes (at least; a corpus profile times whole cycles through its inputs).
        min_seconds: Keep timing past ``repeats`` until at least this many seconds were spent in timed
            passes (0: exactly ``repeats`` passes).
        inputs: A corpus profile's token-id sequences (set by :func:`with_real_inputs`, not a setting);
            empty until then, and always empty for a fixed ``seq_len``.

    Raises:
        ConfigError: If a field is out of range, the runtime is unknown, or ``device="cuda"`` without CUDA.

    Example::

        profile = LatencyProfile()  # 1 thread, CPU, batch 1, 128 tokens: the search's default target
        gpu = LatencyProfile(device="cuda", batch_size=32, repeats=100)
        real = with_real_inputs(LatencyProfile(seq_len="corpus"), tokenizer, dev_texts, prefix="query: ")
    """

    device: Device = "cpu"
    batch_size: int = 1  # sequences per forward pass
    seq_len: int | Literal["corpus"] = 128  # tokens per sequence, or "corpus" (real texts, own lengths)
    threads: int = 1  # torch intra-op threads during the measurement
    runtime: str = "pytorch"  # key of RUNTIMES
    warmup: int = 5  # untimed passes first
    repeats: int = 30  # timed passes (minimum)
    min_seconds: float = 0.0  # keep timing until this much time was spent
    # a corpus profile's token ids; not a config setting (the schemas skip it), with_real_inputs sets it
    inputs: tuple[tuple[int, ...], ...] = field(default=(), repr=False, metadata={"config": False})

    def __post_init__(self) -> None:
        if self.device not in _DEVICES:
            raise ConfigError(f"LatencyProfile.device={self.device!r} is not supported: use 'cpu' or 'cuda'")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                "LatencyProfile.device='cuda' but torch sees no CUDA device: "
                "use device='cpu' or run on a machine with a GPU and a CUDA build of torch"
            )
        if is_int(self.seq_len):
            object.__setattr__(self, "seq_len", int(self.seq_len))  # a NumPy integer -> int
        if self.seq_len != CORPUS and not (is_int(self.seq_len) and int(self.seq_len) >= 1):
            raise ConfigError(
                f"LatencyProfile.seq_len={self.seq_len!r} is invalid: use a number of tokens >= 1 (e.g. 128) "
                f"or '{CORPUS}' (real texts of the dev split at their own lengths)"
            )
        for name, minimum in (("batch_size", 1), ("threads", 1), ("warmup", 0), ("repeats", 1)):
            check_int(f"LatencyProfile.{name}", getattr(self, name), minimum=minimum)
        if (
            isinstance(self.min_seconds, bool)
            or not isinstance(self.min_seconds, int | float)
            or not math.isfinite(self.min_seconds)
            or self.min_seconds < 0
        ):
            raise ConfigError(
                f"LatencyProfile.min_seconds={self.min_seconds!r} is invalid: use a finite number >= 0 "
                "(0 times exactly `repeats` passes)"
            )
        if self.runtime not in RUNTIMES:
            raise ConfigError(
                f"LatencyProfile.runtime={self.runtime!r} is unknown: use one of {', '.join(sorted(RUNTIMES))}"
            )
        object.__setattr__(self, "inputs", _token_sequences(self.inputs))  # lists (YAML, JSON) -> tuples
        if self.inputs and self.seq_len != CORPUS:
            raise ConfigError(
                f"LatencyProfile.inputs are real texts' token ids, for seq_len='{CORPUS}' only "
                f"(got seq_len={self.seq_len!r}): drop the inputs or set seq_len='{CORPUS}'"
            )

    @property
    def is_corpus(self) -> bool:
        """Real texts at their own lengths (``seq_len="corpus"``)."""
        return self.seq_len == CORPUS

    @property
    def tokens_per_sequence(self) -> int:
        """``seq_len``, or a corpus profile's median input length (the lower median: an actual length).

        Raises:
            ConfigError: A corpus profile without inputs.
        """
        if isinstance(self.seq_len, int):
            return self.seq_len
        return int(statistics.median_low(len(ids) for ids in self.require_inputs()))

    @property
    def max_tokens(self) -> int:
        """The longest sequence a pass runs: ``seq_len``, or a corpus profile's longest input."""
        if isinstance(self.seq_len, int):
            return self.seq_len
        return max(len(ids) for ids in self.require_inputs())

    def require_inputs(self) -> tuple[tuple[int, ...], ...]:
        """A corpus profile's inputs, or the one-line error saying what sets them."""
        if not self.inputs:
            raise ConfigError(
                f"LatencyProfile.seq_len='{CORPUS}' has no inputs yet: the pipelines take them from the dev "
                "split (search.py, train.py, evaluate.py, deploy.py); in Python call "
                "kdnas.latency.profile.with_real_inputs(profile, tokenizer, texts) first, or use a number "
                "of tokens (seq_len=128)"
            )
        return self.inputs

    def to_dict(self) -> dict[str, Any]:
        """The profile as a plain ``dict`` (for logs, checkpoints, result files and store keys).

        A corpus profile records its inputs by :data:`INPUT_SUMMARY_KEYS` (how many, median and mean
        tokens, a 12-hex-digit fingerprint of the ids), not the ids; a fixed-length one has the same keys
        as before corpus profiles existed, so the store keys of earlier searches still match.
        """
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "inputs"}
        if self.is_corpus:
            lengths = [len(ids) for ids in self.inputs]
            values.update({
                "n_inputs": len(lengths),
                "median_tokens": self.tokens_per_sequence if lengths else None,
                "mean_tokens": round(statistics.fmean(lengths), 2) if lengths else None,
                "inputs_sha": inputs_fingerprint(self.inputs) if lengths else None,
            })
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LatencyProfile:
        """Inverse of :meth:`to_dict` (validates again); a corpus profile comes back without its inputs
        (the dict holds only their summary), to be resolved again with :func:`with_real_inputs`."""
        return cls(**{k: v for k, v in values.items() if k not in INPUT_SUMMARY_KEYS})


def with_real_inputs(
    profile: LatencyProfile,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    n: int = 200,
    seed: int = 0,
    prefix: str = "",
    max_length: int = 512,
) -> LatencyProfile:
    """``profile`` timed on real texts: a seeded sample of ``n`` of ``texts``, tokenised as the model sees them.

    Args:
        profile: any profile; the result has ``seq_len="corpus"`` and its other settings.
        tokenizer: the teacher's tokenizer (a student shares it).
        texts: the texts to sample (the pipelines pass the dev split's).
        n: how many texts (all of them when there are fewer); each timed cycle runs every one.
        seed: the sample's seed: the same texts, seed and tokenizer give the same inputs, and so the same
            store key.
        prefix: prepended to every text (the teacher's ``text_prefix``, e5's ``"query: "``).
        max_length: longer texts are truncated, as at inference.

    Raises:
        ConfigError: No texts, or ``n`` / ``max_length`` < 1.
    """
    check_int("with_real_inputs: n", n, minimum=1)
    check_int("with_real_inputs: max_length", max_length, minimum=1)
    if not texts:
        raise ConfigError("with_real_inputs: no texts to time the latency on: give the dev split's texts")
    chosen = np.random.default_rng(seed).choice(len(texts), size=min(n, len(texts)), replace=False)
    ids = tokenizer([prefix + texts[int(i)] for i in chosen], truncation=True, max_length=max_length)["input_ids"]
    return dataclasses.replace(profile, seq_len=CORPUS, inputs=_token_sequences(ids))


def inputs_fingerprint(inputs: Sequence[Sequence[int]]) -> str:
    """12 hex digits of a SHA-256 of the token ids: different inputs give a different store setting."""
    return hashlib.sha256(json.dumps([list(ids) for ids in inputs]).encode()).hexdigest()[:12]


def _token_sequences(inputs: Any) -> tuple[tuple[int, ...], ...]:
    """``inputs`` as a tuple of non-empty tuples of token ids >= 0, or a one-line error."""

    def bad() -> ConfigError:
        return ConfigError("LatencyProfile.inputs: every input must be a non-empty sequence of token ids >= 0 "
                           "(build them with with_real_inputs)")

    if isinstance(inputs, str | bytes) or not isinstance(inputs, Iterable):
        raise bad()
    out = []
    for ids in inputs:
        if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
            raise bad()
        seq = tuple(ids)
        if not seq or not all(is_int(t) and t >= 0 for t in seq):
            raise bad()
        out.append(tuple(int(t) for t in seq))
    return tuple(out)
