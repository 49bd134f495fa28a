"""The model in another format: a Hugging Face encoder exported to ONNX, and its dynamic int8 quantisation.

::

    export_onnx(model, out_dir)                       # out_dir/model.onnx        (fp32)
    export_onnx(model, out_dir, quantize_int8=True)   # + out_dir/model.int8.onnx (int8 weights)

Running the files is :mod:`kdnas.latency.runtimes.onnxruntime`'s business, checking them against PyTorch
:mod:`kdnas.deploy.verify`'s.

**Graph.** Inputs ``input_ids`` and ``attention_mask`` (int64, ``(batch, sequence)``), output
``last_hidden_state`` (float32, ``(batch, sequence, hidden)``); both axes are dynamic. Pooling is the
caller's business (mean pooling over the mask for e5-style sentence embeddings).

**Exporter.** torch 2.13's ``torch.onnx.export`` defaults to the dynamo (``torch.export``) exporter, which
needs the ``onnxscript`` package (not a dependency here). We use the TorchScript exporter
(``dynamo=False``): still shipped (deprecated) in torch 2.13, offline, and exact for BERT / XLM-R
(max abs difference ~1e-6 on real inputs) with ``dynamic_axes``. It traces the model once on a padded
batch of 2 x ``max_length_hint`` tokens; the tracer warnings it emits for Hugging Face's mask helpers are
about shape checks that hold for every input whose mask has the ids' shape, and are silenced. The traced
graph always applies the attention mask (PyTorch skips an all-ones mask), which is the deployed behaviour.
Models of 2 GB or more of weights (protobuf's limit) are refused.

**int8.** :func:`quantize_onnx` applies ONNX Runtime's *dynamic* quantisation (``quantize_dynamic``):
weights of every MatMul with a constant weight and the embedding tables (Gather) are stored as signed int8
(``QuantType.QInt8``, symmetric); activations are quantised to uint8 on the fly, per tensor, at every
call; attention score products stay fp32. ``per_channel`` (one scale per output column) is **on by
default**: on multilingual-e5-small (:data:`kdnas.deploy.verify.CHECK_TEXTS`) it lifts the worst
sentence's mean-pooled cosine to the PyTorch model from 0.983 (per tensor: below the 0.99 tolerance) to
0.995, at no measurable latency cost (1 thread, seq 128, x86 with AVX512-VNNI; ``bench/onnx_runtime.py``).
``reduce_range`` (7-bit weights) stays off: it only helps on x86 CPUs without VNNI, where U8S8 products can
saturate.

Importing this module imports neither ``onnx`` nor ``onnxruntime`` (quantisation imports the latter).
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kdnas.errors import ConfigError
from kdnas.models.encoder import FIRST_REGULAR_TOKEN_ID
from kdnas.utils.checks import check_int
from kdnas.utils.io import atomic_write
from kdnas.utils.torch_context import module_device

__all__ = [
    "DEFAULT_OPSET",
    "FP32_FILENAME",
    "INPUT_NAMES",
    "INT8_FILENAME",
    "OUTPUT_NAME",
    "POSITION_OFFSET",
    "LastHiddenState",
    "export_onnx",
    "onnx_feed",
    "onnx_paths",
    "quantize_onnx",
]

FP32_FILENAME = "model.onnx"
INT8_FILENAME = "model.int8.onnx"
INPUT_NAMES: tuple[str, str] = ("input_ids", "attention_mask")
OUTPUT_NAME = "last_hidden_state"
DEFAULT_OPSET = 17
MIN_OPSET = 14  # scaled_dot_product_attention and LayerNormalization need >= 14 / 17 (decomposed below 17)
#: XLM-R's position ids start after padding_idx + 1: keep traced / checked lengths this far below the maximum
POSITION_OFFSET = 2

_PROTOBUF_LIMIT = 2**31 - 1  # bytes: one ONNX file (no external data)


class LastHiddenState(nn.Module):
    """``model(input_ids, attention_mask) -> last_hidden_state``: the exported signature."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        hidden = getattr(out, "last_hidden_state", None)
        return hidden if hidden is not None else out[0]  # (B, T, H)


def onnx_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The fp32 and int8 file names for ``path``.

    A path ending in ``.onnx`` is the fp32 file and the int8 file sits next to it (``x.onnx`` ->
    ``x.int8.onnx``); any other path is a directory holding :data:`FP32_FILENAME` and
    :data:`INT8_FILENAME`.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        return path, path.with_name(f"{path.stem}.int8.onnx")
    return path / FP32_FILENAME, path / INT8_FILENAME


