"""Search controllers: choose the candidates of each episode, learn from their measured rewards.

Call order (like optuna's samplers; ask/tell): for each episode ``e = 0, 1, ...``

1. ``archs = controller.propose(space, rng, k, pool_size, seen, episode=e)`` - up to ``k`` distinct
   valid architectures, none in ``seen`` (arch ids) nor already observed by this controller.
2. The episode loop distils and measures them (not done here).
3. ``controller.observe(archs, rewards)`` - records the rewards (NaN = the candidate failed: kept so it
   is never proposed again, but not trained on), logs how well the controller had predicted them
   (:attr:`Controller.prediction_log`), then trains on the whole history.

``predict(archs)`` may be called at any time (e.g. to log predictions). ``save(path)`` /
``Controller.load(path)`` persist the configuration, weights and the observation history so that a
resumed search continues where it stopped.

Controllers:

* :class:`LSTMController` - the paper's reward predictor (reimpl.): per-dimension embeddings of an
  architecture, concatenated; an LSTM reads three steps (the previous episode's best, the global best,
  the candidate) and a linear head on the last output predicts the reward. Epsilon-greedy proposals.
* :class:`MLPController` - an MLP on the candidate's embeddings alone. Epsilon-greedy proposals.
* :class:`RandomController` - uniform random unseen architectures (the baseline).

Learning rate: METHOD.md's RMSprop lr 1e-4 is the slowest of those we tried; the default here is 1e-3
(configurable). On a synthetic reward over me5_small (20 candidates an episode, mean over 4 seeds,
Spearman of predictions on 200 held-out architectures after episodes 1..5), with 100 steps an update:
lr 1e-4 -> .67 .84 .91 .94 .96 (LSTM), .70 .88 .96 .97 .98 (MLP); lr 1e-3 -> .76 .88 .93 .94 .96 (LSTM),
.78 .93 .96 .97 .98 (MLP); lr 3e-3 is no better. With 300 steps an update 1e-4 catches up by the third
episode and 1e-2 is clearly worse (.91 LSTM after five). The gap is in the first episodes, where
exploitation starts. Rewards are z-scored for training (predictions are de-standardised), so the
learning rate does not depend on the reward's scale.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.warnings import PossibleUserWarning
from scipy.stats import rankdata
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.space import SearchSpace

_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------------
# helpers
@dataclasses.dataclass(frozen=True)
class Observation:
    """One measured candidate and the context that held when it was measured.

    Attributes:
        arch: the candidate.
        reward: its reward (NaN if the candidate failed).
        episode: index of the ``observe`` call that recorded it (0-based).
        prev_best: best architecture of the previous episode (None in the first episode).
        global_best: best architecture over all earlier episodes (None in the first episode).
    """

    arch: ArchSpec
    reward: float
    episode: int
    prev_best: ArchSpec | None
    global_best: ArchSpec | None

    @property
    def failed(self) -> bool:
        return not math.isfinite(self.reward)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch.to_dict(),
            "reward": self.reward,
            "episode": self.episode,
            "prev_best": None if self.prev_best is None else self.prev_best.to_dict(),
            "global_best": None if self.global_best is None else self.global_best.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Observation:
        def arch(x: dict[str, Any] | None) -> ArchSpec | None:
            return None if x is None else ArchSpec.from_dict(x)

        a = arch(d["arch"])
        assert a is not None  # stored by to_dict, never None
        return cls(a, float(d["reward"]), int(d["episode"]), arch(d["prev_best"]), arch(d["global_best"]))


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation; NaN when fewer than two points or either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info logs ("GPU available: ...") and its num_workers hints for a tiny fit."""
    names = ("lightning", "lightning.pytorch", "lightning.fabric")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=PossibleUserWarning)
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            # Lightning 2.6 itself uses a torch pytree API that torch 2.13 deprecates.
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread: the predictor is tiny (a few thousand weights), so more threads
    only add synchronisation, and on a busy machine oversubscription slows it down by 10x or more."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"controller.{key}: must be a positive integer, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------------
