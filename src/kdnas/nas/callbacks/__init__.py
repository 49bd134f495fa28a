"""Search callbacks, one per file: the progress bar and console report, the run directory's output files,
the experiment loggers (CSV, W&B). Import :mod:`kdnas.nas` modules, rich, Lightning loggers; never Hydra.
"""

from kdnas.nas.callbacks.console import ConsoleReport, leaderboard_table
from kdnas.nas.callbacks.loggers import LoggerCallback
from kdnas.nas.callbacks.outputs import OutputWriter

__all__ = ["ConsoleReport", "LoggerCallback", "OutputWriter", "leaderboard_table"]
