"""``python search.py latency_budget=cpu_7x``: config -> the objects of a search -> :class:`kdnas.nas.loop.Search`.

The episode loop itself is :mod:`kdnas.nas.loop` (usable without Hydra); this module only builds what it
needs from the config (space, budget, controller, teacher, proxy data, stores, evaluator, callbacks), runs
it and writes ``summary.json``. Re-running with the same ``hydra.run.dir`` resumes from the run's
``search.sqlite``, distilling nothing twice. ``search.replay=true`` replays the search against the shared
store's measurements of the same setting instead (:mod:`kdnas.nas.replay`): nothing distilled, no teacher
forward. A search none of whose candidates meets the budget writes its outputs, then ends with one line and
exit status 2 (in a multirun the job ends normally and the sweep summary reports it).
``search.proxy_paired=true`` distils the candidates on the proxy split's translation pairs (the final recipe's
batches and cross-lingual loss), both sides' teacher states read from the cache: another store setting.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from kdnas.data.corpus import Corpus, texts_fingerprint
from kdnas.data.datamodule import DistillDataModule
from kdnas.data.teacher_cache import TeacherCache, build_teacher_cache
from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.models.teacher import Teacher
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.callbacks import ConsoleReport, LoggerCallback, OutputWriter
from kdnas.nas.controllers import Controller
from kdnas.nas.evaluator import ProxyEvaluator
from kdnas.nas.loop import Evaluator, Search, SearchCallback
from kdnas.nas.reference import check_budget_reachable, teacher_latency
from kdnas.nas.replay import ReplayTable
from kdnas.nas.results import budget_unmet
from kdnas.nas.seeds import largest_seeds, teacher_shaped_seeds, untrained_ms
from kdnas.nas.space import SearchSpace
from kdnas.nas.store import CandidateStore, Measurement, owner_name, setting_key
from kdnas.nas.stored_evaluator import StoredEvaluator
from kdnas.pipelines.common import (
    build_loggers,
    finish_wandb,
    load_corpus,
    load_teacher,
    make_datamodule,
    output_dir,
    resolve_latency_profile,
)
from kdnas.pipelines.schemas.search import PROXY_OBJECTIVES, check_search_settings
from kdnas.utils.distributed import global_rank, is_global_zero
from kdnas.utils.io import write_json
from kdnas.utils.paths import cache_root

log = logging.getLogger(__name__)


def cache_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.cache_dir) if cfg.paths.cache_dir else cache_root()


def teacher_caches(cfg: DictConfig, teacher: Teacher, dm: DistillDataModule) -> dict[str, TeacherCache]:
    """Teacher states of the proxy (train role) and proxy-validation splits, computed once, shared. A paired proxy
    needs those of every pair's two sides: for gettext its split's texts already, so the same cache."""
    caches = {}
    for role in ("train", "validation"):
        ids, fingerprint = dm.cache_inputs(role)
        caches[role] = build_teacher_cache(
            cache_dir(cfg) / "teacher_outputs", teacher.model, teacher.cache_key, ids, fingerprint, dm.max_length,
            dm.pad_id, batch_size=cfg.data.eval_batch_size,
        )
    return caches


def pairs_fingerprint(corpus: Corpus, split: str) -> str:
    """A hash of a split's translation pairs (which texts a paired batch puts side by side)."""
    return texts_fingerprint(f"{p.source}\t{p.translation}\t{p.language}" for p in corpus.pairs(split))


