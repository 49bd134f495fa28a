"""What a latency measurement runs on: device, input shape, threads, runtime and repetitions.

A :class:`LatencyProfile` is a plain, validated value: building one checks every field and raises a
one-line :class:`~kdnas.errors.ConfigError` naming the field and the fix. It is hashable (frozen) and
turns into a ``dict`` for logs and result files (:meth:`LatencyProfile.to_dict`).

Runtimes are named in :data:`kdnas.latency.runtimes.RUNTIMES` (name -> runner factory); a runtime that
needs an optional package (ONNX Runtime) imports it only when a measurement runs, so importing this module
has no side effects.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from kdnas.errors import ConfigError
from kdnas.latency.runtimes import RUNTIMES
from kdnas.utils.checks import check_int

Device = Literal["cpu", "cuda"]

_DEVICES: tuple[str, ...] = ("cpu", "cuda")


@dataclass(frozen=True)
class LatencyProfile:
    """How to time a model's forward pass.

    Args:
        device: ``"cpu"`` or ``"cuda"`` (``"cuda"`` needs a GPU visible to torch).
        batch_size: Sequences per forward pass.
        seq_len: Tokens per sequence (every position attended).
        threads: CPU intra-op threads (``torch.set_num_threads``) while measuring; the previous value is
            restored afterwards.
        runtime: Name of the runtime executing the model, a key of
            :data:`kdnas.latency.runtimes.RUNTIMES`.
        warmup: Untimed forward passes before timing starts.
        repeats: Timed forward passes (at least).
        min_seconds: Keep timing past ``repeats`` until at least this many seconds were spent in timed
            passes (0: exactly ``repeats`` passes).

    Raises:
        ConfigError: If a field is out of range, the runtime is unknown, or ``device="cuda"`` without CUDA.

    Example::

        profile = LatencyProfile()  # 1 thread, CPU, batch 1, 128 tokens: the search's default target
        gpu = LatencyProfile(device="cuda", batch_size=32, repeats=100)
    """

    device: Device = "cpu"
    batch_size: int = 1  # sequences per forward pass
    seq_len: int = 128  # tokens per sequence
    threads: int = 1  # torch intra-op threads during the measurement
    runtime: str = "pytorch"  # key of RUNTIMES
    warmup: int = 5  # untimed passes first
    repeats: int = 30  # timed passes (minimum)
    min_seconds: float = 0.0  # keep timing until this much time was spent

    def __post_init__(self) -> None:
        if self.device not in _DEVICES:
            raise ConfigError(f"LatencyProfile.device={self.device!r} is not supported: use 'cpu' or 'cuda'")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                "LatencyProfile.device='cuda' but torch sees no CUDA device: "
                "use device='cpu' or run on a machine with a GPU and a CUDA build of torch"
            )
        for name, minimum in (("batch_size", 1), ("seq_len", 1), ("threads", 1), ("warmup", 0), ("repeats", 1)):
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

    def to_dict(self) -> dict[str, Any]:
        """The profile as a plain ``dict`` (for logs, checkpoints and result files)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LatencyProfile:
        """Inverse of :meth:`to_dict` (validates again)."""
        return cls(**values)

