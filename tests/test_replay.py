"""``search.replay=true``: the search against the store only. The controllers honour a pool (``ask(allowed=)``);
a replay distils nothing, runs no teacher forward, builds no teacher-output cache, marks its candidates
``replayed``, is deterministic per seed, and says in one line when the store lacks architectures."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.controllers import RandomController
from kdnas.nas.loop import Search
from kdnas.nas.replay import ReplayTable
from kdnas.nas.store import CandidateStore, Measurement
from tests.conftest import compose_config
from tests.test_controller import FAST, TINY, Factory, synthetic_reward

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------
# the pool: every controller proposes within it
@pytest.fixture(params=sorted(FAST))
def make(request: pytest.FixtureRequest) -> Factory:
    return FAST[request.param]


def test_every_controller_proposes_only_within_the_allowed_pool(make: Factory) -> None:
    every = TINY.all_valid()
    pool = {a.arch_id for a in every[::2]}  # half the space
    ctrl, seen = make(TINY, seed=3), []
    for _ in range(4):
        archs = [p.arch for p in ctrl.ask(2, allowed=pool)]
        assert archs and {a.arch_id for a in archs} <= pool
        seen += archs
        ctrl.tell(archs, [synthetic_reward(a) for a in archs])
    assert len({a.arch_id for a in seen}) == 8 == len(pool)
    assert ctrl.ask(2, allowed=pool) == []  # the pool is exhausted, not the space


def test_allowing_the_whole_space_changes_nothing(make: Factory) -> None:
    a, b = make(TINY, seed=5), make(TINY, seed=5)
    everything = {x.arch_id for x in TINY.all_valid()}
    for _ in range(3):
        left, right = a.ask(3), b.ask(3, allowed=everything)
        assert left == right  # backwards compatible: the same proposals as without a pool
        rewards = [synthetic_reward(p.arch) for p in left]
        a.tell([p.arch for p in left], rewards)
        b.tell([p.arch for p in right], rewards)


# --------------------------------------------------------------------------------------------------
# the table, from Python
def test_a_replay_table_scores_the_stored_side_by_side_speedups(tmp_path: Path) -> None:
    store = CandidateStore(tmp_path / "shared.sqlite")
    archs = TINY.all_valid()[:6]
    for i, arch in enumerate(archs):  # measured by runs whose teacher timed 9, 10 and 11 ms
        teacher_ms, speedup = 9.0 + i % 3, 1.5 + i
        store.put("k", Measurement(arch, "ok", loss=0.5 - 0.05 * i, latency_median_ms=teacher_ms / speedup,
                                   paired_speedup=speedup))
    store.put("other", Measurement(TINY.all_valid()[7], "ok", loss=0.1, latency_median_ms=1.0, paired_speedup=9.0))
    table = ReplayTable.load(store, "k")
    assert table.teacher_ms == pytest.approx(10.0) and table.pool == {a.arch_id for a in archs}
    result = Search(RandomController(TINY, seed=1), table, LatencyBudget(speedup=3.0), table.teacher_ms, episodes=2,
                    candidates_per_episode=3, pool=table.pool).run()
    assert {c.arch.arch_id for c in result.candidates} == table.pool and {c.source for c in result.candidates} == {"replayed"}
    for c in result.candidates:
        i = archs.index(c.arch)
        assert c.speedup == pytest.approx(1.5 + i) and c.feasible == (1.5 + i >= 3.0)
    assert result.best is not None and result.best.arch == archs[5]  # the lowest loss, and fast enough
    with pytest.raises(ConfigError, match=r"holds 6 architectures .* fewer than the 7 this search evaluates"):
        table.require(TINY, 7)
    with pytest.raises(ConfigError, match="holds no measurement of this setting"):
        ReplayTable.load(store, "nothing")
    store.put("alone", Measurement(archs[0], "ok", loss=0.1, latency_median_ms=1.0))
    with pytest.raises(ConfigError, match="timed beside the teacher"):
        ReplayTable.load(store, "alone")


# --------------------------------------------------------------------------------------------------
# the pipeline: a store filled by a real search (a synthetic proxy evaluator, so nothing distils), then replays
def synthetic_proxy(cfg: Any, teacher: Any, dm: Any, budget: Any, teacher_ms: float) -> Any:
    def evaluate(arch: ArchSpec, seed: int) -> Measurement:
        size = arch.num_hidden_layers * arch.hidden_size * arch.intermediate_size / (16 * 32)
        speedup = 8.0 / size ** 0.5
        return Measurement(arch, "ok", loss=0.2 + 0.3 / size + 0.05 * (arch.hidden_act == "relu"),
                           latency_median_ms=teacher_ms / speedup, latency_p90_ms=1.1 * teacher_ms / speedup,
                           paired_speedup=speedup, wall_seconds=1.0)

    return evaluate


def base(store: Path, cache: Path) -> list[str]:
    """The tiny search on ``store``, its teacher outputs under ``cache`` (the extracted corpus where it always is)."""
    return ["experiment=tiny", "logger=none", f"search.shared_store={store}", f"paths.cache_dir={cache}",
            "data.corpus.cache_dir=null"]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared store holding 16 architectures of the tiny space, written by ``search.py`` itself."""
    from kdnas.pipelines import search as pipeline

    root = tmp_path_factory.mktemp("filled")
    store = root / "shared.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "proxy_evaluator", synthetic_proxy)
        pipeline.search(compose_config("search", [*base(store, root / "cache"), "controller=random",
                                                  "search.episodes=4", "search.candidates_per_episode=4"], root / "run"))
    return store


