"""The evaluation report: ``report.json`` (every number) and ``report.md`` (a model card with tables).

:func:`write_report` takes the dictionary :meth:`kdnas.evaluate.compare.Comparison.report` builds (with
``pruned`` / ``onnx`` sections when those were evaluated); the Markdown is rendered from it alone, so a
``report.json`` can be re-rendered with :func:`render_markdown`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdnas.evaluate.retention import row_score
from kdnas.utils.io import write_text

TASK_TITLES = {
    "retrieval": "Cross-lingual retrieval (precision@1, mean of en→xx and xx→en)",
    "ood_retrieval": "Out-of-domain cross-lingual retrieval (other software's translations, precision@1)",
    "langid": "Language identification (linear probe accuracy)",
    "xnli": "XNLI (zero-shot from English, frozen encoder + logistic head, accuracy)",
    "pawsx": "PAWS-X (zero-shot from English, frozen encoder + logistic head, accuracy)",
}


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` in ``out_dir``; returns their paths."""
    json_path = write_text(out_dir / "report.json", json.dumps(_plain(report), indent=2, ensure_ascii=False) + "\n")
    md_path = write_text(out_dir / "report.md", render_markdown(report))
    return json_path, md_path


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, non-finite floats to ``None``."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- formatting helpers -----------------------------------------------------------------------------------


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _millions(value: int | None) -> str:
    return "–" if value is None else f"{value / 1e6:.2f} M"


def _megabytes(value: int | None) -> str:
    return "–" if value is None else f"{value / 2**20:.1f} MiB"