def setting(cfg: DictConfig, teacher: Teacher, dm: DistillDataModule, budget: LatencyBudget) -> str:
    """The store key: everything that determines a candidate's measured loss and latency (not the target). A
    single-text proxy keeps the key it always had; a paired one adds its pairs."""
    parts: dict[str, Any] = {
        "teacher": teacher.cache_key,
        "proxy": dm.corpus.fingerprint(dm.split_names["train"]),
        "validation": dm.corpus.fingerprint(dm.split_names["validation"]),
        "max_length": dm.max_length,
        "batch_size": dm.batch_size,
        "distill": OmegaConf.to_container(cfg.distill, resolve=True),
        "student": OmegaConf.to_container(cfg.student_init, resolve=True),
        "steps": cfg.search.proxy_steps,
        "profile": budget.profile.to_dict(),
        "paired_latency": bool(cfg.search.paired_latency),
        # a replay reads the measurements of search.replay_seed, whatever seed its controller has
        "seed": cfg.search.replay_seed if cfg.search.replay else cfg.search.seed,
    }
    if cfg.search.proxy_paired:
        parts["proxy_pairs"] = pairs_fingerprint(dm.corpus, dm.split_names["train"])
    if cfg.search.proxy_objective != "hidden":  # the hidden-state loss keeps the key it always had
        parts["objective"] = cfg.search.proxy_objective
    return setting_key(parts)


def proxy_datamodule(cfg: DictConfig, corpus: Corpus, teacher: Teacher) -> DistillDataModule:
    """The proxy split as ``train`` (its translation pairs with ``search.proxy_paired=true``), the validation split
    as ``validation``."""
    paired = bool(cfg.search.proxy_paired)
    if paired and not corpus.pairs("proxy"):
        raise ConfigError(f"search.proxy_paired=true but corpus {corpus.name!r} has no translation pairs in its proxy "
                          "split: use data=gettext, or set search.proxy_paired=false")
    return make_datamodule(cfg, corpus, teacher, train_split="proxy", val_split="validation", paired=paired)


def shared_store(cfg: DictConfig) -> CandidateStore | None:
    """The store shared by every search over the same setting (``search.shared_store``: auto, a path, a
    database URL such as ``postgresql+psycopg://user@host/db``, or null)."""
    where = cfg.search.shared_store
    if not where:
        return None
    if where == "auto":
        return CandidateStore(cache_dir(cfg) / "candidate_store.sqlite")
    return CandidateStore(str(where))


def proxy_evaluator(cfg: DictConfig, teacher: Teacher, dm: DistillDataModule, budget: LatencyBudget,
                    teacher_ms: float) -> ProxyEvaluator:
    """Distils a candidate from the cached teacher states with the ``trainer`` group's Trainer (``max_steps``
    set to ``search.proxy_steps``)."""
    return ProxyEvaluator(
        build_student=lambda arch: hydra.utils.instantiate(cfg.student_init)(arch, teacher.model),
        build_module=lambda student: hydra.utils.instantiate(cfg.distill)(
            student=student, teacher=None, teacher_layers=teacher.num_layers, teacher_hidden_size=teacher.hidden_size
        ),
        datamodule=dm,
        profile=budget.profile,
        make_trainer=functools.partial(hydra.utils.instantiate, cfg.trainer, max_steps=cfg.search.proxy_steps),
        teacher_ms=teacher_ms,
        reference=teacher.model if cfg.search.paired_latency else None,
        retime_cv=cfg.search.retime_cv,
        retimes=cfg.search.retimes,
        objective=PROXY_OBJECTIVES[cfg.search.proxy_objective],
    )


@dataclass
class LiveMeasuring:
    """How a (non-replayed) search of one setting measures its candidates."""

    teacher: Teacher
    budget: LatencyBudget  # its latency profile resolved (``seq_len=corpus``: the dev split's texts)
    setting: str  # the store key of its measurements
    teacher_ms: float  # the teacher's latency under the budget's profile (stored in the run's store)
    evaluator: StoredEvaluator  # distils and times a candidate no store holds yet


