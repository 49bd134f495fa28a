"""The bundle's model card: ``README.md`` in Hugging Face's model-card format (YAML front matter, then
markdown): what the student is, how to load it, its evaluation, its forms, and its latency card."""

from __future__ import annotations

from typing import Any

import yaml
from transformers import PretrainedConfig

from kdnas.models.teacher import Teacher

#: hub ids of the embedded teachers (the model card's ``base_model``)
HUB_IDS = {"me5_small": "intfloat/multilingual-e5-small", "minilm_l6": "sentence-transformers/all-MiniLM-L6-v2"}


def _mb(n: int | float | None) -> str:
    return "-" if not n else f"{n / 1e6:.1f} MB"


def _ms(side: dict[str, Any]) -> str:
    lo, hi = side["median_ms_ci95"]
    return f"{side['median_ms']:.2f} ms [{lo:.2f}, {hi:.2f}]"


def front_matter(teacher: Teacher, report: dict[str, Any] | None) -> dict[str, Any]:
    """The card's YAML header: languages, library, base model, tags."""
    languages = sorted({lang.split("_")[0] for lang in (report or {}).get("suite", {}).get("languages", [])})
    meta: dict[str, Any] = {}
    if languages:
        meta["language"] = ["en", *[lang for lang in languages if lang != "en"]]
    meta.update({
        "library_name": "sentence-transformers",
        "pipeline_tag": "sentence-similarity",
        "base_model": HUB_IDS.get(teacher.name, teacher.source),
        "tags": ["sentence-transformers", "feature-extraction", "sentence-similarity", "knowledge-distillation",
                 "kdnas", "onnx"],
    })
    return meta


def latency_section(card: dict[str, Any]) -> list[str]:
    """The latency card as markdown: machine, settings, timings with intervals, compute floor, verdict."""
    m, p = card["machine"], card["profile"]
    lines = ["## Latency card", "",
             f"Measured on {m['cpu']} ({m['usable_cores']} of {m['cores']} cores usable; {', '.join(m['isa']) or 'no'} "
             f"extensions; {m['memory_gib']} GiB; {m['os']}), torch {m['torch']}, onnxruntime {m['onnxruntime']}, "
             f"transformers {m['transformers']}. Runtime {p['runtime']} on {p['device']}, {p['threads']} thread(s), "
             f"batch {p['batch_size']}; student and teacher interleaved in one run; medians with bootstrap 95% "
             "intervals over the timed passes.", "",
             "| length | teacher | student | speed-up | student GFLOP/s | teacher GFLOP/s |", "|---|---|---|---|---|---|"]
    for label, timing in (("fixed", card["fixed_length"]), ("real (median of real texts)", card.get("real_length"))):
        if timing:
            lo, hi = timing["speedup_ci95"]
            lines.append(f"| {timing['seq_len']} tokens, {label} | {_ms(timing['teacher'])} | {_ms(timing['student'])} | "
                         f"{timing['speedup']:.2f}x [{lo:.2f}, {hi:.2f}] | {timing['student']['gflops']:.1f} | "
                         f"{timing['teacher']['gflops']:.1f} |")
    if card.get("matmul_peak_gflops"):
        lines += ["", f"This machine's fp32 matrix-multiply peak on {p['threads']} thread(s): "
                      f"{card['matmul_peak_gflops']:.1f} GFLOP/s (how close each model runs to its compute floor)."]
    if "meets_budget" in card:
        verdict = "meets" if card["meets_budget"] else "**misses**"
        lines += ["", f"Budget {card['budget'].get('name', '?')}, {card['budget'].get('source', '')}: the student "
                      f"{verdict} it: {card['measured_speedup']:.2f}x measured, {card['target_speedup']:.2f}x asked."]
    return [*lines, ""]


def _measured_forms(card: dict[str, Any], report: dict[str, Any] | None, pruned: bool
                    ) -> dict[str, tuple[float | None, float | None]]:
    """``form -> (speed-up, retention)`` from the report (and the card for the bundle's own PyTorch model)."""
    out: dict[str, tuple[float | None, float | None]] = {"teacher_fp32": (1.0, 1.0)}
    bundle_speedup = card["fixed_length"]["speedup"]
    out["bundle_pytorch"] = (bundle_speedup, None)
    if report:
        cpu = report.get("latency", {}).get("cpu", {})
        out["student_fp32"] = (cpu.get("speedup"), report.get("retention", {}).get("macro"))
        if pruned and report.get("pruned"):
            out["bundle_pytorch"] = (bundle_speedup, report["pruned"].get("retention", {}).get("macro"))
        elif not pruned:
            out["bundle_pytorch"] = (bundle_speedup, report.get("retention", {}).get("macro"))
    return out


