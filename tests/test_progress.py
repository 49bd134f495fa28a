"""What a user sees while it runs: plain progress lines when stdout is not a terminal, the leaderboard at 80
columns, and no third-party noise (Lightning's litlogger tip, the LeafSpec deprecation warning)."""

from __future__ import annotations

import io
import logging
import math
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import RichProgressBar
from rich.console import Console

from kdnas.distill.progress import PlainProgress, format_duration, progress_bar
from kdnas.models.arch import ArchSpec
from kdnas.nas.callbacks.console import ConsoleReport, candidate_line, leaderboard_table
from kdnas.nas.results import Candidate
from kdnas.nas.store import Measurement

ROOT = Path(__file__).resolve().parents[1]
TRAIN_LINE = re.compile(r"^step (\d+)/(\d+) \((\d+)%\) loss \d+\.\d{4}( val \d+\.\d{4})? elapsed \S+( remaining \S+)?$")
SEARCH_LINE = re.compile(r"^episode (\d+)/(\d+) candidate (\d+)/(\d+) L\d+-H\d+-A\d+-F\d+-\w+ "
                         r"(loss \d+\.\d{4} \d+\.\dx reward \d+\.\d{4}( infeasible)?|failed.*) elapsed \S+( remaining \S+)?$")


class FakeClock:
    """Advances ``step`` seconds each time it is read."""

    def __init__(self, step: float, start: float = 100.0) -> None:
        self.now, self.step = start - step, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def fake_trainer(step: int = 0, max_steps: int = 600, **kwargs: Any) -> SimpleNamespace:
    values = {"global_step": step, "max_steps": max_steps, "progress_bar_metrics": {}, "is_global_zero": True,
              "sanity_checking": False, "estimated_stepping_batches": math.inf, **kwargs}
    return SimpleNamespace(**values)


def drive(bar: PlainProgress, trainer: SimpleNamespace, clock: list[float], steps: range,
          losses: dict[int, float] | None = None) -> None:
    """on_train_start at ``clock[0]``, then one batch per step at the next clock values, then on_train_end."""
    times = iter(clock)
    bar.clock = lambda: next(times)
    bar.on_train_start(trainer, None)  # type: ignore[arg-type]
    for step in steps:
        trainer.global_step = step
        trainer.progress_bar_metrics = {"train/loss": torch.tensor((losses or {}).get(step, 0.5))}
        bar.on_train_batch_end(trainer, None, None, None, step)  # type: ignore[arg-type]
    bar.on_train_end(trainer, None)  # type: ignore[arg-type]


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 4.6, 59.4, 62, 250, 3599, 3600, 7500, -3)] == [
        "0s", "5s", "59s", "1m02s", "4m10s", "59m59s", "1h00m", "2h05m", "0s"]


def test_plain_progress_prints_every_n_seconds_and_at_the_end() -> None:
    out = io.StringIO()
    bar = PlainProgress(every_seconds=30, stream=out)
    # start at t=0; step s ends at t = 10 s (step 1..6): lines at steps 3 (30 s) and 6 (60 s), end at step 7
    clock = [0.0, *(10.0 * s for s in range(1, 8)), 72.0]
    drive(bar, fake_trainer(max_steps=60), clock, range(1, 8), losses={3: 0.81234, 6: 0.7, 7: 0.65})
    assert out.getvalue().splitlines() == [
        "step 3/60 (5%) loss 0.8123 elapsed 30s remaining 9m30s",
        "step 6/60 (10%) loss 0.7000 elapsed 1m00s remaining 9m00s",
        "step 7/60 (12%) loss 0.6500 elapsed 1m12s remaining 9m05s",  # on_train_end
    ]
    assert all(TRAIN_LINE.match(line) for line in out.getvalue().splitlines())
    hours = PlainProgress(stream=out)
    hours._started = 0.0
    assert hours.line(fake_trainer(step=3, max_steps=600), 30.0) == "step 3/600 (0%) elapsed 30s remaining 1h39m"


def test_plain_progress_the_last_line_once_val_loss_and_resume() -> None:
    out = io.StringIO()
    bar = PlainProgress(every_seconds=5, stream=out)
    trainer = fake_trainer(step=100, max_steps=120)  # resumed at step 100: the rate counts this session's steps
    times = iter([0.0, 10.0, 12.0, 20.0])
    bar.clock = lambda: next(times)
    bar.on_train_start(trainer, None)  # type: ignore[arg-type]
    trainer.global_step, trainer.progress_bar_metrics = 110, {"train/loss": 0.5, "val/loss": 0.25}
    bar.on_train_batch_end(trainer, None, None, None, 0)  # type: ignore[arg-type]
    trainer.global_step = 120
    bar.on_train_batch_end(trainer, None, None, None, 1)  # type: ignore[arg-type]  # 2 s later: no line
    bar.on_train_end(trainer, None)  # type: ignore[arg-type]
    bar.on_train_end(trainer, None)  # type: ignore[arg-type]  # the same step twice: one line
    assert out.getvalue().splitlines() == [
        "step 110/120 (92%) loss 0.5000 val 0.2500 elapsed 10s remaining 10s",
        "step 120/120 (100%) loss 0.5000 val 0.2500 elapsed 20s remaining 0s",
    ]