def live_measuring(cfg: DictConfig, budget: LatencyBudget, store: CandidateStore, shared: CandidateStore | None,
                   out: Path) -> LiveMeasuring:
    """Load the teacher and corpus, cache the teacher's outputs on the proxy data and time the teacher: what
    distilling candidates needs."""
    teacher, corpus = load_teacher(cfg), load_corpus(cfg)
    dm = proxy_datamodule(cfg, corpus, teacher)
    dm.teacher_caches = teacher_caches(cfg, teacher, dm)
    budget = resolve_latency_profile(budget, teacher, dm.corpus)
    teacher_ms = teacher_latency(store, teacher.model, budget)
    key = setting(cfg, teacher, dm, budget)
    evaluator = StoredEvaluator(proxy_evaluator(cfg, teacher, dm, budget, teacher_ms), store, key, shared=shared,
                                owner=owner_name(out), lease_seconds=cfg.search.lease_seconds)
    return LiveMeasuring(teacher, budget, key, teacher_ms, evaluator)


def measure_architectures(cfg: DictConfig, archs: Sequence[ArchSpec], out: Path) -> tuple[str, list[Measurement]]:
    """Measure ``archs`` as a search of ``cfg`` measures its candidates (its proxy, its Trainer, its timing beside
    the teacher), outside any search: for benchmarks of the proxy (``bench/proxy_fidelity.py``) and paired tables
    (``bench/search_strategies.py --fill-like``). The run's store is ``out/search.sqlite`` (a rerun resumes); a
    measurement the shared store holds for the setting is reused. Returns the setting's store key and the
    measurements, in order."""
    check_search_settings(cfg.search)
    store = CandidateStore(out / "search.sqlite", key="hydra.run.dir")
    live = live_measuring(cfg, hydra.utils.instantiate(cfg.latency_budget), store, shared_store(cfg), out)
    return live.setting, [live.evaluator(arch, cfg.search.seed * 1000 + i) for i, arch in enumerate(archs)]


#: a replay's teacher and corpus by their settings: the jobs of a multirun of replays load them once
_REPLAY_INPUTS: dict[str, tuple[Teacher, Corpus]] = {}


def teacher_arch(config: Any) -> ArchSpec | None:
    """The teacher's architecture, as a latency reference for the controller (None: its config holds a value
    the space's architectures cannot, such as another activation; the latency model then goes without)."""
    try:
        return ArchSpec.of_config(config)
    except ConfigError:
        return None


def replay_inputs(cfg: DictConfig) -> tuple[Teacher, Corpus]:
    """The teacher and corpus of a replay, loaded once per process (a replay only reads them: it runs no forward
    and keeps only its last settings' pair), so comparing controllers over many seeds costs seconds a job."""
    key = OmegaConf.to_yaml(OmegaConf.create({"teacher": OmegaConf.to_container(cfg.teacher, resolve=True),
                                              "corpus": OmegaConf.to_container(cfg.data.corpus, resolve=True)}))
    if key not in _REPLAY_INPUTS:
        _REPLAY_INPUTS.clear()
        _REPLAY_INPUTS[key] = (load_teacher(cfg), load_corpus(cfg))
    return _REPLAY_INPUTS[key]