# the interface
class Controller(ABC):
    """Base of all controllers: the observation history and its persistence.

    Subclasses implement :meth:`propose` and :meth:`predict`; :meth:`observe` records rewards and calls
    :meth:`_after_observe` (where predictors train). See the module docstring for the call order.

    Args:
        space: the search space the controller proposes from.
        seed: seeds the controller's own randomness (weight initialisation, training order). Proposal
            randomness comes from the ``rng`` passed to :meth:`propose`.
    """

    #: whether :meth:`predict` is meaningful (False for the random baseline: no prediction log).
    has_predictor: ClassVar[bool] = True

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"controller.seed: must be an integer, got {seed!r}")
        self.space = space
        self.seed = int(seed)
        self.history: list[Observation] = []
        #: per observed episode (once the predictor has been trained): predictions made BEFORE the
        #: episode's rewards were known vs those rewards: {"episode", "n", "mse", "spearman"}.
        self.prediction_log: list[dict[str, float]] = []
        self.episodes_observed = 0
        self.n_updates = 0

    # -- the contract ------------------------------------------------------------------------------
    @abstractmethod
    def propose(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        k: int,
        pool_size: int,
        seen: Iterable[str],
        episode: int,
    ) -> list[ArchSpec]:
        """Up to ``k`` distinct valid architectures of ``space`` for this episode.

        Never returns an arch whose id is in ``seen`` or already observed by this controller, nor the
        same arch twice. Returns fewer than ``k`` only when the space has fewer unseen architectures.

        Args:
            space: must equal the controller's space (the loop passes it for symmetry with samplers).
            rng: the source of proposal randomness (same rng state -> same proposals).
            k: number of candidates wanted.
            pool_size: how many random unseen architectures an exploit step scores.
            seen: arch ids already evaluated (or otherwise excluded).
            episode: 0-based episode index (drives the exploration schedule).
        """

    @abstractmethod
    def predict(self, archs: Sequence[ArchSpec]) -> np.ndarray:
        """Predicted rewards of ``archs`` in the current context, shape ``(len(archs),)``, float64."""

    def _after_observe(self) -> None:  # noqa: B027 - an optional hook, deliberately a no-op here
        """Hook called at the end of :meth:`observe` (predictors train here)."""

    # -- observations ------------------------------------------------------------------------------
    @property
    def observed_ids(self) -> set[str]:
        """Ids of every architecture observed so far (failed ones included)."""
        return {o.arch.arch_id for o in self.history}

    def context(self) -> tuple[ArchSpec | None, ArchSpec | None]:
        """``(best of the last observed episode, best overall)``, ignoring failures; None if there is none."""
        ok = [o for o in self.history if not o.failed]
        if not ok:
            return None, None
        glob = max(ok, key=lambda o: o.reward).arch
        last = [o for o in ok if o.episode == self.episodes_observed - 1]
        prev = max(last, key=lambda o: o.reward).arch if last else None
        return prev, glob

    def best(self, n: int = 1) -> list[tuple[ArchSpec, float]]:
        """The ``n`` highest-reward observed architectures with their rewards, best first."""
        ok = sorted((o for o in self.history if not o.failed), key=lambda o: -o.reward)
        return [(o.arch, o.reward) for o in ok[:n]]

    def observe(self, archs: Sequence[ArchSpec], rewards: Sequence[float] | np.ndarray) -> None:
        """Record one episode's measured rewards, then learn from the whole history.

        Args:
            archs: the episode's candidates (from :meth:`propose`).
            rewards: their rewards, same length; NaN marks a failed candidate (recorded, never proposed
                again, not trained on).

        Raises:
            ValueError: length mismatch, an arch outside the space, a duplicate, or an arch observed before.
        """
        archs = list(archs)
        values = np.asarray(rewards, dtype=float).reshape(-1)
        if len(archs) != len(values):
            raise ValueError(f"observe: {len(archs)} architectures but {len(values)} rewards")
        ids = [a.arch_id for a in archs]
        if len(set(ids)) != len(ids):
            raise ValueError("observe: the same architecture appears twice in one episode")
        again = [a.short_name for a in archs if a.arch_id in self.observed_ids]
        if again:
            raise ValueError(f"observe: already observed (never distil twice): {', '.join(again)}")
        outside = [a.short_name for a in archs if not self.space.contains(a)]
        if outside:
            raise ValueError(f"observe: not in the search space: {', '.join(outside)}")

        finite = np.isfinite(values)
        if self.has_predictor and self.n_updates > 0 and finite.any():
            # Out-of-sample quality: predicted before these rewards are used for training.
            preds = self.predict([a for a, ok in zip(archs, finite, strict=True) if ok])
            truth = values[finite]
            self.prediction_log.append(
                {
                    "episode": self.episodes_observed,
                    "n": int(finite.sum()),
                    "mse": float(np.mean((preds - truth) ** 2)),
                    "spearman": spearman(preds, truth),
                }
            )
        prev, glob = self.context()
        for arch, reward in zip(archs, values, strict=True):
            self.history.append(Observation(arch, float(reward), self.episodes_observed, prev, glob))
        self.episodes_observed += 1
        self._after_observe()

    def _check_space(self, space: SearchSpace) -> None:
        if space is not self.space and space != self.space:
            raise ValueError("propose: the space differs from the one this controller was built for")

    def _available(self, space: SearchSpace, seen: Iterable[str]) -> list[ArchSpec]:
        excluded = set(seen) | self.observed_ids
        return [a for a in space.all_valid() if a.arch_id not in excluded]

    # -- persistence -------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Constructor arguments other than ``space`` (what :meth:`load` rebuilds the controller from)."""
        return {"seed": self.seed}

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore what :meth:`_extra_state` saved (subclasses with weights override both)."""

    def save(self, path: str | Path) -> Path:
        """Write configuration, space, history, prediction log (and weights) to ``path`` (torch.save)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": _FORMAT_VERSION,
            "class": type(self).__name__,
            "space": self.space.to_dict(),
            "config": self.config(),
            "history": [o.to_dict() for o in self.history],
            "prediction_log": [dict(r) for r in self.prediction_log],
            "episodes_observed": self.episodes_observed,
            "n_updates": self.n_updates,
            "extra": self._extra_state(),
        }
        torch.save(state, path)
        return path

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace | None = None) -> Controller:
        """Rebuild a controller saved by :meth:`save` (``Controller.load`` picks the saved class).

        Args:
            path: the file written by :meth:`save`.
            space: if given, must equal the saved space (guards against resuming a different search).
        """
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if state.get("format") != _FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported controller file format {state.get('format')!r}")
        klass = CONTROLLERS.get(state["class"])
        if klass is None or not issubclass(klass, cls):
            raise ValueError(f"{path}: holds a {state['class']}, not a {cls.__name__}")
        stored = SearchSpace.from_dict(state["space"])
        if space is not None and space != stored:
            raise ValueError(f"{path}: saved for a different search space")
        ctrl = klass(stored, **state["config"])
        ctrl.history = [Observation.from_dict(o) for o in state["history"]]
        ctrl.prediction_log = [dict(r) for r in state["prediction_log"]]
        ctrl.episodes_observed = int(state["episodes_observed"])
        ctrl.n_updates = int(state["n_updates"])
        ctrl._load_extra_state(state["extra"])
        return ctrl


