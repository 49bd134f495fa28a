"""Learned controllers: a reward predictor (a LightningModule) trained on every measured reward, proposing
epsilon-greedily.

Encodings (``encoding``): ``index`` (the paper's) gives each architecture dimension ``d`` with ``card_d`` choices an
``nn.Embedding(card_d + 1, embed_dim)``, the extra row (index ``card_d``) standing for "no architecture" (the
empty context of the first episode): every value is learnt on its own, from the rewards of the architectures
that have it. ``features`` describes an architecture by what it is (:func:`arch_features`: present, each size
as a fraction of the space's largest, the activation one-hot, the non-embedding parameter count as a fraction
of the space's largest), through one linear layer to the same width: a few measurements already tell the
predictor that larger students distil closer to the teacher (on the strategies table the proxy reward ranks
with the parameter count at Spearman 0.8-0.96 among students that meet the budget, bench/RESULTS.md).
Rewards are z-scored for training (predictions are de-standardised), so the learning rate does not depend
on the reward's scale.

Learning rate: METHOD.md's RMSprop lr 1e-4 is the slowest of those we tried; the default here is 1e-3. On a
synthetic reward over me5_small (20 candidates an episode, mean over 4 seeds, Spearman of predictions on 200
held-out architectures after episodes 1..5), with 100 steps an update: lr 1e-4 -> .67 .84 .91 .94 .96
(LSTM), .70 .88 .96 .97 .98 (MLP); lr 1e-3 -> .76 .88 .93 .94 .96 (LSTM), .78 .93 .96 .97 .98 (MLP);
lr 3e-3 is no better. With 300 steps an update 1e-4 catches up by the third episode and 1e-2 is clearly
worse (.91 LSTM after five). The gap is in the first episodes, where exploitation starts.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from kdnas.errors import ConfigError
from kdnas.models.arch import ArchSpec
from kdnas.nas.controllers.epsilon_greedy import EpsilonGreedyController
from kdnas.nas.space import SearchSpace
from kdnas.utils.checks import check_int
from kdnas.utils.torch_context import torch_threads


class RewardPredictor(L.LightningModule):
    """Predicts a (standardised) reward from three architectures' index codes: previous best, global best, candidate.

    Args:
        cards: choices per architecture dimension (:meth:`SearchSpace.cardinalities`).
        embed_dim: embedding size per dimension (METHOD.md: 32).
        hidden: hidden size of the LSTM / MLP (METHOD.md: 32).
        lr: RMSprop learning rate.
        n_features: 0 for index codes (embeddings); else the width of :func:`arch_features` rows (a linear layer).
    """

    def __init__(self, cards: Sequence[int], embed_dim: int = 32, hidden: int = 32, lr: float = 1e-3,
                 n_features: int = 0) -> None:
        super().__init__()
        self.cards = list(cards)
        self.embed_dim, self.hidden, self.lr, self.n_features = embed_dim, hidden, lr, n_features
        if n_features:
            self.encoder = nn.Linear(n_features, self.arch_dim)
        else:
            self.embeddings = nn.ModuleList(nn.Embedding(c + 1, embed_dim) for c in self.cards)

    @property
    def arch_dim(self) -> int:
        """Width of one encoded architecture (dimensions x embed_dim)."""
        return len(self.cards) * self.embed_dim

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` index codes -> concatenated per-dimension embeddings, or ``(B, n_features)`` features -> their
        linear map; ``(B, D * embed_dim)`` either way."""
        if self.n_features:
            return torch.relu(self.encoder(codes))
        return torch.cat([emb(codes[:, d]) for d, emb in enumerate(self.embeddings)], dim=-1)

    @abstractmethod
    def forward(self, prev: torch.Tensor, glob: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """Standardised reward predictions ``(B,)`` from index codes ``(B, D)`` of the three archs."""

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        prev, glob, cand, target = batch
        return nn.functional.mse_loss(self(prev, glob, cand), target)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.RMSprop(self.parameters(), lr=self.lr)


ENCODINGS = ("index", "features")


def largest_parameters(space: SearchSpace) -> int:
    """The non-embedding parameter count of the space's largest student (:func:`arch_features`' scale)."""
    return max(a.param_count(1, include_embeddings=False) for a in space.all_valid())


def arch_features(space: SearchSpace, archs: Sequence[ArchSpec | None], largest: int | None = None) -> torch.Tensor:
    """``(B, 5 + activations + 1)`` float rows: present (0 for None, whose row is all zeros), layers, hidden size,
    heads and FFN size as fractions of the space's largest, the activation one-hot, and the non-embedding
    parameter count as a fraction of ``largest`` (default: :func:`largest_parameters`)."""
    acts = list(space.hidden_act)
    top = {d: max(getattr(space, d)) for d in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                               "intermediate_size")}
    most = largest or largest_parameters(space)
    rows = []
    for a in archs:
        if a is None:
            rows.append([0.0] * (5 + len(acts) + 1))
            continue
        rows.append([1.0, *(getattr(a, d) / m for d, m in top.items()), *(float(a.hidden_act == x) for x in acts),
                     a.param_count(1, include_embeddings=False) / most])
    return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), 5 + len(acts) + 1)


def _positive_int(key: str, value: Any) -> int:
    check_int(f"controller.{key}", value, minimum=1)
    return int(value)


