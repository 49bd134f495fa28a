"""What a user sees while a Trainer runs: rich bars in a terminal, plain periodic lines in a log file.

In a log file (Slurm, ``> train.log``) a progress bar is either nothing or a stream of control characters;
:class:`PlainProgress` prints one line every ``every_seconds`` and one at the end instead::

    step 120/600 (20%) loss 0.8123 elapsed 1m02s remaining 4m10s

:func:`progress_bar` is the one place that chooses between the two (``conf/callbacks/default.yaml`` targets
it); :func:`format_duration` is shared with the search's console report.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from typing_extensions import override


def format_duration(seconds: float) -> str:
    """``45s``, ``1m02s``, ``2h05m``: a duration as a user reads it in a log line."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def progress_bar(every_seconds: float = 30.0) -> ProgressBar:
    """Lightning's :class:`RichProgressBar` when stdout is a terminal, else :class:`PlainProgress`."""
    isatty = getattr(sys.stdout, "isatty", None)
    if isatty is not None and isatty():
        return RichProgressBar()
    return PlainProgress(every_seconds=every_seconds)


class PlainProgress(ProgressBar):
    """One plain line of training progress every ``every_seconds`` seconds and one when training ends.

    Rank zero only; nothing during the sanity check or validation. The remaining time extrapolates the steps
    of this session (a resumed run starts counting at its checkpoint's step).

    Args:
        every_seconds: seconds between two lines (> 0).
        loss_key: the logged training loss shown as ``loss``.
        val_key: the logged validation loss, shown as ``val`` once there is one.
        clock: seconds of a monotonic clock (tests pass a fake one).
        stream: where to print (default: ``sys.stdout`` at the time of printing).
    """

    def __init__(
        self,
        every_seconds: float = 30.0,
        loss_key: str = "train/loss",
        val_key: str = "val/loss",
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        if not every_seconds > 0:
            raise ValueError(f"PlainProgress: every_seconds must be > 0, got {every_seconds}")
        self.every_seconds = float(every_seconds)
        self.loss_key = loss_key
        self.val_key = val_key
        self.clock = clock
        self.stream = stream
        self._enabled = True
        self._started: float | None = None
        self._start_step = 0
        self._last_time = 0.0
        self._last_step: int | None = None

    @override
    def disable(self) -> None:
        self._enabled = False

    @override
    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    @override
    def print(self, *args: Any, **kwargs: Any) -> None:
        if self._enabled:
            print(*args, file=self.stream or sys.stdout, flush=True, **kwargs)

    def _active(self, trainer: L.Trainer) -> bool:
        return self._enabled and trainer.is_global_zero and not trainer.sanity_checking

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = self._last_time = self.clock()
        self._start_step = trainer.global_step
        self._last_step = None

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not self._active(trainer) or self._started is None:
            return
        now = self.clock()
        if now - self._last_time >= self.every_seconds:
            self._report(trainer, now)

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._active(trainer) and self._started is not None and self._last_step != trainer.global_step:
            self._report(trainer, self.clock())

    def total_steps(self, trainer: L.Trainer) -> float:
        """The step training ends at (``inf`` when unknown)."""
        if trainer.max_steps is not None and trainer.max_steps > 0:
            return float(trainer.max_steps)
        try:
            return float(trainer.estimated_stepping_batches)
        except Exception:  # an iterable without a length
            return math.inf

    def line(self, trainer: L.Trainer, now: float) -> str:
        """``step 120/600 (20%) loss 0.8123 elapsed 1m02s remaining 4m10s`` at clock time ``now``."""
        step, total = trainer.global_step, self.total_steps(trainer)
        elapsed = now - (self._started if self._started is not None else now)
        parts = [f"step {step}/{int(total)} ({100 * step / total:.0f}%)" if math.isfinite(total) and total > 0
                 else f"step {step}"]
        metrics = trainer.progress_bar_metrics
        for name, key in (("loss", self.loss_key), ("val", self.val_key)):
            if key in metrics:
                parts.append(f"{name} {float(metrics[key]):.4f}")
        parts.append(f"elapsed {format_duration(elapsed)}")
        done = step - self._start_step
        if math.isfinite(total) and done > 0:
            parts.append(f"remaining {format_duration(max(0.0, total - step) * elapsed / done)}")
        return " ".join(parts)

    def _report(self, trainer: L.Trainer, now: float) -> None:
        self.print(self.line(trainer, now))
        self._last_time, self._last_step = now, trainer.global_step