def test_plain_progress_unknown_total_other_ranks_and_sanity_check() -> None:
    out = io.StringIO()
    bar = PlainProgress(every_seconds=1, stream=out)
    drive(bar, fake_trainer(max_steps=-1), [0.0, 5.0, 6.0], range(1, 2))
    assert out.getvalue().splitlines() == ["step 1 loss 0.5000 elapsed 5s"]
    for kwargs in ({"is_global_zero": False}, {"sanity_checking": True}):
        quiet = PlainProgress(every_seconds=1, stream=out)
        drive(quiet, fake_trainer(**kwargs), [0.0, 5.0, 10.0, 15.0], range(1, 3))
    disabled = PlainProgress(every_seconds=1, stream=out)
    disabled.disable()
    drive(disabled, fake_trainer(), [0.0, 5.0, 10.0], range(1, 2))
    assert len(out.getvalue().splitlines()) == 1
    with pytest.raises(ValueError, match="every_seconds"):
        PlainProgress(every_seconds=0)


class TinyModule(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 4)), batch_size=4)


def test_plain_progress_in_a_real_trainer(tmp_path: Path) -> None:
    out = io.StringIO()
    bar = PlainProgress(every_seconds=25, clock=FakeClock(10.0, start=0.0), stream=out)  # 10 s per step
    trainer = L.Trainer(max_steps=6, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_model_summary=False, callbacks=[bar], default_root_dir=tmp_path)
    trainer.fit(TinyModule())
    assert trainer.progress_bar_callback is bar  # Lightning adds no bar of its own
    lines = out.getvalue().splitlines()
    assert [line.split(" loss ")[0] for line in lines] == ["step 3/6 (50%)", "step 6/6 (100%)"]
    assert lines[0].endswith("elapsed 30s remaining 30s") and lines[1].endswith("elapsed 1m00s remaining 0s")
    assert all(TRAIN_LINE.match(line) for line in lines), lines


def test_progress_bar_rich_in_a_terminal_plain_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert isinstance(progress_bar(), RichProgressBar)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    plain = progress_bar(every_seconds=7)
    assert isinstance(plain, PlainProgress) and plain.every_seconds == 7


def candidate(arch: ArchSpec, status: str = "ok", feasible: bool = True, loss: float = 0.81234,
              ms: float = 12.3456, reward: float = 0.5234, speedup: float = 9.25) -> Candidate:
    m = Measurement(arch, status, loss=loss if status == "ok" else math.nan,
                    latency_median_ms=ms if status == "ok" else math.nan, parameters=118_000_000,
                    parameters_without_embeddings=21_290_000, reason="" if status == "ok" else "RuntimeError: boom")
    ok = status == "ok"
    return Candidate(m, 0, "distilled", reward if ok else math.nan, speedup if ok else math.nan, feasible)


def test_console_report_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80)
    assert not console.is_terminal
    report = ConsoleReport("tiny budget", console=console, clock=FakeClock(10.0, start=0.0))
    search = SimpleNamespace(episodes=2, candidates_per_episode=2)
    archs = [ArchSpec(2, 384, 12, 512, "gelu"), ArchSpec(1, 32, 1, 32, "relu"), ArchSpec(12, 384, 12, 1536, "silu"),
             ArchSpec(4, 256, 4, 1024, "gelu")]
    made = [candidate(archs[0]), candidate(archs[1], status="failed"), candidate(archs[2], feasible=False),
            candidate(archs[3])]
    report.on_search_start(search)  # type: ignore[arg-type]
    for episode in range(2):
        report.on_episode_start(search, episode, [None, None])  # type: ignore[arg-type, list-item]
        for slot in range(2):
            c = made[2 * episode + slot]
            report.on_candidate_start(search, episode, slot, c.arch)  # type: ignore[arg-type]
            report.on_candidate_end(search, c)  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert lines == [
        "episode 1/2 candidate 1/2 L2-H384-A12-F512-gelu loss 0.8123 9.2x reward 0.5234 elapsed 10s remaining 30s",
        "episode 1/2 candidate 2/2 L1-H32-A1-F32-relu failed: RuntimeError: boom elapsed 20s remaining 20s",
        "episode 2/2 candidate 1/2 L12-H384-A12-F1536-silu loss 0.8123 9.2x reward 0.5234 infeasible elapsed 30s "
        "remaining 10s",
        "episode 2/2 candidate 2/2 L4-H256-A4-F1024-gelu loss 0.8123 9.2x reward 0.5234 elapsed 40s",
    ]
    assert all(SEARCH_LINE.match(line) for line in lines), lines
    assert report.progress is None


