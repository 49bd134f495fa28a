"""Fidelity of an ONNX export: ONNX Runtime's output against PyTorch's, on real padded sentences.

**Tolerances** (:func:`check_onnx`, on :data:`CHECK_TEXTS`, 12 sentences in 8 languages, padded batch):

- fp32: ``max |onnx - torch| <= FP32_ATOL * max(1, max |torch|)`` over non-padding tokens
  (``FP32_ATOL = 1e-4``, relative to the output scale; padding positions are not compared). Measured:
  1.2e-6 on me5-small (output scale 1.06), 3e-7 to 2e-6 on its students and on random BERTs.
- int8: cosine between the ONNX and PyTorch mean-pooled embeddings ``>= INT8_MIN_COSINE = 0.99`` for
  every sentence. Measured (per channel, see :mod:`kdnas.models.onnx`): 0.9947 min / 0.9964 mean on
  me5-small, 0.998-0.9997 on teacher-initialised students. The element-wise difference of int8 outputs is
  large (0.05-0.25) and is reported, not checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from kdnas.errors import ConfigError
from kdnas.latency.runtimes.onnxruntime import create_session
from kdnas.models.onnx import INPUT_NAMES, OUTPUT_NAME, POSITION_OFFSET, LastHiddenState, onnx_feed
from kdnas.utils.torch_context import module_device

__all__ = ["CHECK_TEXTS", "FP32_ATOL", "INT8_MIN_COSINE", "check_onnx", "is_quantized"]

#: fp32 tolerance: max |onnx - torch| over non-padding tokens <= FP32_ATOL * max(1, max |torch|).
FP32_ATOL = 1e-4
#: int8 tolerance: cosine of mean-pooled embeddings (ONNX int8 vs PyTorch) >= this, for every sentence.
INT8_MIN_COSINE = 0.99

#: Sentences of different lengths and scripts for :func:`check_onnx` (batch padded to the longest).
CHECK_TEXTS: tuple[str, ...] = (
    "query: how much protein should a female eat",
    "Le chat dort sur le canapé depuis ce matin.",
    "Der Zug nach Berlin hat heute zwanzig Minuten Verspätung, weil ein Signal ausgefallen ist.",
    "南瓜的家常做法",
    "¿Dónde está la biblioteca más cercana?",
    "The file could not be saved because the disk is full. Free some space and try again.",
    "Запустить программу от имени администратора",
    "ok",
    "Impossibile aprire il file: permesso negato.",
    "このファイルを削除してもよろしいですか？",
    "A much longer sentence about the weather in the mountains, the rivers that cross the valleys, "
    "the villages built on their banks, and the people who have lived there for many generations.",
    "Open",
)

_QUANTIZED_OPS = frozenset(
    {"DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeMatMul", "ConvInteger", "QAttention", "QGemm"}
)


def check_onnx(
    model: nn.Module,
    onnx_path: str | os.PathLike[str],
    tokenizer_or_inputs: Any,
    atol: float = FP32_ATOL,
    *,
    min_cosine: float = INT8_MIN_COSINE,
    int8: bool | None = None,
) -> dict[str, Any]:
    """Compare ONNX Runtime's output to PyTorch's on real, padded inputs.

    Args:
        model: The PyTorch encoder that was exported (run in eval mode, training flags restored).
        onnx_path: The exported file.
        tokenizer_or_inputs: A tokenizer (called on :data:`CHECK_TEXTS`, padded to the longest, at most
            128 tokens) or a mapping with ``input_ids`` and ``attention_mask`` (tensors or arrays, (B, T)).
        atol: fp32 tolerance relative to the output scale: pass when
            ``max_abs_diff <= atol * max(1, max |torch|)`` (non-padding tokens only).
        min_cosine: int8 tolerance: pass when every sentence's mean-pooled embedding has cosine
            ``>= min_cosine`` to PyTorch's.
        int8: Which tolerance applies; ``None`` detects quantised operators in the graph.

    Returns:
        ``onnx_path``, ``int8``, ``n_sequences``, ``shape`` (B, T), ``max_abs_diff`` and ``mean_abs_diff``
        (non-padding tokens), ``output_scale`` (max |torch|), ``rel_max_abs_diff`` (max_abs_diff /
        max(1, output_scale)), ``cosine_min`` / ``cosine_mean`` (mean-pooled embeddings), ``criterion``
        (the rule applied, as text), ``passed``.
    """
    feed = _check_inputs(tokenizer_or_inputs, model)
    reference = _torch_last_hidden(model, feed)  # (B, T, H)
    session = create_session(onnx_path, threads=max(1, torch.get_num_threads()))
    output = session.run([OUTPUT_NAME], feed)[0].astype(np.float32)  # (B, T, H)
    if output.shape != reference.shape:
        raise RuntimeError(f"check_onnx: ONNX output shape {output.shape} != PyTorch's {reference.shape}")
    valid = feed["attention_mask"].astype(bool)  # (B, T)
    diff = np.abs(output - reference)[valid]  # (N, H)
    scale = float(np.abs(reference[valid]).max())
    max_abs = float(diff.max())
    cosines = _cosine(_mean_pool(output, valid), _mean_pool(reference, valid))  # (B,)
    quantized = is_quantized(onnx_path) if int8 is None else bool(int8)
    if quantized:
        passed = bool(cosines.min() >= min_cosine)
        criterion = f"mean-pooled cosine >= {min_cosine}"
    else:
        passed = bool(max_abs <= atol * max(1.0, scale))
        criterion = f"max_abs_diff <= {atol} * max(1, output_scale)"
    return {
        "onnx_path": str(onnx_path),
        "int8": quantized,
        "n_sequences": int(valid.shape[0]),
        "shape": [int(s) for s in valid.shape],
        "max_abs_diff": max_abs,
        "mean_abs_diff": float(diff.mean()),
        "output_scale": scale,
        "rel_max_abs_diff": max_abs / max(1.0, scale),
        "cosine_min": float(cosines.min()),
        "cosine_mean": float(cosines.mean()),
        "criterion": criterion,
        "passed": passed,
    }


def is_quantized(onnx_path: str | os.PathLike[str]) -> bool:
    """Whether the graph holds dynamic-quantisation operators (an int8 export)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return any(node.op_type in _QUANTIZED_OPS for node in graph.node)


