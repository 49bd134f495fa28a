"""The KD-NAS episode loop as a library: no Hydra, no command line (as ``optuna.Study.optimize``).

Each episode the :class:`~kdnas.nas.controllers.Controller` is asked for ``candidates_per_episode``
architectures; each is measured by the evaluator (any callable ``(arch, seed) -> Measurement``: the proxy
distillation of :class:`~kdnas.nas.evaluator.ProxyEvaluator`, a lookup in a table, a synthetic function),
scored under the budget, and the episode's rewards are told to the controller. :class:`SearchCallback` s
see every step (progress bars, loggers, output files); a :class:`~kdnas.nas.store.CandidateStore` given as
``journal`` records each episode's proposals before they are measured, so a resumed search evaluates
exactly the candidates it would have.

Example (ten lines, from Python)::

    space = SearchSpace(num_hidden_layers=[1, 2, 4], hidden_size=[128, 256], num_attention_heads=[2, 4],
                        intermediate_size=[256, 512], hidden_act=["gelu"])
    budget = LatencyBudget(speedup=5.0)
    evaluator = lambda arch, seed: Measurement(arch, "ok", loss=my_loss(arch), latency_median_ms=my_ms(arch))
    search = Search(LSTMController(space), evaluator, budget, teacher_ms=80.0, episodes=5)
    result = search.run()
    print(result.best.arch.short_name, result.best.reward)

Under a Lightning DDP strategy every rank runs the loop: rank 0 makes every decision and broadcasts it
(:mod:`kdnas.utils.distributed`); callbacks and the controller's training run on rank 0 only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kdnas.models.arch import ArchSpec
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.controllers import Controller, Proposal
from kdnas.nas.results import Candidate, best, recommendations, score
from kdnas.nas.store import THIS_RUN, CandidateStore, Measurement
from kdnas.utils.distributed import broadcast_from_zero, is_global_zero

log = logging.getLogger(__name__)


class Evaluator(Protocol):
    """Measures one candidate: ``evaluator(arch, seed) -> Measurement`` (status ``failed`` rather than raising)."""

    def __call__(self, arch: ArchSpec, seed: int) -> Measurement: ...


class SearchCallback:
    """Hooks into a :class:`Search`, all no-ops by default (as Lightning's ``Callback``). Rank 0 only."""

    def on_search_start(self, search: Search) -> None:
        """Before the first episode."""

    def on_episode_start(self, search: Search, episode: int, proposals: Sequence[Proposal]) -> None:
        """The episode's candidates are chosen (or read back on resume)."""

    def on_candidate_start(self, search: Search, episode: int, slot: int, arch: ArchSpec) -> None:
        """Before a candidate is measured."""

    def on_candidate_end(self, search: Search, candidate: Candidate) -> None:
        """A candidate is measured and scored (``search.candidates`` includes it)."""

    def on_episode_end(self, search: Search, episode: int) -> None:
        """The controller has been told the episode's rewards."""

    def on_search_end(self, search: Search, result: SearchResult) -> None:
        """After the last episode."""


@dataclass
class SearchResult:
    """What a search found.

    Attributes:
        candidates: every evaluated candidate, in evaluation order.
        best: the highest-reward candidate that meets the budget with its margin, in soft mode too (None if
            none does: :func:`kdnas.nas.results.budget_unmet` says so in one line).
        recommendations: per standard speed-up (``"2x"``...), the lowest-loss measured architecture fast
            enough with the budget's margin (:func:`kdnas.nas.results.recommendations`).
        teacher_ms: the teacher's latency the rewards were computed with.
    """

    candidates: list[Candidate]
    best: Candidate | None
    recommendations: dict[str, Any]
    teacher_ms: float


@dataclass
class Search:
    """Runs ``episodes`` episodes of ``candidates_per_episode`` candidates.

    Args:
        controller: proposes candidates and learns from their rewards (ask/tell).
        evaluator: measures a candidate (see :class:`Evaluator`).
        budget: scores measurements into rewards (its margin included).
        teacher_ms: the teacher's latency under the budget's profile.
        episodes: controller updates (>= 0).
        candidates_per_episode: candidates per episode (>= 1).
        seed: candidate ``slot`` of ``episode`` is measured with seed ``seed * 1000 + episode * 100 + slot``.
        seeds: called once, for the first episode only (not on resume): architectures the loop itself puts
            first (e.g. teacher-shaped seeds); the controller fills the remaining slots.
        journal: records each episode's proposals for resume (None: not resumable).
        callbacks: see :class:`SearchCallback`.
        pool: arch ids the search may evaluate (None: the whole space), e.g. those a store holds for a replay;
            the controller is asked within it and seeds outside it are dropped.
        teacher_arch: the teacher's architecture (None: unknown): its latency, ``teacher_ms``, anchors the
            controller's latency model (:meth:`~kdnas.nas.controllers.base.Controller.anchor_latency`).
    """

    controller: Controller
    evaluator: Evaluator
    budget: LatencyBudget
    teacher_ms: float
    episodes: int = 5
    candidates_per_episode: int = 4
    seed: int = 0
    seeds: Callable[[], list[ArchSpec]] | None = None
    journal: CandidateStore | None = None
    callbacks: Sequence[SearchCallback] = ()
    pool: Collection[str] | None = None
    teacher_arch: ArchSpec | None = None
    candidates: list[Candidate] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.episodes < 0 or self.candidates_per_episode < 1:
            raise ValueError(f"Search: need episodes >= 0 and candidates_per_episode >= 1, got "
                             f"{self.episodes} and {self.candidates_per_episode}")

    def run(self) -> SearchResult:
        """Run every episode (resuming from the journal), then return the result."""
        self._emit("on_search_start")
        if self.teacher_arch is not None and is_global_zero():
            self.controller.anchor_latency(self.teacher_arch, self.teacher_ms / self.budget.search_target_ms(self.teacher_ms))
        for episode in range(self.episodes):
            proposals = broadcast_from_zero(self._proposals(episode) if is_global_zero() else self._followed(episode))
            if not proposals:
                log.info("the search space is exhausted after %d candidates", len(self.candidates))
                break
            self._emit("on_episode_start", episode, proposals)
            rewards, latency = [], []
            target_ms = self.budget.search_target_ms(self.teacher_ms)
            for slot, proposal in enumerate(proposals):
                self._emit("on_candidate_start", episode, slot, proposal.arch)
                measurement = self.evaluator(proposal.arch, self.seed * 1000 + episode * 100 + slot)
                candidate = score(measurement, self.budget, self.teacher_ms, episode)
                self.candidates.append(candidate)
                rewards.append(candidate.reward if candidate.ok else math.nan)
                latency.append(candidate.measurement.latency_median_ms / target_ms if candidate.ok else math.nan)
                self._emit("on_candidate_end", candidate)
            if is_global_zero():  # other ranks only follow rank 0's decisions
                self.controller.tell([p.arch for p in proposals], rewards, latency)
            self._emit("on_episode_end", episode)
        result = SearchResult(
            candidates=list(self.candidates),
            best=best(self.candidates),
            recommendations=recommendations([c.measurement for c in self.candidates], self.teacher_ms,
                                            margin=self.budget.margin),
            teacher_ms=self.teacher_ms,
        )
        self._emit("on_search_end", result)
        return result

    def _proposals(self, episode: int) -> list[Proposal]:
        """The episode's candidates: from the journal when resuming, else seeds + the controller's choice."""
        if self.journal is not None:
            stored = self.journal.proposals(THIS_RUN, episode)
            if stored is not None:
                return [Proposal(arch, mode) for arch, mode in stored]
        seeds = self.seeds() if episode == 0 and self.seeds is not None else []
        seeds = [a for a in seeds if self.pool is None or a.arch_id in self.pool][: self.candidates_per_episode]
        proposals = [Proposal(a, "seed") for a in seeds]
        proposals += self.controller.ask(self.candidates_per_episode - len(seeds), exclude={a.arch_id for a in seeds},
                                         allowed=self.pool)
        if self.journal is not None and proposals:
            self.journal.save_proposals(THIS_RUN, episode, [p.arch for p in proposals], [p.mode for p in proposals])
        return proposals

    def _followed(self, episode: int) -> list[Proposal]:
        """A DDP rank other than 0, before the process group exists (rank 0 launches it with its first fit,
        after journaling the episode): rank 0's journaled proposals; once the group exists the broadcast wins."""
        stored = self.journal.proposals(THIS_RUN, episode) if self.journal is not None else None
        if stored is not None:
            return [Proposal(arch, mode) for arch, mode in stored]
        return self.controller.ask(self.candidates_per_episode, allowed=self.pool)  # no journal: the same choice

    def _emit(self, hook: str, *args: Any) -> None:
        if is_global_zero():
            for callback in self.callbacks:
                getattr(callback, hook)(self, *args)