def unmet_budget(line: str, out: Path) -> None:
    """No candidate meets the budget: one line and exit status 2 (:class:`ConfigError`), the outputs kept. In a
    multirun the job ends normally, so the other jobs run and the sweep summary lists it (and exits 2)."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        log.error("%s (outputs in %s)", line, out)
        return
    raise ConfigError(f"{line} (outputs in {out})")


def search(cfg: DictConfig) -> dict[str, Any]:
    """Run the configured search; returns the summary written to ``summary.json``."""
    started = time.time()
    s = cfg.search
    check_search_settings(s)
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):  # "GPU available..." once per candidate
        logging.getLogger(name).setLevel(logging.WARNING)
    out = output_dir(cfg)
    space: SearchSpace = hydra.utils.instantiate(cfg.search_space, _convert_="all")
    budget: LatencyBudget = hydra.utils.instantiate(cfg.latency_budget)
    controller: Controller = hydra.utils.instantiate(cfg.controller)(space=space)
    replaying = bool(s.replay)
    store = None if replaying else CandidateStore(out / "search.sqlite", key="hydra.run.dir")
    shared = shared_store(cfg)  # before the teacher loads: a bad store is one line, at once
    if replaying and shared is None:
        raise ConfigError("search.replay=true reads the measurements of the shared store, but search.shared_store "
                          "is null: set it to auto, a path or a database URL")
    L.seed_everything(s.seed, workers=True, verbose=False)

    table, stored = None, None
    evaluator: Evaluator
    if replaying:  # the stored side-by-side timings are the latency reference: the teacher runs nothing
        assert shared is not None
        teacher, corpus = replay_inputs(cfg)
        dm = proxy_datamodule(cfg, corpus, teacher)  # a replay needs no teacher outputs
        budget = resolve_latency_profile(budget, teacher, dm.corpus)
        key = setting(cfg, teacher, dm, budget)
        evaluator = table = ReplayTable.load(shared, key)
        table.require(space, s.episodes * s.candidates_per_episode)
        teacher_ms = table.teacher_ms
    else:
        assert store is not None
        live = live_measuring(cfg, budget, store, shared, out)
        teacher, budget, key, teacher_ms = live.teacher, live.budget, live.setting, live.teacher_ms
        evaluator = stored = live.evaluator
        if s.check_budget and not store.meta("budget_checked"):
            check_budget_reachable(space, teacher.model, budget, teacher_ms)
            store.set_meta("budget_checked", True)
    log.info("budget %s", budget.describe(teacher_ms))
    loggers = build_loggers(cfg) if is_global_zero() else []
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    limit = min(s.teacher_shaped_seeds, s.candidates_per_episode)

    def seeds() -> list[ArchSpec]:
        timed = (table.student_ms if table is not None
                 else untrained_ms(teacher.model, budget, teacher_ms, s.retime_cv, s.retimes))
        found = teacher_shaped_seeds(space, teacher.model, budget, teacher_ms, limit, student_ms=timed)
        if limit and not found:
            log.info("no teacher-shaped architecture of the space meets %s", budget.name)
        found += largest_seeds(space, teacher.model, budget, teacher_ms,
                               min(s.size_seeds, s.candidates_per_episode - len(found)),
                               exclude={a.arch_id for a in found}, student_ms=timed)
        return found

    callbacks: list[SearchCallback] = [OutputWriter(out), LoggerCallback(loggers, out, budget.name),
                                       ConsoleReport(budget.describe(teacher_ms))]
    result = Search(controller, evaluator, budget, teacher_ms, episodes=s.episodes,
                    candidates_per_episode=s.candidates_per_episode, seed=s.seed, seeds=seeds, journal=store,
                    callbacks=callbacks, pool=None if table is None else table.pool,
                    teacher_arch=teacher_arch(teacher.model.config)).run()
    if not is_global_zero():
        return {"rank": global_rank(), "candidates": len(result.candidates)}
    finish_wandb()
    winner = result.best
    unmet = None if winner is not None else budget_unmet(result.candidates, budget, teacher_ms)
    summary = {
        "budget": budget.name,
        "target_ms": budget.target_ms(teacher_ms),
        "teacher": teacher.name,
        "teacher_latency_ms": teacher_ms,
        "setting": key,  # the store key of its measurements (shared by every search of the same setting)
        "shared_store": None if shared is None else shared.where,
        "candidates": len(result.candidates),
        "distilled_this_session": 0 if stored is None else stored.distilled,
        "failed": sum(not c.ok for c in result.candidates),
        "replay": replaying,
        "meeting_budget": sum(c.ok and c.feasible for c in result.candidates),
        "best": None if winner is None else {**winner.row(), "arch": winner.arch.to_dict()},
        "budget_unmet": unmet,  # why no candidate is best, in one line
        "wall_seconds": round(time.time() - started, 1),
    }
    write_json(out / "summary.json", summary)
    if unmet is not None:
        unmet_budget(unmet, out)
    print(f"outputs: {out}")
    return summary
