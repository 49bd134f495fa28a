"""``python search.py latency_budget=cpu_7x``: the KD-NAS episode loop.

Each episode the controller proposes ``search.candidates_per_episode`` unseen architectures (epsilon-greedy
over its predicted rewards); each is distilled on the proxy set from cached teacher states and timed
under the budget's latency profile; the true rewards train the controller. Every finished candidate is
written to the SQLite store at once, so re-running the same command with the same ``hydra.run.dir``
continues where a killed run stopped, distilling nothing twice.

Outputs in the run directory: ``candidates.csv``, ``best_arch.yaml``, ``recommendations.yaml``,
``pareto.png``, ``search.sqlite``, ``summary.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import numpy as np
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from kdnas.data.datamodule import DistillDataModule
from kdnas.data.teacher_cache import ForwardCounter, TeacherCache, build_teacher_cache
from kdnas.errors import ConfigError
from kdnas.latency.measure import measure_latency, measure_pair
from kdnas.models.arch import ArchSpec
from kdnas.models.student import build_student
from kdnas.models.teacher import Teacher
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.controller import Controller
from kdnas.nas.evaluator import ProxyEvaluator
from kdnas.nas.results import (
    Candidate,
    best,
    plot_pareto,
    recommendations,
    score,
    write_candidates_csv,
    write_yaml,
)
from kdnas.nas.seeds import estimated_cost, teacher_shaped_seeds
from kdnas.nas.space import SearchSpace
from kdnas.nas.store import CandidateStore, Measurement
from kdnas.pipelines.common import build_loggers, load_corpus, load_teacher, output_dir
from kdnas.pipelines.distributed import broadcast_from_zero, global_rank, is_global_zero
from kdnas.pipelines.train import make_datamodule
from kdnas.utils.paths import cache_root

log = logging.getLogger(__name__)
RUN = "run"  # the run's own database holds one run


def check_search_settings(s: DictConfig) -> None:
    for key in ("episodes", "candidates_per_episode", "pool_size", "proxy_steps"):
        value = s.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "episodes" else 1):
            minimum = 0 if key == "episodes" else 1
            raise ConfigError(f"search.{key}={value!r}: must be an integer >= {minimum}")
    seeds = s.get("teacher_shaped_seeds", 0)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 0:
        raise ConfigError(f"search.teacher_shaped_seeds={seeds!r}: must be an integer >= 0 (0 = no seeds)")


def teacher_caches(cfg: DictConfig, teacher: Teacher, dm: DistillDataModule) -> dict[str, TeacherCache]:
    """Teacher states of the proxy (train role) and proxy-validation splits, computed once, shared."""
    root = Path(cfg.paths.cache_dir) if cfg.paths.cache_dir else cache_root()
    caches = {}
    for role in ("train", "validation"):
        split = dm.split_names[role]
        caches[role] = build_teacher_cache(
            root / "teacher_outputs",
            teacher.model,
            teacher.cache_key,
            dm.split(role).ids,
            dm.corpus.fingerprint(split),
            dm.max_length,
            dm.pad_id,
            batch_size=cfg.data.eval_batch_size,
        )
    return caches


def setting_key(cfg: DictConfig, teacher: Teacher, dm: DistillDataModule, budget: LatencyBudget) -> str:
    """Everything that determines a candidate's measured loss and latency (not the budget's target)."""
    parts = {
        "teacher": teacher.cache_key,
        "proxy": dm.corpus.fingerprint(dm.split_names["train"]),
        "validation": dm.corpus.fingerprint(dm.split_names["validation"]),
        "max_length": dm.max_length,
        "batch_size": dm.batch_size,
        "distill": OmegaConf.to_container(cfg.distill, resolve=True),
        "student": OmegaConf.to_container(cfg.student_init, resolve=True),
        "steps": cfg.search.proxy_steps,
        "profile": budget.profile.to_dict(),  # type: ignore[union-attr]
        "paired_latency": bool(cfg.search.get("paired_latency", True)),
        "seed": cfg.search.seed,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_budget_reachable(space: SearchSpace, teacher: Teacher, budget: LatencyBudget, teacher_ms: float) -> None:
    """Fail early when even the fastest architecture of the space misses the budget's target.

    The fastest architecture and the teacher are timed side by side (interleaved), and the check
    compares their ratio, so a busy machine does not turn a reachable budget into an error.
    """
    profile = budget.profile
    fastest = min(space.all_valid(), key=lambda a: estimated_cost(a, profile.seq_len))  # type: ignore[union-attr]
    model = build_student(fastest, teacher.model, init="random")
    pair = measure_pair(model, teacher.model, profile)  # type: ignore[arg-type]
    ms = teacher_ms / pair.speedup  # the fastest student's latency on the scale of the stored teacher time
    target = budget.search_target_ms(teacher_ms)
    if ms > target:
        raise ConfigError(
            f"latency_budget {budget.name}: unreachable: the fastest architecture in the space, "
            f"{fastest.short_name}, measured {ms:.2f} ms against a target of {target:.2f} ms "
            f"(teacher {teacher_ms:.2f} ms); relax latency_budget.speedup / max_ms or add smaller choices "
            "to the search space"
        )


def teacher_latency(store: CandidateStore, teacher: Teacher, budget: LatencyBudget) -> float:
    """The teacher's median latency under the budget's profile, measured once per run (resumes reuse it)."""
    key = "teacher_latency:" + json.dumps(budget.profile.to_dict(), sort_keys=True)  # type: ignore[union-attr]
    stored = store.meta(key)
    if stored is not None:
        return float(stored["median_ms"])
    result = measure_latency(teacher.model, budget.profile)  # type: ignore[arg-type]
    store.set_meta(key, result.to_dict())
    return result.median_ms


def leaderboard(candidates: list[Candidate], teacher_ms: float, n: int = 10) -> Table:
    table = Table(title=f"KD-NAS leaderboard (teacher {teacher_ms:.2f} ms)")
    for col in ("#", "architecture", "params (no emb.)", "loss", "ms", "speed-up", "reward", "status"):
        left = col in ("architecture", "status")
        table.add_column(col, justify="left" if left else "right", no_wrap=left)
    ranked = sorted(candidates, key=lambda c: (not c.ok, -(c.reward if c.ok else -1)))
    for i, c in enumerate(ranked[:n], 1):
        m = c.measurement
        table.add_row(
            str(i), c.arch.short_name, f"{m.parameters_without_embeddings / 1e6:.2f}M",
            f"{m.loss:.4f}" if c.ok else "-", f"{m.latency_median_ms:.2f}" if c.ok else "-",
            f"{c.speedup:.1f}x" if c.ok else "-", f"{c.reward:.4f}" if c.ok else "-", c.status,
        )
    return table


def shared_store(cfg: DictConfig) -> CandidateStore | None:
    """The store shared by every search over the same setting (``search.shared_store``: auto, a path, or null).

    ``auto`` puts it in the cache directory, so the jobs of a multirun sweep over budgets, and later
    searches, reuse each other's distilled candidates (rewards are recomputed for each budget).
    """
    where = cfg.search.get("shared_store", "auto")
    if not where:
        return None
    if where == "auto":
        root = Path(cfg.paths.cache_dir) if cfg.paths.cache_dir else cache_root()
        return CandidateStore(root / "candidate_store.sqlite")
    return CandidateStore(Path(str(where)).expanduser())


class SearchRun:
    """One search job: owns the store, the controller and the outputs of its run directory."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.out = output_dir(cfg)
        check_search_settings(cfg.search)
        self.space: SearchSpace = hydra.utils.instantiate(cfg.search_space, _convert_="all")
        self.space.validate()
        self.budget: LatencyBudget = hydra.utils.instantiate(cfg.latency_budget, _convert_="all")
        self.controller: Controller = hydra.utils.instantiate(cfg.controller)(space=self.space)
        self.is_zero = is_global_zero()
        self.store = CandidateStore(self.out / "search.sqlite")
        self.shared = shared_store(cfg)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{self.out}"
        self.candidates: list[Candidate] = []
        self.loggers: list[Any] = []
        self.console = Console()

    def run(self) -> dict[str, Any]:
        cfg, started = self.cfg, time.time()
        L.seed_everything(cfg.search.seed, workers=True, verbose=False)
        forward_calls_before = ForwardCounter.calls
        teacher = load_teacher(cfg)
        corpus = load_corpus(cfg)
        dm = make_datamodule(cfg, corpus, teacher, train_split="proxy", val_split="validation", paired=False)
        dm.teacher_caches = teacher_caches(cfg, teacher, dm)
        teacher_ms = teacher_latency(self.store, teacher, self.budget)
        log.info("budget %s", self.budget.describe(teacher_ms))
        if cfg.search.get("check_budget", True) and not self.store.meta("budget_checked"):
            check_budget_reachable(self.space, teacher, self.budget, teacher_ms)
            self.store.set_meta("budget_checked", True)
        setting = setting_key(cfg, teacher, dm, self.budget)
        self.loggers = build_loggers(cfg) if self.is_zero else []
        for lg in self.loggers:
            lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        evaluator = ProxyEvaluator(
            build_student=lambda arch: hydra.utils.instantiate(cfg.student_init)(arch, teacher.model),
            build_module=lambda student: hydra.utils.instantiate(cfg.distill)(
                student=student, teacher=None, teacher_layers=teacher.num_layers, teacher_hidden_size=teacher.hidden_size
            ),
            datamodule=dm,
            profile=self.budget.profile,  # type: ignore[arg-type]
            trainer_kwargs=self.trainer_kwargs(),
            teacher_ms=teacher_ms,
            reference=teacher.model if self.cfg.search.get("paired_latency", True) else None,
        )
        distilled = self.loop(evaluator, setting, teacher, teacher_ms)
        summary = self.finish(teacher, teacher_ms, started, distilled)
        summary["teacher_forward_calls"] = ForwardCounter.calls - forward_calls_before + evaluator.teacher_forward_calls
        if self.is_zero:
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def trainer_kwargs(self) -> dict[str, Any]:
        t = self.cfg.trainer
        kwargs = {"accelerator": t.accelerator, "devices": t.devices, "precision": t.precision,
                  "gradient_clip_val": t.get("gradient_clip_val"), "max_steps": self.cfg.search.proxy_steps,
                  "max_epochs": -1, "use_distributed_sampler": False}
        for key in ("strategy", "num_nodes"):
            if t.get(key):
                kwargs[key] = t[key]
        return kwargs

    def seeds(self, teacher: Teacher, teacher_ms: float) -> list[ArchSpec]:
        """The first episode's teacher-shaped candidates (``search.teacher_shaped_seeds`` of them at most)."""
        limit = min(int(self.cfg.search.get("teacher_shaped_seeds", 0)), int(self.cfg.search.candidates_per_episode))
        seeds = teacher_shaped_seeds(self.space, teacher.model, self.budget, teacher_ms, limit)  # type: ignore[arg-type]
        if limit and not seeds:
            log.info("no teacher-shaped architecture of the space meets %s: the first episode is the controller's", self.budget.name)
        return seeds

    def loop(self, evaluator: ProxyEvaluator, setting: str, teacher: Teacher, teacher_ms: float) -> int:
        s = self.cfg.search
        k, episodes = s.candidates_per_episode, s.episodes
        seen: set[str] = set()
        distilled = 0
        columns = [TextColumn("[bold]episode {task.fields[episode]}[/] candidate {task.fields[slot]}"),
                   TextColumn("{task.fields[arch]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
        with Progress(*columns, console=self.console, transient=False, disable=not self.is_zero) as progress:
            task = progress.add_task("search", total=episodes * k, episode="-", slot="-", arch="")
            for episode in range(episodes):
                stored = self.store.proposals(RUN, episode)
                if stored is None:
                    rng = np.random.default_rng([s.seed, episode])
                    seeds = self.seeds(teacher, teacher_ms) if episode == 0 and self.is_zero else []
                    seen.update(a.arch_id for a in seeds)
                    archs = seeds + self.controller.propose(self.space, rng, k - len(seeds), s.pool_size, seen, episode)
                    modes = ["seed"] * len(seeds) + list(
                        getattr(self.controller, "last_modes", None) or ["random"] * (len(archs) - len(seeds)))
                    if self.is_zero:
                        self.store.save_proposals(RUN, episode, archs, modes)
                else:
                    archs = [a for a, _ in stored]
                archs = broadcast_from_zero(archs)  # under DDP: rank 0's decision on every rank
                if not archs:
                    log.info("the search space is exhausted after %d candidates", len(seen))
                    break
                rewards = []
                for slot, arch in enumerate(archs):
                    progress.update(task, episode=f"{episode + 1}/{episodes}", slot=f"{slot + 1}/{len(archs)}",
                                    arch=arch.short_name)
                    measurement, source, fresh = self.measure(evaluator, setting, arch, episode, slot)
                    distilled += fresh
                    candidate = score(measurement, self.budget, teacher_ms, episode, source)
                    self.record(candidate, teacher_ms)
                    rewards.append(candidate.reward if candidate.ok else math.nan)
                    seen.add(arch.arch_id)
                    progress.advance(task)
                if not self.is_zero:
                    continue  # other ranks only follow rank 0's decisions
                self.controller.observe(archs, rewards)
                if getattr(self.controller, "prediction_log", None):
                    for lg in self.loggers:
                        lg.log_metrics({f"controller/{k_}": v for k_, v in self.controller.prediction_log[-1].items()
                                        if isinstance(v, (int, float))}, step=len(self.candidates))
            progress.update(task, total=len(self.candidates))
        return distilled

    def measure(
        self, evaluator: ProxyEvaluator, setting: str, arch: ArchSpec, episode: int, slot: int
    ) -> tuple[Measurement, str, bool]:
        """``(measurement, source, distilled now)``: the stored one if any (resume / shared), else distil now.

        ``source`` is ``distilled`` for this job's own candidates (also after a resume) and ``reused``
        for a measurement another job stored.
        """
        existing = broadcast_from_zero(self.stored_measurement(setting, arch) if self.is_zero else None)
        if existing is not None:
            return existing, "reused" if existing.run != RUN else "distilled", False
        try:
            m = evaluator(arch, seed=int(self.cfg.search.seed) * 1000 + episode * 100 + slot)
            m = broadcast_from_zero(m)  # rank 0 timed the student; its measurement is the one
            m.run = RUN
            if self.is_zero:
                self.store.put(setting, m)
                if self.shared is not None:
                    self.shared.put(setting, m)
        finally:
            if self.shared is not None and self.is_zero:
                self.shared.release(setting, arch.arch_id)
        return m, "distilled", True

    def stored_measurement(self, setting: str, arch: ArchSpec) -> Measurement | None:
        """This run's measurement (resume), another job's (shared store, waiting for it if in progress), or None."""
        existing = self.store.get(setting, arch.arch_id)
        if existing is not None or self.shared is None:
            return existing
        # another job of the sweep may have distilled it, or be distilling it now: wait for its result
        found = self.shared.wait_or_claim(setting, arch.arch_id, self.owner)
        if found is not None:
            found.run = "shared"
            self.store.put(setting, found)
        return found

    def record(self, c: Candidate, teacher_ms: float) -> None:
        self.candidates.append(c)
        if not self.is_zero:
            return
        write_candidates_csv(self.out / "candidates.csv", self.candidates)
        metrics = {"candidate/reward": c.reward, "candidate/loss": c.measurement.loss,
                   "candidate/latency_ms": c.measurement.latency_median_ms, "candidate/speedup": c.speedup,
                   "candidate/episode": c.episode}
        finite = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        for lg in self.loggers:
            lg.log_metrics(finite, step=len(self.candidates))
            if hasattr(lg, "log_table"):  # W&B: the whole table so far, one row per candidate
                table = [c.row() for c in self.candidates]
                lg.log_table(key="candidates", columns=list(table[0]), data=[list(r.values()) for r in table],
                             step=len(self.candidates))

    def finish(self, teacher: Teacher, teacher_ms: float, started: float, distilled: int) -> dict[str, Any]:
        target = self.budget.target_ms(teacher_ms)
        winner = best(self.candidates)
        if not self.is_zero:
            return {"rank": global_rank(), "candidates": len(self.candidates)}
        if winner is not None:
            winner.arch.to_yaml(self.out / "best_arch.yaml")
        recs = recommendations(self.candidates, teacher_ms, margin=self.budget.margin)
        write_yaml(self.out / "recommendations.yaml",
                   {"teacher_latency_ms": teacher_ms, "margin": self.budget.margin, "budgets": recs})
        plot = plot_pareto(self.out / "pareto.png", self.candidates, teacher_ms, target)
        self.controller.save(self.out / "controller.pt")
        for lg in self.loggers:
            if hasattr(lg, "log_image"):
                lg.log_image(key="pareto", images=[str(plot)], step=len(self.candidates))
            if winner is not None and hasattr(lg, "experiment") and hasattr(lg.experiment, "log_artifact"):
                import wandb

                artifact = wandb.Artifact(f"best_arch-{self.budget.name}", type="architecture",
                                          metadata={**winner.row(), "budget": self.budget.name})
                artifact.add_file(str(self.out / "best_arch.yaml"))
                artifact.add_file(str(self.out / "recommendations.yaml"))
                lg.experiment.log_artifact(artifact)
                lg.experiment.summary.update({"best/reward": winner.reward, "best/arch": winner.arch.short_name,
                                              "best/speedup": winner.speedup, "best/loss": winner.measurement.loss})
            lg.finalize("success")
        from kdnas.pipelines.train import _finish_wandb

        _finish_wandb()
        self.console.print(leaderboard(self.candidates, teacher_ms))
        self.console.print(f"budget {self.budget.describe(teacher_ms)}")
        if winner is not None:
            self.console.print(f"best: [bold]{winner.arch.short_name}[/] reward {winner.reward:.4f}, "
                               f"{winner.speedup:.1f}x, loss {winner.measurement.loss:.4f}")
        self.console.print(f"outputs: {self.out}")
        return {
            "budget": self.budget.name,
            "target_ms": target,
            "teacher": teacher.name,
            "teacher_latency_ms": teacher_ms,
            "candidates": len(self.candidates),
            "distilled_this_session": distilled,
            "failed": sum(not c.ok for c in self.candidates),
            "best": None if winner is None else {**winner.row(), "arch": winner.arch.to_dict()},
            "wall_seconds": round(time.time() - started, 1),
        }


def search(cfg: DictConfig) -> dict[str, Any]:
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # Lightning 2.6 on torch 2.13, once per Trainer
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return SearchRun(cfg).run()
