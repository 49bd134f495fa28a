"""A Hydra callback that ends a multirun sweep of searches with one combined recommendations table.

Every job of ``python search.py -m latency_budget=cpu_3x,cpu_5x,cpu_7x`` writes its own outputs; this
callback reads them back at the end of the sweep and writes, in the sweep directory,
``sweep_summary.md`` (one row per job: budget, best architecture, its speed-up, loss and reward,
candidates distilled and reused) and ``sweep_recommendations.yaml`` (the best measured architecture
for each standard budget across all jobs' candidates).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from kdnas.nas.budget import RECOMMENDATION_SPEEDUPS


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((p.parent for p in sweep_dir.glob("*/summary.json")), key=lambda p: p.name)


def combined_recommendations(rows: list[dict[str, str]], teacher_ms: float) -> dict[str, Any]:
    """Lowest-loss architecture meeting each budget, over every job's measured candidates."""
    best: dict[str, Any] = {}
    ok = [r for r in rows if r.get("status") in ("ok", "infeasible") and r.get("latency_median_ms")]
    for k in RECOMMENDATION_SPEEDUPS:
        fast = [r for r in ok if teacher_ms / float(r["latency_median_ms"]) >= k]
        if not fast:
            best[f"{k:g}x"] = None
            continue
        r = min(fast, key=lambda r: float(r["loss"]))
        best[f"{k:g}x"] = {
            "arch_id": r["arch_id"],
            "arch": {key: r[key] for key in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                             "intermediate_size", "hidden_act")},
            "loss": float(r["loss"]),
            "latency_median_ms": float(r["latency_median_ms"]),
            "speedup": teacher_ms / float(r["latency_median_ms"]),
        }
    return best


def summarise_sweep(sweep_dir: Path) -> dict[str, Any] | None:
    """Write the sweep's combined outputs; None when the sweep holds no search jobs."""
    jobs = [d for d in job_dirs(sweep_dir) if (d / "candidates.csv").is_file()]
    if not jobs:
        return None
    table_rows, all_rows, teacher_ms = [], {}, []
    for d in jobs:
        summary = json.loads((d / "summary.json").read_text())
        teacher_ms.append(summary["teacher_latency_ms"])
        with open(d / "candidates.csv") as handle:
            rows = list(csv.DictReader(handle))
        for r in rows:
            all_rows.setdefault(r["arch_id"], r)
        b = summary.get("best") or {}
        table_rows.append({
            "job": d.name, "budget": summary["budget"], "target_ms": round(summary["target_ms"], 2),
            "best": "-" if not b else f"L{b['num_hidden_layers']}-H{b['hidden_size']}-A{b['num_attention_heads']}-"
            f"F{b['intermediate_size']}-{b['hidden_act']}",
            "speedup": b.get("speedup", ""), "loss": b.get("loss", ""), "reward": b.get("reward", ""),
            "distilled": sum(r["source"] == "distilled" for r in rows),
            "reused": sum(r["source"] == "reused" for r in rows),
        })
    teacher = sorted(teacher_ms)[len(teacher_ms) // 2]
    recs = combined_recommendations(list(all_rows.values()), teacher)
    (sweep_dir / "sweep_recommendations.yaml").write_text(
        yaml.safe_dump({"teacher_latency_ms": teacher, "budgets": recs}, sort_keys=False)
    )
    header = list(table_rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in table_rows]
    lines += ["", "Combined recommendations (all jobs' candidates):", "",
              "| budget | architecture | speed-up | loss |", "|---|---|---|---|"]
    for k, r in recs.items():
        lines.append(f"| {k} | - | - | - |" if r is None else
                     f"| {k} | {'-'.join(str(v) for v in r['arch'].values())} | {r['speedup']:.1f}x | {r['loss']:.4f} |")
    (sweep_dir / "sweep_summary.md").write_text("\n".join(lines) + "\n")
    return {"jobs": table_rows, "recommendations": recs}


class SweepSummaryCallback(Callback):
    """Hydra callback: at the end of a multirun, summarise every search job of the sweep."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        result = summarise_sweep(sweep_dir)
        if result is None:
            return
        table = Table(title=f"sweep {sweep_dir}")
        for col in result["jobs"][0]:
            table.add_column(col)
        for row in result["jobs"]:
            table.add_row(*(str(v) for v in row.values()))
        console = Console()
        console.print(table)
        console.print(f"combined recommendations: {sweep_dir / 'sweep_recommendations.yaml'}")
