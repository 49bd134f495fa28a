"""A Hydra callback that ends a multirun sweep of searches with one combined table.

Every job of ``python search.py -m latency_budget=cpu_3x,cpu_5x,cpu_7x`` writes its own outputs; at the end
of the sweep :func:`kdnas.nas.sweeps.summarise_sweep` reads them back and writes ``sweep_summary.md`` and
``sweep_recommendations.yaml`` in the sweep directory. A job whose budget no candidate met does not stop
the sweep (it ends normally, see :func:`kdnas.pipelines.search.unmet_budget`): the summary lists it, one line
each on stderr, and the sweep exits with status 2 once everything is written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from kdnas.nas.sweeps import summarise_sweep


class SweepSummaryCallback(Callback):
    """Hydra callback: at the end of a multirun, summarise every search job of the sweep."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        result = summarise_sweep(sweep_dir)
        if result is None:
            return
        table = Table(title=f"sweep {sweep_dir}")
        for col in result["jobs"][0]:
            table.add_column(col)
        for row in result["jobs"]:
            table.add_row(*(str(v) for v in row.values()))
        console = Console()
        console.print(table)
        console.print(f"combined recommendations: {sweep_dir / 'sweep_recommendations.yaml'}")
        for line in result["unmet"]:
            print(f"error: {line}", file=sys.stderr)
        if result["unmet"]:
            sys.exit(2)
