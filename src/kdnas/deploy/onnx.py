"""ONNX export of a Hugging Face encoder, dynamic int8 quantisation, fidelity checks, ONNX Runtime latency.

The deployment path of a distilled student::

    export_onnx(model, out_dir)                       # out_dir/model.onnx        (fp32)
    export_onnx(model, out_dir, quantize_int8=True)   # + out_dir/model.int8.onnx (int8 weights)
    check_onnx(model, out_dir / "model.onnx", tokenizer)   # ONNX Runtime vs PyTorch on real sentences
    export_student(student_dir, out_dir)              # all of it for a ``train.py`` student directory

and, for the latency search, two runtimes named in :data:`kdnas.latency.profile.RUNTIMES`:
``LatencyProfile(runtime="onnxruntime")`` (fp32) and ``runtime="onnxruntime_int8"`` time the model
under ONNX Runtime (:func:`onnxruntime_runner`, :func:`onnxruntime_int8_runner`), so that
``search.py latency_budget.profile.runtime=onnxruntime`` optimises for the deployment runtime.

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
default**: on multilingual-e5-small (:data:`CHECK_TEXTS`) it lifts the worst sentence's mean-pooled cosine
to the PyTorch model from 0.983 (per tensor: below the 0.99 tolerance) to 0.995, at no measurable latency
cost (1 thread, seq 128, x86 with AVX512-VNNI; ``bench/onnx_runtime.py``). ``reduce_range`` (7-bit
weights) stays off: it only helps on x86 CPUs without VNNI, where U8S8 products can saturate.

**Tolerances** (:func:`check_onnx`, on :data:`CHECK_TEXTS`, 12 sentences in 8 languages, padded batch):

- fp32: ``max |onnx - torch| <= FP32_ATOL * max(1, max |torch|)`` over non-padding tokens
  (``FP32_ATOL = 1e-4``, relative to the output scale; padding positions are not compared). Measured:
  1.2e-6 on me5-small (output scale 1.06), 3e-7 to 2e-6 on its students and on random BERTs.
- int8: cosine between the ONNX and PyTorch mean-pooled embeddings ``>= INT8_MIN_COSINE = 0.99`` for
  every sentence. Measured (per channel): 0.9947 min / 0.9964 mean on me5-small, 0.998-0.9997 on
  teacher-initialised students. The element-wise difference of int8 outputs is large (0.05-0.25) and is
  reported, not checked.

**Runtimes.** The model is exported to a fresh temporary directory (removed on exit) and loaded in an
``InferenceSession`` with ``intra_op_num_threads=profile.threads``, ``inter_op_num_threads=1``, sequential
execution and every graph optimisation (``ORT_ENABLE_ALL``: constant folding, operator fusions);
``CPUExecutionProvider``, or ``CUDAExecutionProvider`` for ``profile.device="cuda"`` (inputs and output
bound on the GPU with IO binding). Export costs seconds once per measured model, on top of the timing:
on 2 shared cores, 18 s for me5-small (470 MB file) and 5-6 s for a 256-wide student (the 250k-token
embedding table dominates), plus 10-25 s of quantisation for int8.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from kdnas.errors import ConfigError
from kdnas.latency.profile import LatencyProfile

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

FP32_FILENAME = "model.onnx"
INT8_FILENAME = "model.int8.onnx"
INPUT_NAMES: tuple[str, str] = ("input_ids", "attention_mask")
OUTPUT_NAME = "last_hidden_state"
DEFAULT_OPSET = 17
MIN_OPSET = 14  # scaled_dot_product_attention and LayerNormalization need >= 14 / 17 (decomposed below 17)

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
_PROTOBUF_LIMIT = 2**31 - 1  # bytes: one ONNX file (no external data)
_FIRST_TOKEN_ID = 5  # ids below this are special tokens in the vocabularies we use
_POSITION_OFFSET = 2  # XLM-R's position ids start after padding_idx + 1: keep the traced length below it

Runner = Callable[[], None]


# ------------------------------------------------------------------------------------------------
# export


class _LastHiddenState(nn.Module):
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
    device; every submodule's training flag is restored afterwards. Files are written atomically (a
    temporary sibling, then ``os.replace``), so a crash never leaves a truncated model under the final name.

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
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ConfigError(f"export_onnx: opset={opset!r} is invalid: use an integer >= {MIN_OPSET} (e.g. 17)")
    if isinstance(max_length_hint, bool) or not isinstance(max_length_hint, int) or max_length_hint < 2:
        raise ConfigError(f"export_onnx: max_length_hint={max_length_hint!r} is invalid: use an integer >= 2")
    fp32_path, int8_path = onnx_paths(path)
    fp32_path.parent.mkdir(parents=True, exist_ok=True)
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

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(int8_path)
    try:
        # quantize_dynamic logs a "consider pre-processing" hint on the root logger
        with _quiet_root_logger():
            quantize_dynamic(
                fp32_path,
                tmp,
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                reduce_range=False,
            )
        os.replace(tmp, int8_path)
    finally:
        tmp.unlink(missing_ok=True)
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
    wrapper = _LastHiddenState(model).eval()
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    tmp = _tmp_sibling(target)
    try:
        model.eval()
        with torch.no_grad(), warnings.catch_warnings():
            # the legacy exporter's deprecation notice, and tracer warnings about shape checks in the
            # Hugging Face mask helpers that hold for any (ids, mask) pair of equal shapes
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=r"Exporting aten::index operator", category=UserWarning)
            torch.onnx.export(
                wrapper,
                (input_ids, attention_mask),
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
        os.replace(tmp, target)
    finally:
        for module, training in modes:
            module.training = training
        tmp.unlink(missing_ok=True)


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
    if isinstance(max_positions, int) and max_positions > _POSITION_OFFSET + 2:
        length = min(length, max_positions - _POSITION_OFFSET)
    low = _FIRST_TOKEN_ID if vocab_size > _FIRST_TOKEN_ID else 0
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(low, vocab_size, (2, length), generator=generator)  # (2, T)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, length // 2 :] = 0
    pad_id = getattr(config, "pad_token_id", None)
    if isinstance(pad_id, int) and 0 <= pad_id < vocab_size:
        input_ids[1, length // 2 :] = pad_id
    device = _module_device(model)
    return input_ids.to(device), attention_mask.to(device)


# ------------------------------------------------------------------------------------------------
# sessions and checks


def create_session(
    onnx_path: str | os.PathLike[str], threads: int = 1, device: str = "cpu"
) -> ort.InferenceSession:
    """An ``InferenceSession`` set up as for the latency measurements.

    ``intra_op_num_threads=threads``, ``inter_op_num_threads=1``, sequential execution, every graph
    optimisation (``ORT_ENABLE_ALL``), warnings of ONNX Runtime's own log off; ``CPUExecutionProvider``,
    or ``CUDAExecutionProvider`` (CPU as fallback for unsupported nodes) when ``device="cuda"``.

    Raises:
        ConfigError: ``device="cuda"`` but this ONNX Runtime build has no CUDA provider, or an unknown device.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(onnx_path), sess_options=options, providers=_providers(device))


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
    quantized = _is_quantized(onnx_path) if int8 is None else bool(int8)
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


