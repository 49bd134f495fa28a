"""What a user watching the search sees: a progress bar over candidates in a terminal, one plain line per
finished candidate in a log file, then the leaderboard (80 columns wide) and the best."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from kdnas.distill.progress import format_duration
from kdnas.models.arch import ArchSpec
from kdnas.nas.controllers import Proposal
from kdnas.nas.loop import Search, SearchCallback, SearchResult
from kdnas.nas.results import Candidate, rank_order


def leaderboard_table(candidates: Sequence[Candidate], teacher_ms: float, n: int = 10) -> Table:
    """The ``n`` best candidates (:func:`kdnas.nas.results.rank_order`: those meeting the budget first) as a
    rich table that fits 80 columns."""
    table = Table(title=f"KD-NAS leaderboard (teacher {teacher_ms:.2f} ms)", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, collapse_padding=True,
                  caption="params: without embeddings; ×: speed-up over the teacher")
    for col in ("#", "architecture", "params", "loss", "ms", "×", "reward", "status"):
        left = col in ("architecture", "status")
        table.add_column(col, justify="left" if left else "right", no_wrap=True)
    order = rank_order([c.reward for c in candidates], [c.measurement.loss for c in candidates],
                       [c.feasible for c in candidates])
    for i, j in enumerate(order[:n], 1):
        c, m = candidates[j], candidates[j].measurement
        table.add_row(
            str(i), c.arch.short_name, f"{m.parameters_without_embeddings / 1e6:.2f}M",
            f"{m.loss:.4f}" if c.ok else "-", f"{m.latency_median_ms:.2f}" if c.ok else "-",
            f"{c.speedup:.1f}x" if c.ok else "-", f"{c.reward:.4f}" if c.ok else "-", c.status,
        )
    return table


def candidate_line(candidate: Candidate, episode: str, slot: str) -> str:
    """``episode 2/5 candidate 3/4 L2-H384-A12-F512-gelu loss 0.8123 9.2x reward 0.5234``, the log file's line."""
    head = f"episode {episode} candidate {slot} {candidate.arch.short_name}"
    if not candidate.ok:
        reason = candidate.measurement.reason or ""
        return f"{head} failed" + (f": {reason[:120]}" if reason else "")
    line = f"{head} loss {candidate.measurement.loss:.4f} {candidate.speedup:.1f}x reward {candidate.reward:.4f}"
    return line if candidate.feasible else f"{line} infeasible"


class ConsoleReport(SearchCallback):
    """Progress over the search's candidates; at the end, the leaderboard, the budget and the best.

    In a terminal (rich's ``Console.is_terminal``) a progress bar; otherwise (a log file, Slurm) one plain line
    per finished candidate (:func:`candidate_line` with the elapsed and remaining time).

    Args:
        describe_budget: the budget in words (printed under the leaderboard).
        console: where to print (default: a new rich console on stdout).
        clock: seconds of a monotonic clock, for the plain lines' times (tests pass a fake one).
    """

    def __init__(self, describe_budget: str = "", console: Console | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.describe_budget = describe_budget
        self.console = console or Console()
        self.clock = clock
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self._slots = 1
        self._where = ("-", "-")
        self._started = 0.0
        self._done = 0
        self._total = 0

    def on_search_start(self, search: Search) -> None:
        self._slots = search.candidates_per_episode
        self._total = search.episodes * search.candidates_per_episode
        self._started, self._done = self.clock(), 0
        if not self.console.is_terminal:
            return
        columns = [TextColumn("[bold]episode {task.fields[episode]}[/] candidate {task.fields[slot]}"),
                   TextColumn("{task.fields[arch]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
        self.progress = Progress(*columns, console=self.console, transient=False)
        self.progress.start()
        self.task = self.progress.add_task("search", total=self._total, episode="-", slot="-", arch="")

    def on_episode_start(self, search: Search, episode: int, proposals: Sequence[Proposal]) -> None:
        self._slots = len(proposals)

    def on_candidate_start(self, search: Search, episode: int, slot: int, arch: ArchSpec) -> None:
        self._where = (f"{episode + 1}/{search.episodes}", f"{slot + 1}/{self._slots}")
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, episode=self._where[0], slot=self._where[1], arch=arch.short_name)

    def on_candidate_end(self, search: Search, candidate: Candidate) -> None:
        self._done += 1
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)
            return
        elapsed = self.clock() - self._started
        times = f"elapsed {format_duration(elapsed)}"
        if self._total > self._done:
            times += f" remaining {format_duration((self._total - self._done) * elapsed / self._done)}"
        self._plain(f"{candidate_line(candidate, *self._where)} {times}")

    def on_search_end(self, search: Search, result: SearchResult) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=len(result.candidates))
            self.progress.stop()
        self.console.print(leaderboard_table(result.candidates, result.teacher_ms))
        if self.describe_budget:
            self.console.print(f"budget {self.describe_budget}", soft_wrap=True)
        winner = result.best
        if winner is not None:
            self.console.print(f"best: [bold]{winner.arch.short_name}[/] reward {winner.reward:.4f}, "
                               f"{winner.speedup:.1f}x, loss {winner.measurement.loss:.4f}", soft_wrap=True)
        else:
            self.console.print("best: none (no measured candidate meets the budget)", soft_wrap=True)

    def _plain(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        self.console.file.flush()
