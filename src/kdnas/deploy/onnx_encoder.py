"""An exported encoder (``model.onnx`` / ``model.int8.onnx``) behind the PyTorch encoder interface.

:class:`OnnxEncoder` is a ``torch.nn.Module`` whose ``forward(input_ids, attention_mask)`` runs an ONNX
Runtime session (:func:`kdnas.latency.runtimes.onnxruntime.create_session`) and returns a
``BaseModelOutput`` with a float32 ``last_hidden_state``, so :func:`kdnas.evaluate.embed.embed_texts` and
:meth:`kdnas.evaluate.suite.EvalSuite.run` score an ONNX model exactly as they score a PyTorch one.

It has one empty float32 CPU parameter, so that ``next(model.parameters())`` tells the embedding code its
device and dtype: evaluate it with ``eval.device=cpu`` and ``eval.dtype=float32`` (anything else would make
:func:`~kdnas.evaluate.embed.prepared_model` try to convert a copy; it passes the module through instead,
see :attr:`OnnxEncoder.convertible`). The computation's precision is the graph's (fp32 or dynamic int8).
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from kdnas.latency.runtimes.onnxruntime import create_session
from kdnas.models.onnx import OUTPUT_NAME, onnx_feed

__all__ = ["OnnxEncoder"]


class OnnxEncoder(nn.Module):
    """``forward(input_ids, attention_mask) -> BaseModelOutput(last_hidden_state=float32 (B, T, H))``.

    Args:
        onnx_path: an exported encoder (see :func:`kdnas.models.onnx.export_onnx`).
        config: the PyTorch model's config (copied: ``hidden_size``, ``vocab_size``... are read from it).
        threads: ONNX Runtime intra-op threads.
        device: ``"cpu"`` or ``"cuda"`` (the session's execution provider; outputs come back on the CPU).
    """

    #: not movable / convertible with ``.to()``: :func:`~kdnas.evaluate.embed.prepared_model` passes it through
    convertible = False

    def __init__(
        self, onnx_path: str | os.PathLike[str], config: Any, threads: int = 1, device: str = "cpu"
    ) -> None:
        super().__init__()
        self.onnx_path = str(onnx_path)
        self.config = copy.deepcopy(config)
        self.session = create_session(onnx_path, threads=threads, device=device)
        # tells embed_texts / prepared_model the inputs' device and the output dtype; never used in forward
        self._dtype_anchor = nn.Parameter(torch.zeros(0, dtype=torch.float32), requires_grad=False)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any
    ) -> BaseModelOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        feed = onnx_feed({"input_ids": input_ids, "attention_mask": attention_mask})
        hidden = self.session.run([OUTPUT_NAME], feed)[0]  # (B, T, H)
        return BaseModelOutput(last_hidden_state=torch.from_numpy(np.asarray(hidden, dtype=np.float32)))

    def __deepcopy__(self, memo: dict[int, Any]) -> OnnxEncoder:
        """A new session on the same file (an ``InferenceSession`` cannot be copied)."""
        threads = self.session.get_session_options().intra_op_num_threads
        device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        return OnnxEncoder(self.onnx_path, self.config, threads=threads, device=device)
