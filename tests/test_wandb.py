"""W&B dashboards, read back from the offline run files: one run per job, candidates, plot, artifact."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import compose_config
from tests.wandb_reader import config_keys, history_keys, read_records, run_file


@pytest.mark.slow
def test_search_logs_candidates_plot_controller_and_best_artifact(tmp_path: Path) -> None:
    from kdnas.pipelines.search import search

    search(compose_config("search", ["experiment=tiny", "logger=wandb", "search.shared_store=null"], tmp_path))
    records = read_records(run_file(tmp_path))  # exactly one run for the job
    kinds = [r.WhichOneof("record_type") for r in records]
    assert "exit" in kinds  # finished at the job's end
    keys = set().union(*history_keys(records))
    assert {"candidate/reward", "candidate/loss", "candidate/latency_ms", "candidates/_type", "pareto/_type",
            "controller/mse", "controller/spearman"} <= keys
    assert sum("candidate/reward" in k for k in history_keys(records)) == 4  # one row per candidate
    assert {"search", "latency_budget", "controller"} <= config_keys(records)
    artifacts = [(r.artifact.name, r.artifact.type) for r in records if r.WhichOneof("record_type") == "artifact"]
    assert ("best_arch-tiny_1.3x", "architecture") in artifacts
    group = next(r.run.run_group for r in records if r.WhichOneof("record_type") == "run")
    assert group  # grouped (by sweep directory)


@pytest.mark.slow
def test_train_logs_losses_and_final_report(tmp_path: Path) -> None:
    from kdnas.pipelines.train import train

    train(compose_config("train", ["experiment=tiny", "logger=wandb"], tmp_path))
    records = read_records(run_file(tmp_path))
    keys = set().union(*history_keys(records))
    assert {"train/loss", "val/loss", "final/val_loss"} <= keys
    summary_keys = {i.key or "/".join(i.nested_key) for r in records if r.WhichOneof("record_type") == "summary"
                    for i in r.summary.update}
    assert "final/val_loss" in summary_keys and "final/parameters" in summary_keys