def model_card(teacher: Teacher, config: PretrainedConfig, card: dict[str, Any], onnx: dict[str, Any],
               sizes: dict[str, int], pruning: dict[str, Any] | None, report: dict[str, Any] | None) -> str:
    """The whole ``README.md``."""
    arch = (f"{config.num_hidden_layers} layers, hidden {config.hidden_size}, {config.num_attention_heads} heads, "
            f"FFN {config.intermediate_size}, {config.hidden_act}, vocabulary {config.vocab_size:,}")
    prompt = teacher.text_prefix
    lines = ["---", yaml.safe_dump(front_matter(teacher, report), sort_keys=False).strip(), "---", "",
             f"# A student of {HUB_IDS.get(teacher.name, teacher.name)}, distilled by kdnas", "",
             f"{arch}. Found by KD-NAS architecture search under a latency budget and distilled from "
             f"`{teacher.name}`; mean pooling over non-padding tokens, L2-normalised embeddings"
             + (f", inputs prefixed with `{prompt}` (prompt `query`)." if prompt else "."), "",
             "## Usage", "", "```python", "from sentence_transformers import SentenceTransformer", "",
             'model = SentenceTransformer("path/to/bundle")',
             f'embeddings = model.encode(["Le fichier est introuvable."]{", prompt_name=" + repr("query") if prompt else ""})',
             "```", "", "ONNX Runtime: `model.int8.onnx` (or `model.onnx`) takes `input_ids` and `attention_mask` "
             "(int64) and returns `last_hidden_state`; mean-pool it over the mask and L2-normalise.", ""]
    if report:
        retention = report.get("retention", {})
        lines += ["## Evaluation", "", f"Retention of the teacher's quality (student / teacher, macro over tasks): "
                  f"**{retention.get('macro', float('nan')):.3f}** ({report.get('data', {}).get('corpus', '?')}, "
                  "held-out split; see `report.json` of the evaluation run).", ""]
    checks = ", ".join(f"{k} {'passed' if onnx[k]['passed'] else 'FAILED'}" for k in ("fp32", "int8") if k in onnx)
    lines += ["## Forms", "", "| form | size on disk | vs the student's fp32 weights | vs the teacher's fp32 weights | "
              "speed-up beside the teacher | retention (macro) |", "|---|---|---|---|---|---|"]
    base, teacher_size = sizes.get("student_fp32") or 0, sizes.get("teacher_fp32") or 0
    measured = _measured_forms(card, report, pruning is not None)
    for key, label in (("teacher_fp32", "teacher, PyTorch fp32"), ("student_fp32", "PyTorch fp32 (trained student)"),
                       ("bundle_pytorch", "PyTorch fp32, vocabulary pruned" if pruning else "PyTorch fp32"),
                       ("onnx_fp32", "ONNX fp32"), ("onnx_int8", "ONNX int8 (dynamic)")):
        if key in sizes:
            ratio = f"{sizes[key] / base:.2f}" if base else "-"
            vs_teacher = f"{sizes[key] / teacher_size:.2f}" if teacher_size else "-"
            speedup, kept = measured.get(key, (None, None))
            lines.append(f"| {label} | {_mb(sizes[key])} | {ratio} | {vs_teacher} | "
                         f"{'-' if speedup is None else f'{speedup:.2f}x'} | {'-' if kept is None else f'{kept:.3f}'} |")
    lines += ["", "Speed-ups and retention come from the evaluation report when it measured that form, else (speed-up "
              "of the bundle's PyTorch model) from the latency card below; `evaluate.py student=BUNDLE onnx=true` "
              "scores the ONNX forms."]
    lines += ["", f"ONNX checks against PyTorch: {checks or 'none'}.", "", *latency_section(card)]
    return "\n".join(lines) + "\n"