def _check_inputs(tokenizer_or_inputs: Any, model: nn.Module) -> dict[str, np.ndarray]:
    if isinstance(tokenizer_or_inputs, Mapping):
        missing = [name for name in INPUT_NAMES if name not in tokenizer_or_inputs]
        if missing:
            raise ConfigError(f"check_onnx: the inputs lack {missing}: pass input_ids and attention_mask")
        return onnx_feed(tokenizer_or_inputs)
    if callable(tokenizer_or_inputs):
        max_positions = getattr(getattr(model, "config", None), "max_position_embeddings", 512)
        encoded = tokenizer_or_inputs(
            list(CHECK_TEXTS),
            padding=True,
            truncation=True,
            max_length=min(128, int(max_positions) - POSITION_OFFSET),
            return_tensors="np",
        )
        return onnx_feed(encoded)
    raise ConfigError(
        f"check_onnx: expected a tokenizer or a mapping of inputs, got {type(tokenizer_or_inputs).__name__}"
    )


def _torch_last_hidden(model: nn.Module, feed: Mapping[str, np.ndarray]) -> np.ndarray:
    device = module_device(model)
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.inference_mode():
            hidden = LastHiddenState(model)(*(torch.from_numpy(feed[name]).to(device) for name in INPUT_NAMES))
        return hidden.float().cpu().numpy()
    finally:
        for module, training in modes:
            module.training = training


def _mean_pool(hidden: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(B, T, H), (B, T) bool -> (B, H): mean over non-padding tokens."""
    weights = valid[..., None].astype(np.float64)
    return (hidden.astype(np.float64) * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of (B, H) arrays."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)
