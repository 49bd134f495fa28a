"""Deployment of distilled students: ONNX export, int8 quantisation, fidelity checks, ONNX Runtime latency.

Everything lives in :mod:`kdnas.deploy.onnx`; importing this package imports neither ``onnx`` nor
``onnxruntime`` (the latency registry names the runners by import path, so they load on first use).
"""

from __future__ import annotations

__all__ = [
    "CHECK_TEXTS",
    "FP32_ATOL",
    "FP32_FILENAME",
    "INT8_FILENAME",
    "INT8_MIN_COSINE",
    "check_onnx",
    "create_session",
    "export_onnx",
    "export_student",
    "onnx_paths",
    "onnxruntime_int8_runner",
    "onnxruntime_runner",
    "quantize_onnx",
]

_ONNX_NAMES = frozenset(__all__)


def __getattr__(name: str) -> object:
    """Lazy re-export of :mod:`kdnas.deploy.onnx` (keeps ``import kdnas.deploy`` light)."""
    if name in _ONNX_NAMES:
        from kdnas.deploy import onnx as _onnx

        return getattr(_onnx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
