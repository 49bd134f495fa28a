"""End to end: ``python train.py experiment=tiny`` as a user runs it, and its bad-input paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]


def run_train(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"train.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train_tiny")
    run_train("experiment=tiny", f"hydra.run.dir={out}")
    return out


@pytest.mark.slow
def test_tiny_train_writes_a_plain_huggingface_student(tiny_run: Path) -> None:
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["steps"] == 10
    assert summary["architecture"]["hidden_size"] == 32
    assert 0 < summary["val_loss"] < 10 and summary["wall_seconds"] > 0
    # loadable with no kdnas import, in a fresh interpreter
    code = (
        "import sys, torch; from transformers import AutoModel, AutoTokenizer;"
        f"m = AutoModel.from_pretrained({str(tiny_run / 'student')!r}); t = AutoTokenizer.from_pretrained({str(tiny_run / 'student')!r});"
        "o = m(**t(['hello world'], return_tensors='pt')); print(tuple(o.last_hidden_state.shape)); "
        "assert 'kdnas' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(", 32)")
    assert (tiny_run / "student" / "kdnas_arch.yaml").is_file()
    assert (tiny_run / "checkpoints" / "last.ckpt").is_file()
    assert (tiny_run / "csv" / "metrics.csv").read_text().count("train/loss") >= 1


@pytest.mark.slow
def test_rerun_in_the_same_directory_resumes(tiny_run: Path) -> None:
    before = torch.load(tiny_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    run_train("experiment=tiny", f"hydra.run.dir={tiny_run}", "trainer.max_steps=14")
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert before == 10
    assert summary["resumed_from"].endswith("last.ckpt")
    assert summary["steps"] == 14
    model = AutoModel.from_pretrained(tiny_run / "student")
    tok = AutoTokenizer.from_pretrained(tiny_run / "student")
    assert model.config.vocab_size == len(tok)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["teacher=nope"], "teacher"),
        (["experiment=tiny", "arch.hidden_size=30", "arch.num_attention_heads=4"], "hidden_size"),
        (["experiment=tiny", "arch_file=/does/not/exist.yaml"], "/does/not/exist.yaml"),
        (["teacher=xlmr_base", "teacher.name_or_path=/no/such/teacher"], "teacher.name_or_path"),
        (["experiment=tiny", "data=text_files", "data.corpus.paths=[/no/such/*.txt]"], "data.paths"),
        (["experiment=tiny", "data=text_files"], "data.corpus.paths"),
        (["experiment=tiny", "distill.crosslingual_target=nope"], "distill.crosslingual_target"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = run_train(*args, f"hydra.run.dir={tmp_path}", check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]


def test_malformed_arch_file(tmp_path: Path) -> None:
    bad = tmp_path / "arch.yaml"
    bad.write_text("num_hidden_layers: [oops\n")
    proc = run_train("experiment=tiny", f"arch_file={bad}", f"hydra.run.dir={tmp_path}", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr


@pytest.mark.slow
def test_paired_training_with_every_extra_loss(tmp_path: Path) -> None:
    """Translation pairs + cross-lingual, sentence-relation and attention-relation losses, end to end."""
    run_train(
        "experiment=tiny", "data.paired=true", "distill.crosslingual_weight=1.0", "distill.relation_weight=0.5",
        "distill.attention_weight=1.0", "distill.attention_relation_heads=2", "trainer.max_steps=4",
        f"hydra.run.dir={tmp_path}",
    )
    header = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0]
    for part in ("hidden", "relation", "crosslingual", "attention"):
        assert f"train/{part}_loss" in header
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 4


@pytest.mark.slow
def test_train_without_any_logger(tmp_path: Path) -> None:
    """logger=none: no logger, and the callbacks that need one (the learning-rate monitor) stay out."""
    run_train("experiment=tiny", "logger=none", "trainer.max_steps=2", f"hydra.run.dir={tmp_path}")
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 2 and not (tmp_path / "csv").exists()