def _check_inputs(tokenizer_or_inputs: Any, model: nn.Module) -> dict[str, np.ndarray]:
    if isinstance(tokenizer_or_inputs, Mapping):
        missing = [name for name in INPUT_NAMES if name not in tokenizer_or_inputs]
        if missing:
            raise ConfigError(f"check_onnx: the inputs lack {missing}: pass input_ids and attention_mask")
        raw = {name: tokenizer_or_inputs[name] for name in INPUT_NAMES}
    elif callable(tokenizer_or_inputs):
        max_positions = getattr(getattr(model, "config", None), "max_position_embeddings", 512)
        encoded = tokenizer_or_inputs(
            list(CHECK_TEXTS),
            padding=True,
            truncation=True,
            max_length=min(128, int(max_positions) - _POSITION_OFFSET),
            return_tensors="np",
        )
        raw = {name: encoded[name] for name in INPUT_NAMES}
    else:
        raise ConfigError(
            f"check_onnx: expected a tokenizer or a mapping of inputs, got {type(tokenizer_or_inputs).__name__}"
        )
    return {name: _to_int64(value) for name, value in raw.items()}


def _to_int64(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(value, dtype=np.int64))


def _torch_last_hidden(model: nn.Module, feed: Mapping[str, np.ndarray]) -> np.ndarray:
    device = _module_device(model)
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.inference_mode():
            hidden = _LastHiddenState(model)(
                *(torch.from_numpy(feed[name]).to(device) for name in INPUT_NAMES)
            )
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


