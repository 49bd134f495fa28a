"""One table for a sweep of searches (one job per budget): each job's best, and the best measured
architecture per standard budget across every job's candidates (:func:`kdnas.nas.results.recommendations`,
with the jobs' safety margin). A job none of whose candidates met its budget has best ``-`` and its one-line
reason under the table (``unmet`` in the returned summary)."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

import yaml

from kdnas.models.arch import ArchSpec
from kdnas.nas.results import measurement_from_row, recommendations
from kdnas.utils.io import write_text, write_yaml


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's finished search jobs (a ``summary.json`` and a ``candidates.csv``), by job number."""
    found = [p.parent for p in sweep_dir.glob("*/summary.json") if (p.parent / "candidates.csv").is_file()]
    return sorted(found, key=lambda p: p.name)


def summarise_sweep(sweep_dir: Path) -> dict[str, Any] | None:
    """Write ``sweep_summary.md`` and ``sweep_recommendations.yaml``; None when the sweep holds no search jobs."""
    jobs = job_dirs(sweep_dir)
    if not jobs:
        return None
    table_rows: list[dict[str, Any]] = []
    rows_by_arch: dict[str, dict[str, str]] = {}
    teacher_ms: list[float] = []
    margins: list[float] = []
    unmet: list[str] = []
    for d in jobs:
        summary = json.loads((d / "summary.json").read_text())
        teacher_ms.append(float(summary["teacher_latency_ms"]))
        recs_file = d / "recommendations.yaml"
        if recs_file.is_file():
            margins.append(float((yaml.safe_load(recs_file.read_text()) or {}).get("margin") or 0.0))
        with open(d / "candidates.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for r in rows:
            rows_by_arch.setdefault(r["arch_id"], r)
        b = summary.get("best") or {}
        if summary.get("budget_unmet"):
            unmet.append(f"job {d.name}: {summary['budget_unmet']}")
        table_rows.append({
            "job": d.name, "budget": summary["budget"], "target_ms": round(summary["target_ms"], 2),
            "best": ArchSpec.from_dict(b["arch"]).short_name if b else "-",
            "speedup": b.get("speedup", ""), "loss": b.get("loss", ""), "reward": b.get("reward", ""),
            "distilled": sum(r["source"] == "distilled" for r in rows),
            "reused": sum(r["source"] == "reused" for r in rows),
        })
    teacher = statistics.median_high(teacher_ms)
    margin = max(margins, default=0.0)
    recs = recommendations([measurement_from_row(r) for r in rows_by_arch.values()], teacher, margin=margin)
    write_yaml(sweep_dir / "sweep_recommendations.yaml", {"teacher_latency_ms": teacher, "margin": margin, "budgets": recs})
    header = list(table_rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in table_rows]
    if unmet:
        lines += ["", "No candidate met the budget in:", "", *(f"- {line}" for line in unmet)]
    lines += ["", f"Combined recommendations (all jobs' candidates, margin {margin:.0%}):", "",
              "| budget | architecture | speed-up | loss |", "|---|---|---|---|"]
    for k, r in recs.items():
        lines.append(f"| {k} | - | - | - |" if r is None else
                     f"| {k} | {ArchSpec.from_dict(r['arch']).short_name} | {r['speedup']:.1f}x | {r['loss']:.4f} |")
    write_text(sweep_dir / "sweep_summary.md", "\n".join(lines) + "\n")
    return {"jobs": table_rows, "recommendations": recs, "unmet": unmet}
