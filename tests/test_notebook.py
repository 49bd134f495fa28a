"""notebooks/analysis.ipynb and kdnas.nas.analysis: unit tests on a synthetic run directory, then the notebook
executed (nbclient) on the outputs of a real ``experiment=tiny`` search."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kdnas.models.arch import ArchSpec
from kdnas.nas import analysis
from kdnas.nas.results import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "analysis.ipynb"


# --------------------------------------------------------------------------------------------------
# helpers
def _row(arch: tuple[int, int, int, int, str], loss: float | str, ms: float | str, reward: float | str,
         status: str, episode: int, teacher_ms: float = 10.0) -> dict[str, Any]:
    layers, hidden, heads, ffn, act = arch
    speedup = teacher_ms / ms if isinstance(ms, float) else ""
    return {
        "arch_id": f"{layers}{hidden}{heads}{ffn}{act}"[:12], "num_hidden_layers": layers, "hidden_size": hidden,
        "num_attention_heads": heads, "intermediate_size": ffn, "hidden_act": act, "parameters": 1000 * hidden,
        "parameters_without_embeddings": 100 * hidden, "loss": loss, "latency_median_ms": ms,
        "latency_p90_ms": ms, "latency_cv": 0.01 if ms != "" else "", "speedup": speedup, "reward": reward,
        "status": status, "episode": episode, "wall_seconds": 1.0, "source": "distilled",
        "reason": "boom" if status == "failed" else "",
    }


def _write_run(run_dir: Path, rows: list[dict[str, Any]]) -> Path:
    run_dir.mkdir(parents=True)
    with open(run_dir / "candidates.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return run_dir


SYNTHETIC = [  # teacher 10 ms; evaluation order = list order
    _row((1, 16, 1, 32, "gelu"), 0.50, 2.0, 0.40, "ok", 0),
    _row((2, 32, 2, 64, "gelu"), 0.30, 4.0, 0.60, "ok", 0),
    _row((4, 64, 2, 128, "relu"), 0.10, 8.0, 0.70, "infeasible", 1),
    _row((2, 16, 1, 64, "relu"), 0.45, 5.0, 0.30, "ok", 1),  # dominated by the second
    _row((1, 32, 1, 32, "relu"), "", "", "", "failed", 1),
    _row((1, 16, 2, 32, "relu"), 0.60, 1.0, 0.65, "ok", 2),
]


def _dominated(point: tuple[float, float], others: list[tuple[float, float]]) -> bool:
    """True if some other point is no slower and no worse, and better in one of the two."""
    return any(o[0] <= point[0] and o[1] <= point[1] and o != point for o in others)


def _check_front(df: pd.DataFrame) -> None:
    measured = analysis.measured(df)
    points = list(zip(measured["latency_median_ms"], measured["loss"], strict=True))
    front = analysis.pareto(df)
    front_points = list(zip(front["latency_median_ms"], front["loss"], strict=True))
    assert front_points and all(not _dominated(p, points) for p in front_points)
    assert list(front["latency_median_ms"]) == sorted(front["latency_median_ms"])
    for p in set(points) - set(front_points):  # everything else is dominated by (or equal to) the front
        assert any(f[0] <= p[0] and f[1] <= p[1] for f in front_points)


def _check_leaderboard(df: pd.DataFrame, n: int) -> pd.DataFrame:
    board = analysis.leaderboard(df, n=n)
    assert len(board) == min(n, len(df)) and list(board.index) == list(range(1, len(board) + 1))
    for meets in (True, False):  # those that meet the budget first, each group by reward
        rewards = [r for r, s in zip(board["reward"], board["status"], strict=True)
                   if not math.isnan(r) and (s == "ok") == meets]
        assert rewards == sorted(rewards, reverse=True)
    missed = list(board["status"] != "ok")
    assert missed == sorted(missed)
    failed = list(board["status"] == "failed")
    assert failed == sorted(failed)  # failed candidates last
    return board


# --------------------------------------------------------------------------------------------------
# unit tests on a synthetic run (fast)
def test_leaderboard_pareto_and_best_so_far_on_a_synthetic_run(tmp_path: Path) -> None:
    out = analysis.load_search(_write_run(tmp_path / "run", SYNTHETIC))
    df = out.candidates
    assert len(df) == 6 and df["architecture"].iloc[0] == "L1-H16-A1-F32-gelu"
    assert df["quality"].iloc[1] == pytest.approx(0.7)

    board = _check_leaderboard(df, n=10)
    # those meeting the budget first: the infeasible 0.70 ranks after every "ok" one, as in search.py's table
    assert list(board["architecture"][:2]) == ["L1-H16-A2-F32-relu", "L2-H32-A2-F64-gelu"]
    assert board["architecture"].iloc[4] == "L4-H64-A2-F128-relu"
    assert board["status"].iloc[-1] == "failed"
    assert len(analysis.leaderboard(df, n=3)) == 3

    _check_front(df)
    assert list(analysis.pareto(df)["architecture"]) == [
        "L1-H16-A2-F32-relu", "L1-H16-A1-F32-gelu", "L2-H32-A2-F64-gelu", "L4-H64-A2-F128-relu",
    ]

    best = out.best_so_far  # only status "ok" counts: the infeasible 0.70 never becomes the best
    assert list(best["evaluations"]) == [1, 2, 3, 4, 5, 6]
    assert list(best["best_reward"]) == [0.40, 0.60, 0.60, 0.60, 0.60, 0.65]
    assert math.isnan(best["reward"].iloc[2]) and math.isnan(best["reward"].iloc[4])

    # nothing but candidates.csv (a search still running): the teacher's latency is implied by the rows
    assert out.teacher_ms == pytest.approx(10.0)
    assert out.recommendations == {} and out.summary == {} and out.controller is None
    assert out.predictions.empty and list(out.predictions.columns) == list(analysis.PREDICTION_COLUMNS)
    assert "candidates: 6 (4 ok, 1 infeasible, 1 failed)" in out.describe()


def test_prediction_log_recommendations_and_plots_on_a_synthetic_run(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    run = _write_run(tmp_path / "run", SYNTHETIC)
    log = [{"episode": 1, "n": 3, "mse": 0.02, "spearman": 0.5}, {"episode": 2, "n": 1, "mse": 0.01, "spearman": math.nan}]
    torch.save({"format": 1, "class": "LSTMController", "prediction_log": log}, run / "controller.pt")
    (run / "summary.json").write_text(json.dumps({"budget": "cpu_2x", "target_ms": 5.0, "teacher_latency_ms": 9.5}))
    (run / "recommendations.yaml").write_text(
        "teacher_latency_ms: 9.5\nbudgets:\n  2x:\n    arch: {num_hidden_layers: 2, hidden_size: 32, "
        "num_attention_heads: 2, intermediate_size: 64, hidden_act: gelu}\n    arch_id: abc\n    loss: 0.3\n"
        "    latency_median_ms: 4.0\n    speedup: 2.375\n  10x: null\n"
    )
    out = analysis.load_search(run)
    assert out.controller == "LSTMController" and out.teacher_ms == 9.5 and out.target_ms == 5.0
    assert list(out.predictions["episode"]) == [1, 2] and out.predictions["mse"].iloc[0] == 0.02
    table = analysis.recommendations_table(out.recommendations)
    assert list(table.index) == ["2x", "10x"] and table.loc["2x", "architecture"] == "L2-H32-A2-F64-gelu"
    assert table.loc["2x", "quality"] == pytest.approx(0.7) and math.isnan(table.loc["10x", "loss"])

    ax = analysis.plot_pareto(out.candidates, out.teacher_ms, target_ms=out.target_ms)
    labels = ax.get_legend_handles_labels()[1]
    assert "Pareto front" in labels and any(label.startswith("teacher") for label in labels)
    fig = analysis.plot_learning_curve(out.predictions, out.best_so_far)
    assert len(fig.axes) == 3  # prediction error (+ its Spearman twin), best reward
    empty = analysis.plot_learning_curve(out.predictions.iloc[:0], out.best_so_far)
    assert "no predictions" in empty.axes[0].texts[0].get_text()
    plt.close("all")


def test_find_run_dir_latest_explicit_and_missing(tmp_path: Path) -> None:
    root = tmp_path / "outputs" / "search"
    for name in ("2026-01-02_10-00-00", "2026-01-10_09-00-00"):
        _write_run(root / name, SYNTHETIC[:1])
    (root / "2026-02-01_00-00-00").mkdir()  # started, nothing written yet: not a run to analyse
    assert analysis.find_run_dir(None, search_root=root).name == "2026-01-10_09-00-00"
    assert analysis.find_run_dir("", search_root=root).name == "2026-01-10_09-00-00"
    assert analysis.find_run_dir(root / "2026-01-02_10-00-00") == (root / "2026-01-02_10-00-00").resolve()
    with pytest.raises(FileNotFoundError, match=r"no candidates\.csv"):
        analysis.find_run_dir(root / "2026-02-01_00-00-00")
    with pytest.raises(FileNotFoundError, match="KDNAS_RUN_DIR"):
        analysis.find_run_dir(None, search_root=tmp_path / "nowhere")


# --------------------------------------------------------------------------------------------------
# on a real tiny search (slow)
@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("search")
    proc = subprocess.run(
        [sys.executable, "search.py", "experiment=tiny", "logger=none", f"hydra.run.dir={run_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        raise AssertionError(f"search.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return run_dir


@pytest.mark.slow
def test_analysis_functions_on_a_tiny_search(tiny_search: Path) -> None:
    out = analysis.load_search(tiny_search)
    summary = json.loads((tiny_search / "summary.json").read_text())
    assert len(out.candidates) == summary["candidates"] == 4
    assert out.teacher_ms == pytest.approx(summary["teacher_latency_ms"])
    assert out.target_ms == pytest.approx(summary["target_ms"])

    board = _check_leaderboard(out.candidates, n=10)
    assert board["arch_id"].iloc[0] == summary["best"]["arch_id"]
    _check_front(out.candidates)

    # the default controller (an MLP predictor) predicts from its second episode on: tiny has two
    assert out.controller == "MLPController"
    assert list(out.predictions.columns) == list(analysis.PREDICTION_COLUMNS)
    assert list(out.predictions["episode"]) == [1] and out.predictions["mse"].iloc[0] >= 0
    assert list(out.best_so_far["evaluations"]) == [1, 2, 3, 4]
    assert out.best_so_far["best_reward"].iloc[-1] == pytest.approx(summary["best"]["reward"])
    assert out.best_so_far["best_reward"].is_monotonic_increasing

    table = analysis.recommendations_table(out.recommendations)
    assert list(table.index) == ["2x", "3x", "5x", "7x", "10x"]


def _kernel_for_this_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make kernel ``python3`` run ``sys.executable`` (the venv) whatever kernelspecs the machine has."""
    from ipykernel.kernelspec import install

    install(prefix=str(tmp_path / "jupyter"), kernel_name="python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter" / "share" / "jupyter"))


@pytest.mark.slow
def test_notebook_executes_on_a_tiny_search(tiny_search: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "KDNAS_RUN_DIR" in tagged[0].source

    _kernel_for_this_interpreter(tmp_path, monkeypatch)
    monkeypatch.setenv("KDNAS_RUN_DIR", str(tiny_search))
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the Pareto front and the learning curve
    html = "".join(o["data"].get("text/html", "") for o in outputs if "data" in o)
    best = json.loads((tiny_search / "summary.json").read_text())["best"]
    assert ArchSpec.from_dict(best["arch"]).short_name in html  # the leaderboard was displayed
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"run: {tiny_search.resolve()}" in text
    assert nb.cells[-1].outputs[0]["text"].strip() == sys.executable