class NeuralController(EpsilonGreedyController):
    """Epsilon-greedy proposals from a :class:`RewardPredictor` refitted after every episode.

    The predictor is tiny (a few thousand weights): each update runs ``train_steps`` optimisation steps of
    its own ``training_step`` / ``configure_optimizers`` on one CPU thread, without a ``Trainer`` (whose
    start-up would cost more than the fit), under a forked RNG so the distillation's random state is
    untouched.

    Args:
        space, seed, pool_size, epsilon_*, latency_filter: as in :class:`EpsilonGreedyController`.
        embed_dim, hidden, lr: the predictor's (see :class:`RewardPredictor`).
        encoding: ``index`` (the paper's per-dimension embeddings) or ``features`` (:func:`arch_features`).
        train_steps: optimisation steps per update, on all measured rewards.
        batch_size: rows per step (capped at the number of observations).
    """

    predictor_class: ClassVar[type[RewardPredictor]]

    def __init__(
        self,
        space: SearchSpace,
        embed_dim: int = 32,
        hidden: int = 32,
        lr: float = 1e-3,
        train_steps: int = 300,
        batch_size: int = 32,
        pool_size: int = 200,
        epsilon_start: float = 1.0,
        epsilon_decay: float = 0.05,
        epsilon_floor: float = 0.05,
        seed: int = 0,
        latency_filter: float | None = None,
        encoding: str = "index",
    ) -> None:
        super().__init__(space, seed, pool_size, epsilon_start, epsilon_decay, epsilon_floor, latency_filter)
        if encoding not in ENCODINGS:
            raise ConfigError(f"controller.encoding: one of {', '.join(ENCODINGS)}, got {encoding!r}")
        self.encoding = encoding
        self._largest = largest_parameters(space) if encoding == "features" else 0
        embed_dim, hidden = _positive_int("embed_dim", embed_dim), _positive_int("hidden", hidden)
        self.train_steps = _positive_int("train_steps", train_steps)
        self.batch_size = _positive_int("batch_size", batch_size)
        if isinstance(lr, bool) or not 0 < lr < 10:
            raise ConfigError(f"controller.lr: must be a positive learning rate, got {lr!r}")
        self.cards = space.cardinalities()
        self.target_mean, self.target_std = 0.0, 1.0  # reward standardisation, refitted at each update
        self.n_updates = 0
        # the controller's own seed, without touching the global RNG (CPU generator only: torch.manual_seed
        # would also reseed CUDA, which fork_rng(devices=[]) does not restore)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(self.seed)
            n_features = arch_features(space, [None]).shape[1] if encoding == "features" else 0
            self.predictor = self.predictor_class(self.cards, embed_dim, hidden, float(lr), n_features)
        self.predictor.eval()

    @property
    def trained(self) -> bool:
        return self.n_updates > 0

    def _codes(self, archs: Sequence[ArchSpec | None]) -> torch.Tensor:
        """The predictor's input rows: index codes ``(B, D)`` (None -> the "no architecture" row of every
        dimension), or :func:`arch_features` with ``encoding=features``."""
        if self.encoding == "features":
            return arch_features(self.space, archs, self._largest)
        rows = [list(self.cards) if a is None else self.space.encode(a) for a in archs]
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), len(self.cards))

    def _learn(self) -> None:
        """Train ``train_steps`` steps on every successful observation so far (each with its stored context)."""
        rows = [o for o in self.history if not o.failed]
        if not rows:
            return
        rewards = np.array([o.reward for o in rows], dtype=float)
        self.target_mean = float(rewards.mean())
        std = float(rewards.std())
        self.target_std = std if std > 1e-12 else 1.0
        target = torch.tensor((rewards - self.target_mean) / self.target_std, dtype=torch.float32)
        dataset = TensorDataset(self._codes([o.prev_best for o in rows]), self._codes([o.global_best for o in rows]),
                                self._codes([o.arch for o in rows]), target)
        batch_size = min(self.batch_size, len(rows))
        # exactly train_steps batches, sampled with replacement from a per-update seed: deterministic
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.n_updates)
        sampler = RandomSampler(dataset, replacement=True, num_samples=self.train_steps * batch_size,
                                generator=generator)
        model = self.predictor
        with torch_threads(1), torch.random.fork_rng(devices=[]):
            optimizer = model.configure_optimizers()
            model.train()
            for step, batch in enumerate(DataLoader(dataset, batch_size=batch_size, sampler=sampler)):
                optimizer.zero_grad()
                model.training_step(batch, step).backward()
                optimizer.step()
        model.eval()
        self.n_updates += 1

    def predict(self, archs: Sequence[ArchSpec]) -> np.ndarray:
        """Predicted rewards (de-standardised) given the current context (:meth:`context`)."""
        archs = list(archs)
        if not archs:
            return np.zeros(0)
        prev, glob = self.context()
        n = len(archs)
        with torch.no_grad(), torch_threads(1):
            out = self.predictor(self._codes([prev] * n), self._codes([glob] * n), self._codes(archs))
        return out.double().cpu().numpy() * self.target_std + self.target_mean

    def state_dict(self) -> dict[str, Any]:
        weights = {k: v.detach().cpu().clone() for k, v in self.predictor.state_dict().items()}
        return {**super().state_dict(), "encoding": self.encoding, "train_steps": self.train_steps,
                "batch_size": self.batch_size,
                "n_updates": self.n_updates, "target_mean": self.target_mean, "target_std": self.target_std,
                "predictor": weights}
