"""Runtimes ``"onnxruntime"`` (fp32) and ``"onnxruntime_int8"``: the model's ONNX export under ONNX Runtime.

``search.py latency_budget.profile.runtime=onnxruntime`` makes the search optimise for the deployment
runtime. The model is exported (:func:`kdnas.models.onnx.export_onnx`) to a fresh temporary directory
(removed on exit) and loaded in an ``InferenceSession`` (:func:`create_session`) with
``intra_op_num_threads=profile.threads``, ``inter_op_num_threads=1``, sequential execution and every graph
optimisation (``ORT_ENABLE_ALL``: constant folding, operator fusions); ``CPUExecutionProvider``, or
``CUDAExecutionProvider`` for ``profile.device="cuda"`` (inputs and output bound on the GPU with IO
binding). Export costs seconds once per measured model, on top of the timing: on 2 shared cores, 18 s for
me5-small (470 MB file) and 5-6 s for a 256-wide student (the 250k-token embedding table dominates), plus
10-25 s of quantisation for int8.

``onnxruntime`` is imported on first use, so importing :mod:`kdnas.latency` stays light.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from kdnas.errors import ConfigError
from kdnas.latency.runtimes.base import Runner
from kdnas.models.onnx import OUTPUT_NAME, export_onnx, onnx_feed

if TYPE_CHECKING:
    import onnxruntime as ort

    from kdnas.latency.profile import LatencyProfile

__all__ = ["create_session", "onnxruntime_int8_runner", "onnxruntime_runner"]


def create_session(
    onnx_path: str | os.PathLike[str], threads: int = 1, device: str = "cpu"
) -> ort.InferenceSession:
    """An ``InferenceSession`` set up as for the latency measurements.

    ``intra_op_num_threads=threads``, ``inter_op_num_threads=1``, sequential execution, every graph
    optimisation (``ORT_ENABLE_ALL``), warnings of ONNX Runtime's own log off; ``CPUExecutionProvider``,
    or ``CUDAExecutionProvider`` (CPU as fallback for unsupported nodes) when ``device="cuda"``.

    Raises:
        ConfigError: ``device="cuda"`` but this ONNX Runtime build has no CUDA provider, an unknown device,
            or no ``onnxruntime`` package.
    """
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers(device))


def providers(device: str) -> list[str]:
    """ONNX Runtime's execution providers for ``device``, in order of preference.

    Raises:
        ConfigError: ``device="cuda"`` without a CUDA provider in this build, or an unknown device.
    """
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in _onnxruntime().get_available_providers():
            raise ConfigError(
                "LatencyProfile.device='cuda' with an ONNX Runtime runtime, but this onnxruntime build has no "
                "CUDAExecutionProvider: install onnxruntime-gpu, or use device='cpu' or runtime='pytorch'"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ConfigError(f"ONNX Runtime: device={device!r} is not supported: use 'cpu' or 'cuda'")


@contextmanager
def onnxruntime_runner(
    model: nn.Module, profile: LatencyProfile, batches: Sequence[dict[str, torch.Tensor]]
) -> Iterator[Runner]:
    """Runtime ``"onnxruntime"``: the fp32 ONNX export of ``model`` under ONNX Runtime.

    See :func:`create_session` for the session settings. The model is exported to a temporary directory
    that is removed on exit; the model itself is left as it was.
    """
    with _ort_runner(model, profile, batches, int8=False) as run:
        yield run


@contextmanager
def onnxruntime_int8_runner(
    model: nn.Module, profile: LatencyProfile, batches: Sequence[dict[str, torch.Tensor]]
) -> Iterator[Runner]:
    """Runtime ``"onnxruntime_int8"``: the dynamically quantised int8 export under ONNX Runtime.

    Dynamic int8 kernels are CPU kernels: on ``device="cuda"`` the quantised nodes fall back to the CPU.
    """
    with _ort_runner(model, profile, batches, int8=True) as run:
        yield run


@contextmanager
def _ort_runner(
    model: nn.Module, profile: LatencyProfile, batches: Sequence[dict[str, torch.Tensor]], *, int8: bool
) -> Iterator[Runner]:
    providers(profile.device)  # fail before spending seconds on the export
    workdir = Path(tempfile.mkdtemp(prefix="kdnas-onnx-"))
    session: ort.InferenceSession | None = None
    try:
        path = export_onnx(model, workdir, quantize_int8=int8, max_length_hint=max(2, profile.tokens_per_sequence))
        session = create_session(path, threads=profile.threads, device=profile.device)
        shutil.rmtree(workdir, ignore_errors=True)  # the session holds the model: free the disk now
        yield _run_fn(session, [onnx_feed(b) for b in batches], profile.device)
    finally:
        del session
        shutil.rmtree(workdir, ignore_errors=True)


def _run_fn(session: ort.InferenceSession, feeds: list[dict[str, np.ndarray]], device: str) -> Runner:
    """One forward pass on ``feeds[i]``: numpy in, numpy out on CPU; inputs and output bound on the GPU on
    CUDA (one IO binding per batch, made before timing)."""
    if device != "cuda":

        def run(i: int) -> None:
            session.run([OUTPUT_NAME], feeds[i % len(feeds)])

        return run
    ort = _onnxruntime()
    device_id = torch.cuda.current_device()
    bindings = []
    for feed in feeds:
        binding = session.io_binding()
        for name, array in feed.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", device_id))
        binding.bind_output(OUTPUT_NAME, "cuda", device_id)
        bindings.append(binding)

    def run_cuda(i: int) -> None:
        binding = bindings[i % len(bindings)]
        session.run_with_iobinding(binding)  # returns once the CUDA stream is synchronised
        binding.synchronize_outputs()

    return run_cuda


def _onnxruntime() -> ModuleType:
    """``import onnxruntime``, or a :class:`ConfigError` saying what to install."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ConfigError(
            f"the ONNX Runtime runtimes need the onnxruntime package, which failed to import: {err}"
        ) from err
    return onnxruntime