def test_console_report_a_progress_bar_in_a_terminal() -> None:
    out = io.StringIO()
    report = ConsoleReport(console=Console(file=out, width=100, force_terminal=True))
    search = SimpleNamespace(episodes=1, candidates_per_episode=1)
    c = candidate(ArchSpec(2, 384, 12, 512, "gelu"))
    report.on_search_start(search)  # type: ignore[arg-type]
    report.on_candidate_start(search, 0, 0, c.arch)  # type: ignore[arg-type]
    report.on_candidate_end(search, c)  # type: ignore[arg-type]
    assert report.progress is not None
    report.progress.stop()
    assert "reward 0.5234 elapsed" not in out.getvalue()
    assert candidate_line(c, "1/1", "1/1") == "episode 1/1 candidate 1/1 L2-H384-A12-F512-gelu loss 0.8123 9.2x reward 0.5234"


def test_leaderboard_fits_80_columns_with_one_header_line() -> None:
    widest = [candidate(ArchSpec(12, 768, 12, 3072, "silu"), ms=1234.5678, speedup=10.04, feasible=False),
              candidate(ArchSpec(12, 384, 12, 1536, "gelu"), status="failed")]
    many = widest + [candidate(ArchSpec(layers, 384, 12, 1536, "relu"), reward=0.1 * layers) for layers in range(1, 9)]
    console = Console(width=80, record=True)
    console.print(leaderboard_table(many, teacher_ms=123.456))
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text  # nothing cut
    header = next(line for line in lines if line.lstrip().startswith("#"))
    assert header.split() == ["#", "architecture", "params", "loss", "ms", "×", "reward", "status"]
    assert lines[lines.index(header) + 1].strip().startswith("─")  # the header is one line, then the rule
    assert "L12-H768-A12-F3072-silu" in text and "1234.57" in text and "infeasible" in text and "failed" in text


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_quiet_third_party_silences_only_lightning_noise() -> None:
    from kdnas.pipelines.common import LIGHTNING_RANK_ZERO_LOGGERS, quiet_third_party

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party()
        quiet_third_party()  # idempotent
        from lightning.pytorch.utilities._pytree import _tree_flatten

        _tree_flatten({"a": 1})  # Lightning's own LeafSpec(): silenced
        warnings.warn("LeafSpec in the user's code", FutureWarning, stacklevel=1)  # not
        warnings.warn("a user warning", UserWarning, stacklevel=1)
    messages = [str(w.message) for w in caught]
    assert not any("is deprecated, use" in m for m in messages), messages
    assert "LeafSpec in the user's code" in messages and "a user warning" in messages
    for name in LIGHTNING_RANK_ZERO_LOGGERS:
        assert sum(type(f).__name__ == "_NoLightningTips" for f in logging.getLogger(name).filters) == 1
    from lightning.pytorch.utilities.rank_zero import rank_zero_info

    logger, records = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGERS[0]), Records()
    level, logger.level = logger.level, logging.INFO
    logger.addHandler(records)
    try:  # the messages Lightning 2.6 logs on every Trainer: the tip goes, the rest stays
        rank_zero_info("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]")
        rank_zero_info("GPU available: False, used: False")
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    assert records.messages == ["GPU available: False, used: False"]


def run_entry(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


def assert_no_noise(proc: subprocess.CompletedProcess[str]) -> None:
    both = proc.stdout + proc.stderr
    assert "litlogger" not in both and "💡" not in both
    assert "LeafSpec" not in both
    assert "━" not in proc.stdout  # no rich bar in a log file


@pytest.mark.slow
def test_train_in_a_log_file_prints_plain_progress(tmp_path: Path) -> None:
    proc = run_entry("train.py", "experiment=tiny", "logger=csv", f"hydra.run.dir={tmp_path}",
                     "callbacks.progress.every_seconds=1")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("step ")]
    assert lines and all(TRAIN_LINE.match(line) for line in lines), proc.stdout
    assert lines[-1].startswith("step 10/10 (100%) loss ") and lines[-1].endswith("remaining 0s")
    assert_no_noise(proc)


@pytest.mark.slow
def test_search_in_a_log_file_prints_one_line_per_candidate(tmp_path: Path) -> None:
    proc = run_entry("search.py", "experiment=tiny", "logger=none", f"hydra.run.dir={tmp_path}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("episode ")]
    assert len(lines) == 4 and all(SEARCH_LINE.match(line) for line in lines), proc.stdout
    assert [line.split(" L")[0] for line in lines] == [
        f"episode {e}/2 candidate {s}/2" for e in (1, 2) for s in (1, 2)]
    assert "architecture" in proc.stdout and max(len(line) for line in proc.stdout.splitlines()
                                                 if "│" in line or "─" in line) <= 80
    assert_no_noise(proc)