@pytest.fixture()
def no_teacher_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay's teacher raises on any forward; distilling or caching teacher outputs raises too."""
    from kdnas.pipelines import search as pipeline

    load = pipeline.load_teacher

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a replay ran the teacher, distilled or built the teacher-output cache")

    def teacher_without_forward(cfg: Any) -> Any:
        teacher = load(cfg)
        teacher.model.forward = forbidden
        return teacher

    monkeypatch.setattr(pipeline, "load_teacher", teacher_without_forward)
    monkeypatch.setattr(pipeline, "_REPLAY_INPUTS", {})  # no teacher loaded by an earlier test
    monkeypatch.setattr(pipeline, "proxy_evaluator", forbidden)
    monkeypatch.setattr(pipeline, "teacher_caches", forbidden)


def replay(filled: Path, out: Path, *overrides: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    from kdnas.pipelines.search import search

    summary = search(compose_config("search", [*base(filled, out / "cache"), "search.replay=true", *overrides],
                                    out / "run"))
    with open(out / "run" / "candidates.csv", newline="") as handle:
        return summary, list(csv.DictReader(handle))


@pytest.mark.usefixtures("no_teacher_work")
def test_a_replay_distils_nothing_and_is_deterministic_per_seed(filled: Path, tmp_path: Path) -> None:
    stored = {m.arch.arch_id: m for m in CandidateStore(filled).measurements(
        json.loads((filled.parent / "run" / "summary.json").read_text())["setting"])}
    assert len(stored) == 16
    summary, rows = replay(filled, tmp_path / "a", "controller=lstm", "search.seed=3", "search.episodes=3")
    assert len(rows) == 6 and {r["source"] for r in rows} == {"replayed"} and {r["arch_id"] for r in rows} <= set(stored)
    for r in rows:  # the stored side-by-side speed-ups, whatever the teacher time of this process
        assert float(r["speedup"]) == pytest.approx(stored[r["arch_id"]].paired_speedup, rel=1e-4)
    assert summary["replay"] is True and summary["distilled_this_session"] == 0
    products = [m.latency_median_ms * m.paired_speedup for m in stored.values()]
    assert summary["teacher_latency_ms"] == pytest.approx(statistics.median(products))
    assert not (tmp_path / "a" / "cache" / "teacher_outputs").exists() and not (tmp_path / "a" / "run" / "search.sqlite").exists()
    assert (tmp_path / "a" / "run" / "best_arch.yaml").is_file()

    _, again = replay(filled, tmp_path / "b", "controller=lstm", "search.seed=3", "search.episodes=3")
    assert again == rows  # the same seed: the same candidates, the same table
    _, other = replay(filled, tmp_path / "c", "controller=lstm", "search.seed=4", "search.episodes=3")
    assert [r["arch_id"] for r in other] != [r["arch_id"] for r in rows]


@pytest.mark.usefixtures("no_teacher_work")
def test_a_replay_says_when_the_store_lacks_architectures_or_the_budget_is_unmet(filled: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"holds 16 architectures .* fewer than the 20 this search evaluates") as info:
        replay(filled, tmp_path / "a", "search.episodes=10")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="holds no measurement of this setting"):
        replay(filled, tmp_path / "b", "search.replay_seed=1")  # no search ran with seed 1
    with pytest.raises(ConfigError, match="none of the 4 measured candidates meets") as info:
        replay(filled, tmp_path / "c", "latency_budget.speedup=100000")
    assert "\n" not in str(info.value) and "relax latency_budget.speedup" in str(info.value)
    run = tmp_path / "c" / "run"
    assert (run / "candidates.csv").is_file() and (run / "recommendations.yaml").is_file()
    assert not (run / "best_arch.yaml").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best"] is None and summary["meeting_budget"] == 0 and "none of the 4" in summary["budget_unmet"]