def _ratio(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ci(ci: Sequence[float] | None, digits: int = 3) -> str:
    return "" if not ci else f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _get(tree: Any, *keys: str) -> Any:
    """``tree[k1][k2]...``, or ``None`` where a level is missing."""
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


# --- sections ---------------------------------------------------------------------------------------------


def _summary(report: dict[str, Any]) -> list[str]:
    t, s, ratios = report["teacher"], report["student"], report["ratios"]
    rows = [
        ["parameters", _millions(t["parameters"]), _millions(s["parameters"]), _ratio(ratios.get("parameters"))],
        ["parameters without embeddings", _millions(t["parameters_without_embeddings"]),
         _millions(s["parameters_without_embeddings"]), _ratio(ratios.get("parameters_without_embeddings"))],
        ["weights on disk", _megabytes(t["bytes"]), _megabytes(s["bytes"]), _ratio(ratios.get("bytes"))],
    ]  # fmt: skip
    for device, pair in report["latency"].items():
        if device == "budget":
            continue
        label = f"latency {device.split('_')[0]} (median ms; {_profile_words(pair['teacher']['profile'])})"
        rows.append([label, _num(pair["teacher"]["median_ms"], 2), _num(pair["student"]["median_ms"], 2),
                     f"speed-up {pair['speedup']:.2f}x{_ci(pair.get('speedup_ci'), 2)}"])  # fmt: skip
    scores, retention = report["scores"], report["retention"]
    ci = report.get("intervals") or {}
    for task in scores["teacher"]["tasks"]:
        rows.append([f"{task} (macro)", _num(scores["teacher"]["tasks"][task].get("macro")),
                     _num(scores["student"]["tasks"].get(task, {}).get("macro")),
                     f"retention {_ratio(retention['tasks'].get(task))}{_ci(_get(ci, 'retention', 'tasks', task, 'macro'))}"])  # fmt: skip
    rows.append(["**macro over in-domain tasks**", _num(scores["teacher"]["macro"]), _num(scores["student"]["macro"]),
                 f"**retention {_ratio(retention['macro'])}**{_ci(_get(ci, 'retention', 'macro'))}"])  # fmt: skip
    lines = ["## Summary", ""]
    lines += _table(["", "teacher", "student", "student / teacher"], rows)
    budget = report["latency"].get("budget")
    if budget:
        goal = f"{budget['speedup']}x faster than the teacher" if budget.get("speedup") else f"<= {budget['max_ms']} ms"
        verdict = "meets" if budget["meets"] else "does not meet"
        lines += [
            f"Latency budget `{budget['name']}` ({goal} on {budget['device']}): target {budget['target_ms']:.2f} ms; "
            f"the student ({budget['student_ms']:.2f} ms) **{verdict}** it.",
            "",
        ]
    return lines


def _profile_words(p: dict[str, Any]) -> str:
    """``batch 1, 128 tokens, 1 thread(s)``, or for real texts ``batch 1, 200 dev texts (median 17 tokens), ...``."""
    if p.get("seq_len") == "corpus":
        length = f"{p.get('n_inputs')} real dev texts (median {p.get('median_tokens')} tokens)"
    else:
        length = f"{p['seq_len']} tokens"
    return f"batch {p['batch_size']}, {length}, {p['threads']} thread(s)"


def _baselines(report: dict[str, Any]) -> list[str]:
    """Scores beside the student's own architecture undistilled, and the gain retention over each."""
    bases = report.get("baselines") or {}
    if not bases:
        return []
    ci = report.get("intervals") or {}
    scores = report["scores"]
    names = list(bases)
    header = ["", "teacher", "student", *names, *(f"gain over {n}" for n in names)]

    def row(label: str, pick: Any, gain_key: tuple[str, ...]) -> list[str]:
        point_key = gain_key[:2] if gain_key[0] == "tasks" else gain_key  # points: tasks.<t>; intervals: tasks.<t>.macro
        gains = [f"{_ratio(_get(bases[n]['gain'], *point_key))}{_ci(_get(ci, 'gain', n, *gain_key))}" for n in names]
        return [label, _num(pick(scores["teacher"])), _num(pick(scores["student"])),
                *(_num(pick(bases[n]["scores"])) for n in names), *gains]  # fmt: skip

    rows = [row(f"{task} (macro)", lambda r, t=task: _get(r, "tasks", t, "macro"), ("tasks", task, "macro"))
            for task in scores["teacher"]["tasks"]]  # fmt: skip
    rows.append(row("macro over in-domain tasks", lambda r: r.get("macro"), ("macro",)))
    lines = ["## Against the undistilled architecture", ""]
    lines += _table(header, rows)
    lines += [
        "Gain retention = (student - base) / (teacher - base): the share of the teacher's lead over the base that "
        "distillation recovered (0: no better than the base; 1: as good as the teacher). `untrained`: the student's "
        "architecture with random weights (what the shared tokenizer alone gives); `teacher_init`: sliced from the "
        "teacher, not distilled. Bases are scored on the same texts in the same run.",
        "",
    ]
    return lines


def _agreement(report: dict[str, Any]) -> list[str]:
    """Task-agnostic agreement with the teacher, per domain, for the student and the baselines."""
    own = report.get("agreement") or {}
    if not own:
        return []
    models = {"student": own, **{n: b.get("agreement") or {} for n, b in (report.get("baselines") or {}).items()}}
    rows = []
    for domain in own:
        for name, per_domain in models.items():
            a = per_domain.get(domain)
            if a:
                rows.append([domain.replace("_", "-"), name, str(a["texts"]),
                             f"{a['neighbourhood']:.3f}{_ci(a.get('neighbourhood_ci'))}", f"{a['cka']:.3f}{_ci(a.get('cka_ci'))}"])  # fmt: skip
    k = next(iter(own.values()))["k"]
    return [
        "## Agreement with the teacher (task-agnostic)",
        "",
        *_table(["texts", "model", "n", f"neighbourhood agreement (k={k})", "linear CKA"], rows),
        f"Neighbourhood agreement: the share of each text's {k} nearest neighbours (cosine) under the teacher that are "
        "also its neighbours under the model. Linear CKA compares the two embedding geometries (1: identical up to "
        "rotation and scale). No distillation loss targets either; the texts are held out (in-domain: the evaluation "
        "split's retrieval texts; out-of-domain: other software's).",
        "",
    ]


def _languages(report: dict[str, Any]) -> list[str]:
    summary = report.get("languages") or {}
    if not summary:
        return []
    rows = [[task, s["worst"], _ratio(s["worst_retention"]), f"{s['share_below']:.0%} of {s['languages']}",
             ", ".join(s["below"]) or "–"] for task, s in summary.items()]  # fmt: skip
    threshold = next(iter(summary.values()))["threshold"]
    return ["## Languages kept worst", "",
            *_table(["task", "worst language", "its retention", f"share under {threshold}", "languages under it"], rows)]


def _architecture(report: dict[str, Any]) -> list[str]:
    t, s = report["teacher"]["architecture"], report["student"]["architecture"]
    rows = [[key, str(t.get(key)), str(s.get(key))] for key in s]
    return ["## Architecture", "", *_table(["", "teacher", "student"], rows)]


def _provenance(report: dict[str, Any]) -> list[str]:
    t, s, data, suite = report["teacher"], report["student"], report["data"], report["suite"]
    env = report.get("environment", {})
    sizes = ", ".join(f"{k} {v:,}" for k, v in data["split_sizes"].items())
    first = next(iter(report["scores"].values()))
    threads = f", {first['threads']} thread(s)" if first.get("threads") else ""
    return [
        "## Provenance",
        "",
        f"- **Student**: `{s['dir']}`",
        f"- **Teacher**: `{t['name']}` from `{t['source']}`; texts prefixed with `{t['text_prefix']!r}`, "
        "embeddings mean-pooled over non-padding tokens and L2-normalised (for both models).",
        f"- **Data**: corpus `{data['corpus']}` (texts per split: {sizes}); evaluation texts from the "
        f"**{data['plan'].get('split', 'test')}** split (language-id training texts from the train split), "
        f"{data['plan'].get('texts', 0):,} distinct texts, sample seed {suite['seed']}.",
        *_ood_provenance(data["plan"]),
        f"- **Embedding passes**: {first.get('device', '?')}, {first.get('dtype', '?')}"
        f"{threads}, max {suite['max_length']} tokens.",
        f"- **Command**: `{report['command']}`",
        f"- **Created**: {report['created']} (torch {env.get('torch')}, transformers {env.get('transformers')}, "
        f"{env.get('cpu_threads')} CPU threads{', GPU ' + env['cuda'] if env.get('cuda') else ''}); "
        f"evaluation took {report.get('wall_seconds', '?')} s.",
        "",
    ]


def _ood_provenance(plan: dict[str, Any]) -> list[str]:
    ood = plan.get("ood_retrieval")
    if not ood:
        return []
    packs = {k: v for k, v in ood.get("distributions", {}).items() if k.startswith("jupyterlab-language-pack-")}
    named = [f"{k} {v}" for k, v in ood.get("distributions", {}).items() if k not in packs]
    if packs:
        named.append(f"{len(packs)} jupyterlab-language-pack-* ({', '.join(sorted(set(packs.values())))})")
    dists = ", ".join(named)
    return [f"- **Out-of-domain data**: the gettext catalogs of {dists} ({len(ood['languages'])} languages); "
            f"{ood.get('removed_sources', 0):,} English sources that also occur (normalised) in the corpus were removed."]


def _per_language(report: dict[str, Any]) -> list[str]:
    lines = ["## Per language", ""]
    teacher, student = report["scores"]["teacher"]["tasks"], report["scores"]["student"]["tasks"]
    per_language_retention = report["retention"]["per_language"]
    for task, t_res in teacher.items():
        s_res = student.get(task, {})
        lines += [f"### {TASK_TITLES.get(task, task)}", ""]
        if task in ("retrieval", "ood_retrieval"):
            header = ["language", "pairs", "teacher en→xx", "teacher xx→en", "student en→xx", "student xx→en", "retention"]
            rows = []
            for lang, t_row in t_res["per_language"].items():
                s_row = s_res.get("per_language", {}).get(lang, {})
                rows.append([lang, str(t_row["n"]), _num(t_row["en_xx"]), _num(t_row["xx_en"]),
                             _num(s_row.get("en_xx")), _num(s_row.get("xx_en")),
                             _ratio(per_language_retention[task].get(lang))])  # fmt: skip
        else:
            header = ["language", "test texts", "teacher", "student", "retention"]
            rows = [
                [lang, str(t_row.get("n_test", "")), _num(row_score(t_row)),
                 _num(row_score(s_res.get("per_language", {}).get(lang))), _ratio(per_language_retention[task].get(lang))]
                for lang, t_row in t_res["per_language"].items()
            ]  # fmt: skip
        lines += _table(header, rows)
        if task == "langid" and t_res.get("chance"):
            lines += [f"{len(t_res['per_language'])} classes (chance {t_res['chance']:.3f}); the probe is fitted on "
                      f"{t_res['n_train']:,} train-split translations, scored on {t_res['n_test']:,} test-split ones.", ""]  # fmt: skip
        if skipped := t_res.get("skipped"):
            lines += ["Skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + ".", ""]
    return lines


def _pruned(report: dict[str, Any]) -> list[str]:
    pruned = report.get("pruned")
    if not pruned:
        return []
    p = pruned["pruning"]
    before, after = p["before"], p["after"]
    student, facts = report["student"], pruned["student"]
    rows = [
        ["vocabulary", _num(before["vocab"]), _num(after["vocab"])],
        ["parameters", _millions(student["parameters"]), _millions(facts["parameters"])],
        ["weights on disk", _megabytes(student["bytes"]), _megabytes(facts["bytes"])],
    ]
    for device, pair in pruned["latency"].items():
        if device != "budget" and device in report["latency"]:
            before_pair = report["latency"][device]
            rows.append([f"latency {device} (median ms)", _num(before_pair["student"]["median_ms"], 2),
                         _num(pair["student"]["median_ms"], 2)])  # fmt: skip
            rows.append([f"speed-up over the teacher ({device}, each timed beside it)",
                         f"{before_pair['speedup']:.2f}x", f"{pair['speedup']:.2f}x"])  # fmt: skip
    for task, res in pruned["scores"]["tasks"].items():
        rows.append([f"{task} (macro)", _num(report["scores"]["student"]["tasks"][task].get("macro")), _num(res.get("macro"))])
    rows.append(["retention (macro)", _ratio(report["retention"]["macro"]), _ratio(pruned["retention"]["macro"])])
    verification = p.get("verification") or {}
    check = (
        f"On {verification['texts']} in-vocabulary texts the pruned student gives the same token ids "
        f"({verification['same_ids']:.0%}) and last hidden states within {verification['max_abs_diff']:.1e} of the "
        "original's."
        if verification
        else "No in-vocabulary text was checked."
    )
    return [
        "## Pruned vocabulary",
        "",
        f"The vocabulary was pruned to the {p['tokens']:,} tokens of the {p['texts']:,} train-split texts "
        f"(ids used at least {p['min_count']} time(s), special tokens kept): `{pruned['student']['dir']}`.",
        "",
        *_table(["", "student", "pruned student"], rows),
        check + " Test texts with pieces outside the kept vocabulary are re-segmented into kept pieces "
        "(or `<unk>`): the change in the scores above is that cost.",
        "",
    ]


def _onnx(report: dict[str, Any]) -> list[str]:
    onnx = report.get("onnx")
    if not onnx:
        return []
    export, scores, retention = onnx["export"], onnx["scores"], onnx["retention"]
    rows = []
    for kind, pair in onnx["latency"].items():
        p = pair["teacher"]["profile"]
        rows.append([f"latency ONNX Runtime {kind} ({p['device']}, median ms; {_profile_words(p)})", _num(pair["teacher"]["median_ms"], 2),
                     _num(pair["student"]["median_ms"], 2), f"speed-up {pair['speedup']:.2f}x"])  # fmt: skip
    header = ["", "teacher (PyTorch)", "student (PyTorch)", *(f"student (ONNX {k})" for k in scores)]
    score_rows = []
    for task, t_res in report["scores"]["teacher"]["tasks"].items():
        score_rows.append([f"{task} (macro)", _num(t_res.get("macro")),
                           _num(report["scores"]["student"]["tasks"].get(task, {}).get("macro")),
                           *(_num(s["tasks"].get(task, {}).get("macro")) for s in scores.values())])  # fmt: skip
    score_rows.append(["retention (macro)", "1.000", _ratio(report["retention"]["macro"]),
                       *(_ratio(retention[k]["macro"]) for k in scores)])  # fmt: skip
    checks = []
    for kind in ("fp32", "int8"):
        if check := export.get(kind):
            checks.append(f"{kind} {'passed' if check['passed'] else '**failed**'} ({check['criterion']}: "
                          f"max_abs_diff {check['max_abs_diff']:.2e}, cosine_min {check['cosine_min']:.4f})")  # fmt: skip
    return [
        "## ONNX Runtime",
        "",
        f"The student was exported to `{export['out_dir']}` (fp32 and dynamically quantised int8); checks against "
        f"PyTorch: {'; '.join(checks)}.",
        "",
        *_table(["", "teacher", "student", "student / teacher"], rows),
        *_table(header, score_rows),
        "Both models are timed side by side under ONNX Runtime with the budget's profile; the ONNX student is "
        "scored on the same texts (embedding passes on the CPU, the graph's precision).",
        "",
    ]


def _notes(report: dict[str, Any]) -> list[str]:
    return [
        "## Notes",
        "",
        "- Both models are timed in the same process, in alternating blocks (`measure_pair`), on random token ids "
        "under the budget's profile: the speed-up is a ratio measured side by side.",
        "- Retrieval: for each language, up to `n_candidates` test pairs with distinct English sources and distinct "
        "translations (the same seeded ranking of sources for every language); each side searches the other by "
        "cosine similarity. A language with fewer pairs is scored among all of them (see the pairs column), so "
        "compare a language's student and teacher scores rather than languages with each other.",
        "- Parameters count the encoder as evaluated (no pooler); weights on disk are the directory's "
        "`*.safetensors` bytes (for an in-memory teacher, its fp32 state dict serialised).",
        "",
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """The model card for ``report``."""
    student = report["student"]
    arch = student["architecture"]
    title = (
        f"# Student model card: {arch.get('num_hidden_layers')} layers × {arch.get('hidden_size')} "
        f"(distilled from {report['teacher']['name']})"
    )
    lines = [title, ""]
    sections = (_summary, _baselines, _agreement, _languages, _architecture, _provenance, _per_language, _pruned,
                _onnx, _notes)  # fmt: skip
    for section in sections:
        lines += section(report)
    return "\n".join(lines).rstrip() + "\n"
