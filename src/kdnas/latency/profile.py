"""What a latency measurement runs on: device, input shape, threads, runtime and repetitions.

A :class:`LatencyProfile` is a plain, validated value: building one checks every field and raises a
one-line :class:`~kdnas.errors.ConfigError` naming the field and the fix. It is hashable (frozen) and
turns into a ``dict`` for logs and result files (:meth:`LatencyProfile.to_dict`).

Runtimes are named in :data:`RUNTIMES`, which maps a runtime name to the *import path* of its runner
factory (``"module:attribute"``, see :func:`kdnas.latency.measure.resolve_runtime`). Nothing is imported
until a measurement asks for that runtime, so naming an optional runtime (ONNX Runtime) costs nothing
and importing this module has no side effects. To add a runtime, add one entry here (or call
:func:`register_runtime` from the code that needs it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from kdnas.errors import ConfigError

Device = Literal["cpu", "cuda"]

#: Runtime name -> ``"module:attribute"`` of its runner factory (resolved lazily at measurement time).
RUNTIMES: dict[str, str] = {
    "pytorch": "kdnas.latency.measure:pytorch_runner",
    "onnxruntime": "kdnas.deploy.onnx:onnxruntime_runner",
    "onnxruntime_int8": "kdnas.deploy.onnx:onnxruntime_int8_runner",
}

_DEVICES: tuple[str, ...] = ("cpu", "cuda")


def register_runtime(name: str, target: str) -> None:
    """Name a runtime: ``target`` is the ``"module:attribute"`` path of its runner factory.

    Raises:
        ConfigError: If ``name`` is empty or ``target`` is not of the form ``"module:attribute"``.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"runtime name must be a non-empty string, got {name!r}")
    module, _, attr = target.partition(":") if isinstance(target, str) else ("", "", "")
    if not module or not attr:
        raise ConfigError(
            f"runtime {name!r}: target must look like 'package.module:function', got {target!r}"
        )
    RUNTIMES[name] = target


@dataclass(frozen=True)
class LatencyProfile:
    """How to time a model's forward pass.

    Args:
        device: ``"cpu"`` or ``"cuda"`` (``"cuda"`` needs a GPU visible to torch).
        batch_size: Sequences per forward pass.
        seq_len: Tokens per sequence (every position attended).
        threads: CPU intra-op threads (``torch.set_num_threads``) while measuring; the previous value is
            restored afterwards.
        runtime: Name of the runtime executing the model, a key of :data:`RUNTIMES`.
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
        _check_int("batch_size", self.batch_size, minimum=1)
        _check_int("seq_len", self.seq_len, minimum=1)
        _check_int("threads", self.threads, minimum=1)
        _check_int("warmup", self.warmup, minimum=0)
        _check_int("repeats", self.repeats, minimum=1)
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


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"LatencyProfile.{name}={value!r} is invalid: use an integer >= {minimum}")