def onnx_feed(inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The graph's inputs (:data:`INPUT_NAMES`) of ``inputs`` (tensors or arrays) as contiguous int64 arrays."""
    feed = {}
    for name in INPUT_NAMES:
        value = inputs[name]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        feed[name] = np.ascontiguousarray(np.asarray(value, dtype=np.int64))
    return feed


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    opset: int = DEFAULT_OPSET,
    quantize_int8: bool = False,
    max_length_hint: int = 128,
    *,
    per_channel: bool = True,
) -> Path:
    """Export a Hugging Face encoder to ONNX (and optionally quantise it to int8).

    The graph takes ``input_ids`` and ``attention_mask`` (int64, dynamic batch and sequence axes) and
    returns ``last_hidden_state``. The model is traced in eval mode under ``torch.no_grad()`` on its own
    device; every submodule's training flag is restored afterwards. Files are written atomically
    (:func:`kdnas.utils.io.atomic_write`), so a crash never leaves a truncated model under the final name.

    Args:
        model: A ``BertModel`` / ``XLMRobertaModel``-like encoder called as
            ``model(input_ids=..., attention_mask=...)``.
        path: A directory (receives ``model.onnx`` / ``model.int8.onnx``) or the fp32 ``.onnx`` file name
            (see :func:`onnx_paths`).
        opset: ONNX opset (>= 14; 17 has a fused LayerNormalization).
        quantize_int8: Also write the dynamically quantised int8 model (see :func:`quantize_onnx`); the
            fp32 file is kept next to it.
        max_length_hint: Sequence length of the example batch that is traced (clipped to the model's
            positions); any length works at run time.
        per_channel: Per-output-channel int8 weight scales (only with ``quantize_int8``).

    Returns:
        The int8 file when ``quantize_int8``, else the fp32 file.

    Raises:
        ConfigError: Invalid ``opset`` / ``max_length_hint``, or weights too large for one ONNX file.
    """
    check_int("export_onnx: opset", opset, minimum=MIN_OPSET)
    check_int("export_onnx: max_length_hint", max_length_hint, minimum=2)
    fp32_path, int8_path = onnx_paths(path)
    _export_fp32(model, fp32_path, opset, max_length_hint)
    if not quantize_int8:
        return fp32_path
    return quantize_onnx(fp32_path, int8_path, per_channel=per_channel)


def quantize_onnx(
    fp32_path: str | os.PathLike[str], int8_path: str | os.PathLike[str], *, per_channel: bool = True
) -> Path:
    """Dynamic int8 quantisation of an exported encoder (ONNX Runtime's ``quantize_dynamic``).

    Weights of MatMuls with constant weights and the embedding tables become ``QInt8`` (symmetric; one
    scale per output channel when ``per_channel``, else per tensor); activations are quantised to uint8
    at run time. ``reduce_range`` is off (needed only on x86 CPUs without VNNI). Written atomically.

    Returns:
        ``int8_path``.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path = Path(int8_path)
    # quantize_dynamic logs a "consider pre-processing" hint on the root logger
    with _quiet_root_logger(), _scratch_file(int8_path) as scratch:
        quantize_dynamic(
            Path(fp32_path),
            scratch,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            reduce_range=False,
        )
    return int8_path


def _export_fp32(model: nn.Module, target: Path, opset: int, max_length_hint: int) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"export_onnx: expected a torch.nn.Module, got {type(model).__name__}")
    size = sum(t.numel() * t.element_size() for t in itertools.chain(model.parameters(), model.buffers()))
    if size >= _PROTOBUF_LIMIT:
        raise ConfigError(
            f"export_onnx: {type(model).__name__} holds {size / 2**30:.1f} GiB of weights; one ONNX file is "
            "limited to 2 GiB: export a smaller model"
        )
    input_ids, attention_mask = _example_inputs(model, max_length_hint)
    modes = [(m, m.training) for m in model.modules()]  # before any .eval()
    wrapper = LastHiddenState(model).eval()
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    try:
        model.eval()
        with torch.no_grad(), warnings.catch_warnings(), _scratch_file(target) as scratch:
            # the legacy exporter's deprecation notice, and tracer warnings about shape checks in the
            # Hugging Face mask helpers that hold for any (ids, mask) pair of equal shapes
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=r"Exporting aten::index operator", category=UserWarning)
            torch.onnx.export(
                wrapper,
                (input_ids, attention_mask),
                scratch,
                dynamo=False,
                opset_version=opset,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
    finally:
        for module, training in modes:
            module.training = training


def _example_inputs(model: nn.Module, max_length_hint: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of 2 x T token ids with the second row half padded (so the masking path is traced)."""
    config = getattr(model, "config", None)
    vocab_size = getattr(config, "vocab_size", None)
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ConfigError(
            f"export_onnx: {type(model).__name__} has no config.vocab_size: export an HF encoder"
        )
    length = max_length_hint
    max_positions = getattr(config, "max_position_embeddings", None)
    if isinstance(max_positions, int) and max_positions > POSITION_OFFSET + 2:
        length = min(length, max_positions - POSITION_OFFSET)
    low = FIRST_REGULAR_TOKEN_ID if vocab_size > FIRST_REGULAR_TOKEN_ID else 0
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(low, vocab_size, (2, length), generator=generator)  # (2, T)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, length // 2 :] = 0
    pad_id = getattr(config, "pad_token_id", None)
    if isinstance(pad_id, int) and 0 <= pad_id < vocab_size:
        input_ids[1, length // 2 :] = pad_id
    device = module_device(model)
    return input_ids.to(device), attention_mask.to(device)


@contextmanager
def _scratch_file(target: Path) -> Iterator[Path]:
    """A path for a writer that needs one (the exporter, ``quantize_dynamic``); copied atomically to ``target``.

    The file lives in a private temporary directory beside ``target`` (same disk); once the block succeeds
    it is copied to ``target`` with :func:`kdnas.utils.io.atomic_write`. On error ``target`` is left as it
    was. The directory is removed either way.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as scratch:
        path = Path(scratch) / target.name
        yield path
        with path.open("rb") as source, atomic_write(target, binary=True) as handle:
            shutil.copyfileobj(source, handle)


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Drop records below ERROR sent to the root logger (``logging.warning(...)`` calls) in the block."""

    def below_error(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    root = logging.getLogger()
    root.addFilter(below_error)
    try:
        yield
    finally:
        root.removeFilter(below_error)
