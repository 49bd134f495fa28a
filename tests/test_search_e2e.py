"""The search end to end: outputs, determinism, the teacher-output cache, resume after a real kill."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.budget import LatencyBudget
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("candidates.csv", "best_arch.yaml", "recommendations.yaml", "pareto.png", "search.sqlite", "summary.json")


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "candidates.csv") as handle:
        return list(csv.DictReader(handle))


def run_search(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "search.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"search.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.mark.slow
def test_tiny_search_writes_every_output(tmp_path: Path) -> None:
    proc = run_search("experiment=tiny", "search.shared_store=null", f"hydra.run.dir={tmp_path}")
    for name in OUTPUTS:
        assert (tmp_path / name).is_file(), name
    table = rows(tmp_path)
    assert len(table) == 4  # 2 episodes x 2 candidates
    assert len({r["arch_id"] for r in table}) == 4  # never the same architecture twice
    assert {r["status"] for r in table} <= {"ok", "infeasible", "failed"}
    assert all(r["source"] == "distilled" for r in table)
    ok = [r for r in table if r["status"] == "ok"]
    assert ok
    summary = json.loads((tmp_path / "summary.json").read_text())
    teacher_ms = summary["teacher_latency_ms"]
    reward = LatencyBudget(speedup=1.3, margin=0.1).reward(teacher_ms)  # experiment=tiny's budget
    for r in ok:  # each reward is the budget's formula on the row's own loss and latency
        expected = reward(float(r["loss"]), float(r["latency_median_ms"]), teacher_ms)
        assert float(r["reward"]) == pytest.approx(expected.reward, abs=1e-4)
        assert float(r["speedup"]) == pytest.approx(teacher_ms / float(r["latency_median_ms"]), rel=1e-3)
    best = ArchSpec.from_yaml(tmp_path / "best_arch.yaml")
    assert best.arch_id in {r["arch_id"] for r in ok}
    recs = yaml.safe_load((tmp_path / "recommendations.yaml").read_text())
    assert set(recs["budgets"]) == {"2x", "3x", "5x", "7x", "10x"}
    assert "leaderboard" in proc.stdout and str(tmp_path) in proc.stdout
    assert (tmp_path / "csv" / "metrics.csv").read_text().count("candidate/reward") == 1  # header


@pytest.mark.slow
def test_same_seed_same_candidates_and_the_teacher_cache_reused(tmp_path: Path) -> None:
    from kdnas.pipelines.search import search

    overrides = ["experiment=tiny", "controller=random", "logger=none", "search.episodes=2",
                 f"paths.cache_dir={tmp_path / 'cache'}"]
    first = search(compose_config("search", overrides, tmp_path / "a"))
    cache = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "cache" / "teacher_outputs").rglob("*"))
    second = search(compose_config("search", overrides, tmp_path / "b"))
    ids_a = [r["arch_id"] for r in rows(tmp_path / "a")]
    ids_b = [r["arch_id"] for r in rows(tmp_path / "b")]
    assert ids_a == ids_b and len(ids_a) == 4
    assert first["candidates"] == second["candidates"] == 4
    assert cache  # the proxy set's teacher states, written by the first search, read as they are by the second
    assert sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "cache" / "teacher_outputs").rglob("*")) == cache
    assert second["distilled_this_session"] == 0  # ... and its candidates come from the shared store
    other_seed = search(compose_config("search", [*overrides, "search.seed=7"], tmp_path / "c"))
    assert other_seed["candidates"] == 4
    assert [r["arch_id"] for r in rows(tmp_path / "c")] != ids_a


@pytest.mark.slow
def test_resume_after_kill_loses_and_repeats_nothing(tmp_path: Path) -> None:
    args = ["experiment=tiny", "logger=none", "search.episodes=3", "search.proxy_steps=30", "search.shared_store=null",
            f"hydra.run.dir={tmp_path}"]
    proc = subprocess.Popen([sys.executable, "search.py", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if (tmp_path / "candidates.csv").is_file() and len(rows(tmp_path)) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the search ended before it could be killed"
    time.sleep(0.5)  # into the next candidate's distillation
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = rows(tmp_path)
    assert 2 <= len(finished) < 6

    run_search(*args)
    summary = json.loads((tmp_path / "summary.json").read_text())
    table = rows(tmp_path)
    assert len(table) == 6 and len({r["arch_id"] for r in table}) == 6
    assert summary["distilled_this_session"] == 6 - len(finished)
    before = {r["arch_id"]: r for r in finished}
    for r in table:  # finished candidates kept their measurements, untouched
        if r["arch_id"] in before:
            assert r["loss"] == before[r["arch_id"]]["loss"]
            assert r["wall_seconds"] == before[r["arch_id"]]["wall_seconds"]


def test_unreachable_budget_names_the_fastest_architecture(tmp_path: Path) -> None:
    from kdnas.pipelines.search import search

    cfg = compose_config("search", ["experiment=tiny", "logger=none", "latency_budget.speedup=10000", "search.check_budget=true"], tmp_path)
    with pytest.raises(ConfigError, match=r"fastest architecture in the space, L1-H16-A\d-F32-\w+, measured"):
        search(cfg)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("search.episodes=-1", "search.episodes"),
        ("search.candidates_per_episode=0", "search.candidates_per_episode"),
        ("search_space.num_attention_heads=[7]", "search_space"),
        ("latency_budget.alpha=0.5", "latency_budget.alpha"),
    ],
)
def test_bad_search_settings_name_the_key(override: str, message: str, tmp_path: Path) -> None:
    from kdnas.pipelines.common import user_error
    from kdnas.pipelines.search import search

    cfg = compose_config("search", ["experiment=tiny", "logger=none", override], tmp_path)
    with pytest.raises(Exception) as info:
        search(cfg)
    error = user_error(info.value)
    assert error is not None and message in str(error)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    for args, message in ((["controller=nope"], "controller"), (["experiment=tiny", "search.pool_size=-3"], "search.pool_size")):
        proc = run_search(*args, f"hydra.run.dir={tmp_path}", check=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr and message in proc.stderr, proc.stderr[-1500:]


@pytest.mark.slow
def test_first_episode_starts_with_a_teacher_shaped_seed_then_the_largest_within_the_budget(tmp_path: Path) -> None:
    # the tiny teacher is 4 x 64 with 4 gelu heads; open the space to its shape and the budget to any latency
    run_search("experiment=tiny", "search.shared_store=null", "search.teacher_shaped_seeds=1",
               "search_space.hidden_size=[32,64]", "search_space.num_attention_heads=[2,4]",
               "latency_budget.speedup=null", "latency_budget.max_ms=1000", f"hydra.run.dir={tmp_path}")
    first = [r for r in rows(tmp_path) if r["episode"] == "0"]
    shaped = [r for r in first if (r["hidden_size"], r["num_attention_heads"], r["hidden_act"]) == ("64", "4", "gelu")]
    assert len(first) == 2
    assert [(r["num_hidden_layers"], r["intermediate_size"]) for r in shaped][:1] == [("2", "64")]
    size = [int(r["parameters_without_embeddings"]) for r in rows(tmp_path)]
    assert size[1] == max(size[1:])  # search.size_seeds=1: no later candidate is larger than the second seed
