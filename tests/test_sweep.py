"""Sweeps share work on both store back-ends: parallel jobs on one store distil each architecture once, every
finished candidate lands in the store, and a job killed while holding a lease is taken over."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from kdnas.nas.store import CandidateStore

ROOT = Path(__file__).resolve().parents[1]


def read(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_four_parallel_jobs_distil_each_architecture_once(store_url: Callable[[], str], tmp_path: Path) -> None:
    store = store_url()
    proc = subprocess.run(
        [sys.executable, "search.py", "-m", "experiment=tiny", "logger=none", "latency_budget.speedup=1.1,1.2,1.3,1.4",
         "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=4", f"search.shared_store={store}",
         f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted((tmp_path / "sweep").glob("*/candidates.csv"))
    assert len(jobs) == 4
    tables = [read(j) for j in jobs]
    distilled: dict[str, int] = {}
    for table in tables:
        assert len(table) == 4
        for r in table:
            assert r["source"] in ("distilled", "reused")
            distilled[r["arch_id"]] = distilled.get(r["arch_id"], 0) + (r["source"] == "distilled")
    assert all(n == 1 for n in distilled.values()), distilled  # never twice across the four jobs
    settings = {json.loads((j.parent / "summary.json").read_text())["setting"] for j in jobs}
    assert len(settings) == 1  # the budgets differ, the measurements do not
    stored = {m.arch.arch_id: m for m in CandidateStore(store).measurements(settings.pop())}
    assert set(stored) == set(distilled)  # every finished candidate is in the store
    by_job = [{r["arch_id"]: r for r in t} for t in tables]
    for arch_id, m in stored.items():  # a reused candidate keeps its measurement in every job
        for rows in by_job:
            if arch_id in rows:
                assert float(rows[arch_id]["loss"]) == pytest.approx(m.loss, abs=1e-5)
    recs = yaml.safe_load((tmp_path / "sweep" / "sweep_recommendations.yaml").read_text())
    assert set(recs["budgets"]) == {"2x", "3x", "5x", "7x", "10x"}
    assert "distilled" in (tmp_path / "sweep" / "sweep_summary.md").read_text()


def held_lease(store: str, deadline: float) -> bool:
    """Wait until some job holds a lease in ``store``."""
    from sqlalchemy import func, select

    from kdnas.nas.store.schema import leases

    cs = CandidateStore(store)
    while time.time() < deadline:
        with cs.engine.connect() as conn:
            if conn.execute(select(func.count()).select_from(leases)).scalar():
                return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_a_killed_job_s_lease_is_taken_over_and_the_sweep_completes(store_url: Callable[[], str], tmp_path: Path) -> None:
    store = store_url()
    args = ["experiment=tiny", "logger=none", "search.proxy_steps=40", "search.lease_seconds=2",
            f"search.shared_store={store}"]
    victim = subprocess.Popen([sys.executable, "search.py", *args, f"hydra.run.dir={tmp_path / 'a'}"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert held_lease(store, time.time() + 300), "the job never leased a candidate"
    os.killpg(victim.pid, signal.SIGKILL)  # killed while distilling: its lease stays behind, never renewed
    victim.wait()
    survivor = subprocess.run([sys.executable, "search.py", *args, f"hydra.run.dir={tmp_path / 'b'}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=900)
    assert survivor.returncode == 0, survivor.stderr[-3000:]
    table = read(tmp_path / "b" / "candidates.csv")
    assert len(table) == 4 and all(r["status"] != "failed" for r in table)
    restarted = subprocess.run([sys.executable, "search.py", *args, f"hydra.run.dir={tmp_path / 'a'}"], cwd=ROOT,
                               capture_output=True, text=True, timeout=900)  # the killed job, re-run: resumes
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    stored = CandidateStore(store).measurements(summary["setting"])
    assert len(stored) == len({m.arch.arch_id for m in stored}) == 4


def test_bad_stores_are_one_line_and_left_untouched(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    corrupt = run_dir / "search.sqlite"
    corrupt.write_bytes(b"not a database, but someone's file" * 50)
    before = corrupt.read_bytes()
    cases = [([f"hydra.run.dir={run_dir}"], str(corrupt)),
             ([f"hydra.run.dir={tmp_path / 'other'}", f"search.shared_store={corrupt}"], str(corrupt)),
             ([f"hydra.run.dir={tmp_path / 'other'}", "search.shared_store=postgresql+psycopg://u:pw@127.0.0.1:9/x"],
              "postgresql+psycopg://u:***@127.0.0.1:9/x")]
    for args, named in cases:
        proc = subprocess.run([sys.executable, "search.py", "experiment=tiny", "logger=none", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert len(lines) == 1 and named in lines[0] and ":pw@" not in proc.stderr
    assert corrupt.read_bytes() == before