def test_search_py_exits_2_with_one_line_when_no_candidate_meets_the_budget(filled: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "search.py", *base(filled, tmp_path / "cache"), "search.replay=true",
         "latency_budget.speedup=100000", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(errors) == 1 and "latency_budget tiny_1.3x: none of the 4 measured candidates meets" in errors[0]
    assert (tmp_path / "run" / "candidates.csv").is_file() and not (tmp_path / "run" / "best_arch.yaml").exists()


@pytest.mark.slow
def test_a_sweep_keeps_every_job_when_one_budget_is_unreachable(filled: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "search.py", "-m", *base(filled, tmp_path / "cache"), "search.replay=true",
         "latency_budget.speedup=100000,1.3", "controller=random,lstm", f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(list(sweep.glob("*/candidates.csv"))) == 4  # every job ran, the unreachable ones included
    assert len(list(sweep.glob("*/best_arch.yaml"))) == 2
    text = (sweep / "sweep_summary.md").read_text()
    assert text.count("none of the 4 measured candidates meets") == 2
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error: job")]) == 2


def test_measure_architectures_reuses_the_search_s_measurements_and_stores_new_ones(
        filled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What bench/proxy_fidelity.py measures its proxies with: the search's setting, store and evaluator."""
    import hydra

    from kdnas.pipelines import search as pipeline

    setting = json.loads((filled.parent / "run" / "summary.json").read_text())["setting"]
    shared = CandidateStore(filled)
    stored = {m.arch.arch_id: m for m in shared.measurements(setting)}
    cfg: Any = compose_config("search", base(filled, tmp_path / "cache"), tmp_path / "run")
    space = hydra.utils.instantiate(cfg.search_space, _convert_="all")
    known = [m.arch for m in list(stored.values())[:2]]
    new = next(a for a in space.all_valid() if a.arch_id not in stored)
    distilled: list[str] = []

    def counting(*args: Any) -> Any:
        evaluate = synthetic_proxy(*args)
        return lambda arch, seed: distilled.append(arch.arch_id) or evaluate(arch, seed)

    monkeypatch.setattr(pipeline, "proxy_evaluator", counting)
    key, found = pipeline.measure_architectures(cfg, [*known, new], tmp_path / "measure")
    assert key == setting
    assert [m.arch for m in found] == [*known, new] and all(m.ok for m in found)
    assert distilled == [new.arch_id]  # the search's measurements reused: the same setting key
    assert [m.loss for m in found[:2]] == [stored[a.arch_id].loss for a in known]
    assert shared.get(setting, new.arch_id) is not None  # stored where a replay of the setting reads it
    _, again = pipeline.measure_architectures(cfg, [new], tmp_path / "measure")
    assert distilled == [new.arch_id] and again[0].loss == found[2].loss
