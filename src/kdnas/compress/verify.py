"""The check of a pruned model directory against its original: same ids, same outputs, on in-vocabulary texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

#: the largest difference of last hidden states (any real token) a pruned model may show
MAX_ABS_DIFF = 1e-5


def verify_pruned(
    original_dir: Path,
    pruned_dir: Path,
    texts: list[str],
    kept: list[int],
    prefix: str = "",
    original_tokenizer: PreTrainedTokenizerBase | None = None,
) -> dict[str, Any]:
    """Check the pruned directory against the original on in-vocabulary ``texts``.

    Both models and the pruned tokenizer are loaded afresh from disk (the original tokenizer too, unless given).

    Returns:
        ``texts``, ``same_ids`` (fraction whose new ids map back to the original ids), ``max_abs_diff`` of the
        last hidden states over every real token, and ``ok`` (all ids equal and diff <= 1e-5).
    """
    tok_a = original_tokenizer if original_tokenizer is not None else AutoTokenizer.from_pretrained(original_dir)
    tok_b = AutoTokenizer.from_pretrained(pruned_dir)
    model_a, model_b = AutoModel.from_pretrained(original_dir).eval(), AutoModel.from_pretrained(pruned_dir).eval()
    full = [prefix + t for t in texts]
    kept_t = torch.as_tensor(kept, dtype=torch.long)
    same = 0
    max_diff = 0.0
    with torch.inference_mode():
        for start in range(0, len(full), 16):
            batch = full[start : start + 16]
            a = tok_a(batch, padding=True, return_tensors="pt")
            b = tok_b(batch, padding=True, return_tensors="pt")
            mask = a["attention_mask"].bool()
            if a["input_ids"].shape == b["input_ids"].shape:
                mapped = kept_t[b["input_ids"]]
                same += int(((mapped == a["input_ids"]) | ~mask).all(dim=1).sum())
                ha = model_a(**a).last_hidden_state
                hb = model_b(**b).last_hidden_state
                max_diff = max(max_diff, float((ha - hb).abs()[mask].max()))
            else:
                max_diff = float("inf")
    fraction = same / len(full) if full else 1.0
    return {"texts": len(full), "same_ids": fraction, "max_abs_diff": max_diff, "ok": fraction == 1.0 and max_diff <= MAX_ABS_DIFF}
