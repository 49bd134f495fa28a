"""What a user watching the terminal sees: a progress bar over candidates, then the leaderboard and the best."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from kdnas.models.arch import ArchSpec
from kdnas.nas.controllers import Proposal
from kdnas.nas.loop import Search, SearchCallback, SearchResult
from kdnas.nas.results import Candidate, rank_order


def leaderboard_table(candidates: Sequence[Candidate], teacher_ms: float, n: int = 10) -> Table:
    """The ``n`` best candidates (:func:`kdnas.nas.results.rank_order`) as a rich table."""
    table = Table(title=f"KD-NAS leaderboard (teacher {teacher_ms:.2f} ms)")
    for col in ("#", "architecture", "params (no emb.)", "loss", "ms", "speed-up", "reward", "status"):
        left = col in ("architecture", "status")
        table.add_column(col, justify="left" if left else "right", no_wrap=left)
    order = rank_order([c.reward for c in candidates], [c.measurement.loss for c in candidates])
    for i, j in enumerate(order[:n], 1):
        c, m = candidates[j], candidates[j].measurement
        table.add_row(
            str(i), c.arch.short_name, f"{m.parameters_without_embeddings / 1e6:.2f}M",
            f"{m.loss:.4f}" if c.ok else "-", f"{m.latency_median_ms:.2f}" if c.ok else "-",
            f"{c.speedup:.1f}x" if c.ok else "-", f"{c.reward:.4f}" if c.ok else "-", c.status,
        )
    return table


class ConsoleReport(SearchCallback):
    """A rich progress bar over the search's candidates; at the end, the leaderboard, the budget and the best.

    Args:
        describe_budget: the budget in words (printed under the leaderboard).
        console: where to print (default: a new rich console on stdout).
    """

    def __init__(self, describe_budget: str = "", console: Console | None = None) -> None:
        self.describe_budget = describe_budget
        self.console = console or Console()
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def on_search_start(self, search: Search) -> None:
        columns = [TextColumn("[bold]episode {task.fields[episode]}[/] candidate {task.fields[slot]}"),
                   TextColumn("{task.fields[arch]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
        self.progress = Progress(*columns, console=self.console, transient=False)
        self.progress.start()
        total = search.episodes * search.candidates_per_episode
        self.task = self.progress.add_task("search", total=total, episode="-", slot="-", arch="")
        self._slots = search.candidates_per_episode

    def on_episode_start(self, search: Search, episode: int, proposals: Sequence[Proposal]) -> None:
        self._slots = len(proposals)

    def on_candidate_start(self, search: Search, episode: int, slot: int, arch: ArchSpec) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, episode=f"{episode + 1}/{search.episodes}",
                                 slot=f"{slot + 1}/{self._slots}", arch=arch.short_name)

    def on_candidate_end(self, search: Search, candidate: Candidate) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)

    def on_search_end(self, search: Search, result: SearchResult) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=len(result.candidates))
            self.progress.stop()
        self.console.print(leaderboard_table(result.candidates, result.teacher_ms))
        if self.describe_budget:
            self.console.print(f"budget {self.describe_budget}")
        winner = result.best
        if winner is not None:
            self.console.print(f"best: [bold]{winner.arch.short_name}[/] reward {winner.reward:.4f}, "
                               f"{winner.speedup:.1f}x, loss {winner.measurement.loss:.4f}")
