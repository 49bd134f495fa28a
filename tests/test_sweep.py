"""Multirun sweeps share work: two budgets at once, in parallel, distil each architecture once."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def read(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_parallel_budget_sweep_distils_each_architecture_once(tmp_path: Path) -> None:
    store = tmp_path / "shared.sqlite"
    proc = subprocess.run(
        [sys.executable, "search.py", "-m", "experiment=tiny", "logger=none", "latency_budget.speedup=1.1,1.4",
         "hydra/launcher=local_parallel", f"search.shared_store={store}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted((tmp_path / "sweep").glob("*/candidates.csv"))
    assert len(jobs) == 2
    tables = [read(j) for j in jobs]
    distilled: dict[str, int] = {}
    for table in tables:
        assert len(table) == 4
        for r in table:
            assert r["source"] in ("distilled", "reused")
            distilled[r["arch_id"]] = distilled.get(r["arch_id"], 0) + (r["source"] == "distilled")
    assert all(n == 1 for n in distilled.values()), distilled  # never twice across the two jobs
    shared_ids = set(r["arch_id"] for r in tables[0]) & set(r["arch_id"] for r in tables[1])
    assert shared_ids, "same seed: both jobs start with the same candidates"
    # a reused candidate keeps its measurement and gets the reward of its own job's budget
    by_job = [{r["arch_id"]: r for r in t} for t in tables]
    some = next(iter(shared_ids))
    assert by_job[0][some]["loss"] == by_job[1][some]["loss"]
    assert by_job[0][some]["latency_median_ms"] == by_job[1][some]["latency_median_ms"]
    recs = yaml.safe_load((tmp_path / "sweep" / "sweep_recommendations.yaml").read_text())
    assert set(recs["budgets"]) == {"2x", "3x", "5x", "7x", "10x"}
    assert "distilled" in (tmp_path / "sweep" / "sweep_summary.md").read_text()


def test_claims_let_one_job_distil(tmp_path: Path) -> None:
    from kdnas.models.arch import ArchSpec
    from kdnas.nas.store import CandidateStore, Measurement

    store = CandidateStore(tmp_path / "s.sqlite")
    arch = ArchSpec(1, 16, 1, 32, "gelu")
    assert store.claim("k", arch.arch_id, "job-a")
    assert not store.claim("k", arch.arch_id, "job-b")  # job a (this live process) holds it
    store.put("k", Measurement(arch, "ok", loss=0.5, latency_median_ms=1.0))
    store.release("k", arch.arch_id)
    found = store.wait_or_claim("k", arch.arch_id, "job-b")
    assert found is not None and found.loss == 0.5