def _is_quantized(onnx_path: str | os.PathLike[str]) -> bool:
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return any(node.op_type in _QUANTIZED_OPS for node in graph.node)


# ------------------------------------------------------------------------------------------------
# latency runtimes


@contextmanager
def onnxruntime_runner(
    model: nn.Module, profile: LatencyProfile, inputs: dict[str, torch.Tensor]
) -> Iterator[Runner]:
    """Runtime ``"onnxruntime"``: the fp32 ONNX export of ``model`` under ONNX Runtime.

    See :func:`create_session` for the session settings. The model is exported to a temporary directory
    that is removed on exit; the model itself is left as it was.
    """
    with _ort_runner(model, profile, inputs, int8=False) as run:
        yield run


@contextmanager
def onnxruntime_int8_runner(
    model: nn.Module, profile: LatencyProfile, inputs: dict[str, torch.Tensor]
) -> Iterator[Runner]:
    """Runtime ``"onnxruntime_int8"``: the dynamically quantised int8 export under ONNX Runtime.

    Dynamic int8 kernels are CPU kernels: on ``device="cuda"`` the quantised nodes fall back to the CPU.
    """
    with _ort_runner(model, profile, inputs, int8=True) as run:
        yield run


@contextmanager
def _ort_runner(
    model: nn.Module, profile: LatencyProfile, inputs: dict[str, torch.Tensor], *, int8: bool
) -> Iterator[Runner]:
    _providers(profile.device)  # fail before spending seconds on the export
    workdir = Path(tempfile.mkdtemp(prefix="kdnas-onnx-"))
    session: ort.InferenceSession | None = None
    try:
        path = export_onnx(model, workdir, quantize_int8=int8, max_length_hint=profile.seq_len)
        session = create_session(path, threads=profile.threads, device=profile.device)
        shutil.rmtree(workdir, ignore_errors=True)  # the session holds the model: free the disk now
        feed = {name: _to_int64(inputs[name]) for name in INPUT_NAMES}
        yield _run_fn(session, feed, profile.device)
    finally:
        del session
        shutil.rmtree(workdir, ignore_errors=True)


def _run_fn(session: ort.InferenceSession, feed: dict[str, np.ndarray], device: str) -> Runner:
    """One forward pass: numpy in, numpy out on CPU; inputs and output bound on the GPU on CUDA."""
    if device != "cuda":

        def run() -> None:
            session.run([OUTPUT_NAME], feed)

        return run
    device_id = torch.cuda.current_device()
    binding = session.io_binding()
    for name, array in feed.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", device_id))
    binding.bind_output(OUTPUT_NAME, "cuda", device_id)

    def run_cuda() -> None:
        session.run_with_iobinding(binding)  # returns once the CUDA stream is synchronised
        binding.synchronize_outputs()

    return run_cuda


