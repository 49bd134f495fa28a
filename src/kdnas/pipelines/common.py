"""Wiring shared by the entry points: config -> objects, and clean exits on bad input."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import hydra
import lightning as L
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from kdnas.data.corpus import Corpus
from kdnas.data.datamodule import DistillDataModule
from kdnas.errors import ConfigError
from kdnas.latency.profile import with_real_inputs
from kdnas.models.arch import ArchSpec
from kdnas.models.teacher import Teacher
from kdnas.nas.budget import LatencyBudget

T = TypeVar("T")

#: the loggers Lightning's ``rank_zero_info`` writes to (its tips among them)
LIGHTNING_RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _NoLightningTips(logging.Filter):
    """Drops Lightning's "💡 Tip: ... try installing litlogger / litmodels" advertisements, nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip:")


def quiet_third_party() -> None:
    """Silence third-party messages that say nothing to the user, at their source (idempotent).

    - Lightning 2.6's tips (``💡 Tip: ... litlogger``, ``... litmodels``), logged at INFO by its
      ``rank_zero_info`` on every ``Trainer`` (there is no switch for them): a filter on those loggers only.
    - torch 2.13's ``FutureWarning`` that ``LeafSpec`` is deprecated, raised by Lightning's own
      ``lightning/pytorch/utilities/_pytree.py``: ignored for that module and that category only, so the
      same warning from the user's code, and every other warning, still shows.
    """
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"lightning\.pytorch\.utilities\._pytree")
    for name in LIGHTNING_RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoLightningTips) for f in logger.filters):
            logger.addFilter(_NoLightningTips())


def user_error(exc: BaseException) -> ConfigError | None:
    """The :class:`ConfigError` behind ``exc`` (Hydra wraps errors raised while instantiating)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConfigError):
            return current
        if isinstance(current, MissingMandatoryValue):
            key = getattr(current, "full_key", "") or "?"
            return ConfigError(f"{key} is required but not set: pass {key}=<value> on the command line")
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def clean_exit(task: Callable[[DictConfig], T]) -> Callable[[DictConfig], T]:
    """Bad input ends the job with one line on stderr and exit status 2, not a traceback.

    ``HYDRA_FULL_ERROR=1`` re-raises, as Hydra does for its own errors. Every entry point goes through it,
    so it is also where :func:`quiet_third_party` is called, once per job (also in a multirun's workers).
    """

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> T:
        quiet_third_party()
        try:
            return task(cfg)
        except (ConfigError, InstantiationException, OmegaConfBaseException) as exc:
            error = user_error(exc)
            if error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def load_teacher(cfg: DictConfig) -> Teacher:
    return hydra.utils.instantiate(cfg.teacher)


def load_corpus(cfg: DictConfig) -> Corpus:
    return hydra.utils.instantiate(cfg.data.corpus, _convert_="all")


def make_datamodule(cfg: DictConfig, corpus: Corpus, teacher: Teacher, **overrides: Any) -> DistillDataModule:
    """The ``data`` group's :class:`DistillDataModule` over ``corpus``, with the teacher's tokenizer and prefix."""
    # partial and not recursive: data.corpus stays a config here; the corpus object loaded once replaces it
    factory = hydra.utils.instantiate(cfg.data, _partial_=True, _recursive_=False)
    return factory(corpus=corpus, tokenizer=teacher.tokenizer, text_prefix=teacher.text_prefix, **overrides)


def resolve_latency_profile(budget: LatencyBudget, teacher: Teacher, corpus: Corpus) -> LatencyBudget:
    """``budget`` with its corpus profile's inputs (``latency_budget.profile.seq_len=corpus``) drawn from the
    corpus's dev split (``validation`` where a corpus has none), tokenised by the teacher with its text prefix;
    any other budget as it is. Called before anything is timed, so every timing of a run sees the same texts."""
    profile = budget.profile
    if not profile.is_corpus or profile.inputs:
        return budget
    split = "dev" if "dev" in corpus.splits else "validation"
    texts = corpus.texts(split)
    if not texts:
        raise ConfigError(f"latency_budget.profile.seq_len=corpus: the corpus's {split} split has no texts to time "
                          "on: give it some, or use a number of tokens (latency_budget.profile.seq_len=128)")
    positions = getattr(teacher.model.config, "max_position_embeddings", None)
    limits = [v for v in (teacher.tokenizer.model_max_length, positions)
              if isinstance(v, int) and v < 10**6]  # a tokenizer without a limit says 10**30
    real = with_real_inputs(profile, teacher.tokenizer, texts, prefix=teacher.text_prefix,
                            max_length=min(limits) if limits else 512)  # truncated as at inference
    return dataclasses.replace(budget, profile=real)


def resolve_arch(cfg: DictConfig) -> ArchSpec:
    """``arch_file`` when set, else the ``arch`` preset."""
    if cfg.get("arch_file"):
        return ArchSpec.from_yaml(Path(cfg.arch_file))
    if cfg.get("arch") is None:
        raise ConfigError("no architecture: pass arch=<preset> or arch_file=PATH.yaml")
    return ArchSpec.from_dict(OmegaConf.to_container(cfg.arch, resolve=True))  # type: ignore[arg-type]


def build_loggers(cfg: DictConfig) -> list[Any]:
    loggers = cfg.get("logger") or {}
    return [hydra.utils.instantiate(c) for c in loggers.values() if c is not None and "_target_" in c]


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    callbacks = cfg.get("callbacks") or {}
    return [hydra.utils.instantiate(c) for c in callbacks.values() if c is not None and "_target_" in c]


def output_dir(cfg: DictConfig) -> Path:
    path = Path(cfg.paths.output_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def finish_wandb() -> None:
    """End this job's W&B run, so the jobs of a Hydra multirun never merge into one run."""
    try:
        import wandb
    except ImportError:  # pragma: no cover - in requirements.txt
        return
    if wandb.run is not None:
        wandb.finish()
