"""The runtimes a latency measurement can execute a model with: name -> runner factory (:mod:`.base`).

May import kdnas.errors, kdnas.utils and kdnas.models; optional packages (onnxruntime) only on first use.

To add a runtime, write a runner factory in a module of this package and name it in :data:`RUNTIMES`.
"""

from __future__ import annotations

from kdnas.errors import ConfigError
from kdnas.latency.runtimes.base import Runner, RuntimeFactory
from kdnas.latency.runtimes.onnxruntime import onnxruntime_int8_runner, onnxruntime_runner
from kdnas.latency.runtimes.pytorch import pytorch_runner

__all__ = ["RUNTIMES", "Runner", "RuntimeFactory", "resolve_runtime"]

#: Runtime name (``LatencyProfile.runtime``) -> its runner factory.
RUNTIMES: dict[str, RuntimeFactory] = {
    "pytorch": pytorch_runner,
    "onnxruntime": onnxruntime_runner,
    "onnxruntime_int8": onnxruntime_int8_runner,
}


def resolve_runtime(name: str) -> RuntimeFactory:
    """The runner factory of runtime ``name``.

    Raises:
        ConfigError: If the runtime is unknown.
    """
    if name not in RUNTIMES:
        raise ConfigError(f"latency runtime {name!r} is unknown: use one of {', '.join(sorted(RUNTIMES))}")
    return RUNTIMES[name]