def _providers(device: str) -> list[str]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ConfigError(
                "LatencyProfile.device='cuda' with an ONNX Runtime runtime, but this onnxruntime build has no "
                "CUDAExecutionProvider: install onnxruntime-gpu, or use device='cpu' or runtime='pytorch'"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ConfigError(f"ONNX Runtime: device={device!r} is not supported: use 'cpu' or 'cuda'")


# ------------------------------------------------------------------------------------------------
# a saved student -> deployable directory


def export_student(
    student_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    int8: bool = True,
    *,
    opset: int = DEFAULT_OPSET,
    per_channel: bool = True,
    strict: bool = False,
) -> dict[str, Any]:
    """Export a saved student (``train.py``'s ``student/``) to a deployable ONNX directory.

    ``out_dir`` receives ``model.onnx`` (and ``model.int8.onnx``), a copy of the tokenizer files
    (``tokenizer.save_pretrained``), ``config.json`` and, when present, ``kdnas_arch.yaml``; both exports
    are checked against PyTorch with :func:`check_onnx` on :data:`CHECK_TEXTS`, and the results are also
    written to ``out_dir/onnx_check.json``.

    Args:
        student_dir: A directory loadable with ``AutoModel`` / ``AutoTokenizer``.
        out_dir: Where to write (created; existing files of the same names are replaced).
        int8: Also write and check the int8 model.
        opset: ONNX opset.
        per_channel: Per-channel int8 weight scales.
        strict: Raise ``RuntimeError`` when a check fails (otherwise ``passed`` is ``False`` in the result).

    Returns:
        ``{"student_dir", "out_dir", "files": {"fp32", "int8"?}, "fp32": check, "int8": check?}`` with the
        :func:`check_onnx` dictionaries.

    Raises:
        ConfigError: ``student_dir`` is not a model directory.
    """
    from transformers import AutoModel, AutoTokenizer

    student_dir, out_dir = Path(student_dir), Path(out_dir)
    if not (student_dir / "config.json").is_file():
        raise ConfigError(
            f"export_student: {student_dir} is not a model directory (no config.json): pass the student/ "
            "directory written by train.py"
        )
    model = AutoModel.from_pretrained(student_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    for name in ("config.json", "kdnas_arch.yaml"):
        if (student_dir / name).is_file() and student_dir.resolve() != out_dir.resolve():
            shutil.copyfile(student_dir / name, out_dir / name)

    fp32_path, int8_path = onnx_paths(out_dir)
    export_onnx(model, fp32_path, opset=opset)
    result: dict[str, Any] = {
        "student_dir": str(student_dir),
        "out_dir": str(out_dir),
        "files": {"fp32": str(fp32_path)},
        "fp32": check_onnx(model, fp32_path, tokenizer, int8=False),
    }
    if int8:
        quantize_onnx(fp32_path, int8_path, per_channel=per_channel)
        result["files"]["int8"] = str(int8_path)
        result["int8"] = check_onnx(model, int8_path, tokenizer, int8=True)
    _write_json_atomic(out_dir / "onnx_check.json", result)
    failed = [kind for kind in ("fp32", "int8") if kind in result and not result[kind]["passed"]]
    if strict and failed:
        raise RuntimeError(
            f"export_student: ONNX check failed for {', '.join(failed)}: "
            + "; ".join(
                f"{k}: {result[k]['criterion']}, got cosine_min={result[k]['cosine_min']:.5f}, "
                f"max_abs_diff={result[k]['max_abs_diff']:.3g}"
                for k in failed
            )
        )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kdnas.deploy.onnx STUDENT_DIR OUT_DIR [--no-int8]``: :func:`export_student`."""
    parser = argparse.ArgumentParser(
        description="Export a saved student to ONNX (fp32 and int8) and check it."
    )
    parser.add_argument("student_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 model")
    parser.add_argument("--per-tensor", action="store_true", help="per-tensor int8 weight scales")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    args = parser.parse_args(argv)
    try:
        result = export_student(
            args.student_dir,
            args.out_dir,
            int8=not args.no_int8,
            opset=args.opset,
            per_channel=not args.per_tensor,
        )
    except ConfigError as err:
        print(f"error: {err}")
        return 2
    print(json.dumps(result, indent=2))
    return 0 if all(result[k]["passed"] for k in ("fp32", "int8") if k in result) else 1


# ------------------------------------------------------------------------------------------------
# helpers


def _tmp_sibling(path: Path) -> Path:
    """A temporary name in ``path``'s directory (same file system: ``os.replace`` is atomic)."""
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = _tmp_sibling(path)
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


def _module_device(model: nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