class EpsilonGreedyController(Controller):
    """Epsilon-greedy proposals on top of a reward predictor (:meth:`predict`).

    ``epsilon(episode) = max(floor, start - decay * episode)``. Each of the ``k`` slots explores (a
    uniformly random unseen architecture) with probability epsilon, else exploits: scores a random pool
    of ``pool_size`` unseen, not yet chosen architectures and takes the highest predicted.

    Args:
        space, seed: as in :class:`Controller`.
        epsilon_start, epsilon_decay, epsilon_floor: the schedule (METHOD.md: 1.0, 0.05, 0.05).
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        epsilon_start: float = 1.0,
        epsilon_decay: float = 0.05,
        epsilon_floor: float = 0.05,
    ) -> None:
        Controller.__init__(self, space, seed)
        for key, value in (
            ("epsilon_start", epsilon_start),
            ("epsilon_decay", epsilon_decay),
            ("epsilon_floor", epsilon_floor),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"controller.{key}: must be a number in [0, 1], got {value!r}")
        if epsilon_floor > epsilon_start:
            raise ConfigError(
                f"controller.epsilon_floor: {epsilon_floor} is above epsilon_start {epsilon_start}"
            )
        self.epsilon_start = float(epsilon_start)
        self.epsilon_decay = float(epsilon_decay)
        self.epsilon_floor = float(epsilon_floor)
        #: "explore"/"exploit" for each arch of the last proposal (for logging).
        self.last_modes: list[str] = []

    def epsilon(self, episode: int) -> float:
        """Exploration probability at a 0-based episode."""
        return max(self.epsilon_floor, self.epsilon_start - self.epsilon_decay * episode)

    def propose(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        k: int,
        pool_size: int,
        seen: Iterable[str],
        episode: int,
    ) -> list[ArchSpec]:
        """Epsilon-greedy proposal; see :meth:`Controller.propose`."""
        self._check_space(space)
        if k < 0 or pool_size < 1:
            raise ValueError(f"propose: need k >= 0 and pool_size >= 1, got k={k}, pool_size={pool_size}")
        available = self._available(space, seen)
        eps = self.epsilon(episode)
        chosen: list[ArchSpec] = []
        self.last_modes = []
        for _ in range(k):
            if not available:
                break
            if rng.random() < eps:
                i = int(rng.integers(len(available)))
                self.last_modes.append("explore")
            else:
                pool = rng.choice(len(available), size=min(pool_size, len(available)), replace=False)
                scores = self.predict([available[int(j)] for j in pool])
                i = int(pool[int(np.argmax(scores))])
                self.last_modes.append("exploit")
            chosen.append(available.pop(i))  # pop: never twice in one episode
        return chosen

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "epsilon_start": self.epsilon_start,
            "epsilon_decay": self.epsilon_decay,
            "epsilon_floor": self.epsilon_floor,
        }


# --------------------------------------------------------------------------------------------------
# learned predictors
class _NeuralController(EpsilonGreedyController, L.LightningModule):
    """Shared machinery of the learned controllers: embeddings, training on the history, persistence.

    Each architecture dimension ``d`` with ``card_d`` choices gets an ``nn.Embedding(card_d + 1,
    embed_dim)``; the extra row (index ``card_d``) stands for "no architecture" (the empty context of
    the first episode). Subclasses build their head in :meth:`_build` and implement :meth:`forward`.

    Args:
        space: the search space.
        embed_dim: embedding size per dimension (METHOD.md: 32).
        hidden: hidden size of the LSTM / MLP (METHOD.md: 32).
        lr: RMSprop learning rate (METHOD.md: 1e-4; the default 1e-3 learns faster, see the module docstring).
        train_steps: optimisation steps per update (each ``observe``), on all measured rewards.
        batch_size: rows per step (capped at the number of observations).
        epsilon_start, epsilon_decay, epsilon_floor, seed: as in :class:`EpsilonGreedyController`.
    """

    def __init__(
        self,
        space: SearchSpace,
        embed_dim: int = 32,
        hidden: int = 32,
        lr: float = 1e-3,
        train_steps: int = 300,
        batch_size: int = 32,
        epsilon_start: float = 1.0,
        epsilon_decay: float = 0.05,
        epsilon_floor: float = 0.05,
        seed: int = 0,
    ) -> None:
        L.LightningModule.__init__(self)
        EpsilonGreedyController.__init__(self, space, seed, epsilon_start, epsilon_decay, epsilon_floor)
        self.embed_dim = _check_positive_int("embed_dim", embed_dim)
        self.hidden = _check_positive_int("hidden", hidden)
        self.train_steps = _check_positive_int("train_steps", train_steps)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 10:
            raise ConfigError(f"controller.lr: must be a positive learning rate, got {lr!r}")
        self.lr = float(lr)
        self.save_hyperparameters(ignore=["space"])
        self.cards = space.cardinalities()
        # Reward standardisation (z-score) fitted on the history at each update.
        self.target_mean = 0.0
        self.target_std = 1.0
        # Initialise weights from the controller's own seed without touching the global RNG (the CPU
        # generator only: torch.manual_seed would also reseed CUDA, which fork_rng(devices=[]) does not
        # restore).
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(self.seed)
            self.embeddings = nn.ModuleList(nn.Embedding(c + 1, self.embed_dim) for c in self.cards)
            self._build()
        self.eval()

    @property
    def arch_dim(self) -> int:
        """Width of one encoded architecture (dimensions x embed_dim)."""
        return len(self.cards) * self.embed_dim

    @abstractmethod
    def _build(self) -> None:
        """Create the layers after the embeddings (called under the controller's seed)."""

    @abstractmethod
    def forward(self, prev: torch.Tensor, glob: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """Standardised reward predictions ``(B,)`` from index codes ``(B, D)`` of the three archs."""

    # -- encoding ----------------------------------------------------------------------------------
    def _codes(self, archs: Sequence[ArchSpec | None]) -> torch.Tensor:
        """Index codes ``(B, D)``; None -> the "no architecture" row of every dimension."""
        rows = [list(self.cards) if a is None else self.space.encode(a) for a in archs]
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), len(self.cards))

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Concatenated per-dimension embeddings: ``(B, D)`` codes -> ``(B, D * embed_dim)``."""
        return torch.cat([emb(codes[:, d]) for d, emb in enumerate(self.embeddings)], dim=-1)

    # -- Lightning ---------------------------------------------------------------------------------
    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        prev, glob, cand, target = batch
        return nn.functional.mse_loss(self(prev, glob, cand), target)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.RMSprop(self.parameters(), lr=self.lr)

    def fit_history(self) -> None:
        """Train ``train_steps`` steps on every successful observation so far (with its stored context)."""
        rows = [o for o in self.history if not o.failed]
        if not rows:
            return
        rewards = np.array([o.reward for o in rows], dtype=float)
        self.target_mean = float(rewards.mean())
        std = float(rewards.std())
        self.target_std = std if std > 1e-12 else 1.0
        target = torch.tensor((rewards - self.target_mean) / self.target_std, dtype=torch.float32)
        dataset = TensorDataset(
            self._codes([o.prev_best for o in rows]),
            self._codes([o.global_best for o in rows]),
            self._codes([o.arch for o in rows]),
            target,
        )
        batch_size = min(self.batch_size, len(rows))
        # One pass of exactly train_steps batches, sampled with replacement from a per-update seed:
        # deterministic, and no per-epoch overhead for a dataset of a few dozen rows.
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.n_updates)
        sampler = RandomSampler(
            dataset, replacement=True, num_samples=self.train_steps * batch_size, generator=generator
        )
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, generator=generator)
        # fork_rng: training (e.g. the DataLoader's worker seed) must not advance the global torch RNG
        # that the distillation code relies on.
        with _quiet_lightning(), _one_thread(), torch.random.fork_rng(devices=[]):
            trainer = L.Trainer(
                max_steps=self.train_steps,
                accelerator="cpu",
                devices=1,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            )
            trainer.fit(self, loader)
        self.eval()
        self.n_updates += 1

    def _after_observe(self) -> None:
        self.fit_history()

    def predict(self, archs: Sequence[ArchSpec]) -> np.ndarray:
        """Predicted rewards (de-standardised) given the current context (:meth:`Controller.context`)."""
        archs = list(archs)
        if not archs:
            return np.zeros(0)
        prev, glob = self.context()
        n = len(archs)
        was_training = self.training
        self.eval()
        with torch.no_grad(), _one_thread():
            out = self(self._codes([prev] * n), self._codes([glob] * n), self._codes(archs))
        self.train(was_training)
        return out.double().cpu().numpy() * self.target_std + self.target_mean

    # -- persistence -------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "embed_dim": self.embed_dim,
            "hidden": self.hidden,
            "lr": self.lr,
            "train_steps": self.train_steps,
            "batch_size": self.batch_size,
        }

    def _extra_state(self) -> dict[str, Any]:
        return {
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self.load_state_dict(extra["state_dict"])
        self.target_mean = float(extra["target_mean"])
        self.target_std = float(extra["target_std"])
        self.eval()


class LSTMController(_NeuralController):
    """The paper's reward predictor: an LSTM over (previous episode's best, global best, candidate).

    Each step's input is an architecture encoded as concatenated per-dimension embeddings
    ``(D * embed_dim)``; a linear head on the last LSTM output predicts the reward. Trained by MSE with
    RMSprop on every measured (architecture, reward), each with the context it was measured in.

    Example:
        >>> ctrl = LSTMController(SearchSpace.preset("me5_small"), train_steps=50)
        >>> archs = ctrl.propose(ctrl.space, np.random.default_rng(0), k=4, pool_size=32, seen=set(), episode=0)
        >>> ctrl.observe(archs, [0.1, 0.2, 0.3, 0.4])
    """

    def _build(self) -> None:
        self.lstm = nn.LSTM(input_size=self.arch_dim, hidden_size=self.hidden, batch_first=True)
        self.head = nn.Linear(self.hidden, 1)

    def forward(self, prev: torch.Tensor, glob: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        seq = torch.stack([self.embed(prev), self.embed(glob), self.embed(cand)], dim=1)  # (B, 3, D*E)
        out, _ = self.lstm(seq)  # (B, 3, hidden)
        return self.head(out[:, -1]).squeeze(-1)  # (B,)


class MLPController(_NeuralController):
    """An MLP (two hidden layers of ``hidden`` units, ReLU) on the candidate's embeddings alone."""

    def _build(self) -> None:
        self.mlp = nn.Sequential(
            nn.Linear(self.arch_dim, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, 1),
        )

    def forward(self, prev: torch.Tensor, glob: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embed(cand)).squeeze(-1)  # (B,); the context is ignored


# --------------------------------------------------------------------------------------------------
# baseline
class RandomController(Controller):
    """Uniformly random unseen valid architectures; :meth:`predict` returns zeros."""

    has_predictor = False

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        super().__init__(space, seed)
        self.last_modes: list[str] = []

    def propose(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        k: int,
        pool_size: int,
        seen: Iterable[str],
        episode: int,
    ) -> list[ArchSpec]:
        """Up to ``k`` uniformly random unseen architectures (``pool_size`` and ``episode`` unused)."""
        self._check_space(space)
        if k < 0:
            raise ValueError(f"propose: need k >= 0, got k={k}")
        excluded = set(seen) | self.observed_ids
        n_left = sum(1 for a in space.all_valid() if a.arch_id not in excluded)
        chosen = space.sample(rng, min(k, n_left), exclude=excluded)
        self.last_modes = ["explore"] * len(chosen)
        return chosen

    def predict(self, archs: Sequence[ArchSpec]) -> np.ndarray:
        return np.zeros(len(archs))


#: Controller classes by name (what :meth:`Controller.load` dispatches on).
CONTROLLERS: dict[str, type[Controller]] = {
    "LSTMController": LSTMController,
    "MLPController": MLPController,
    "RandomController": RandomController,
}
