"""An MLP reward predictor on the candidate's embeddings alone (no context): the LSTM's simplest rival."""

from __future__ import annotations

import torch
from torch import nn

from kdnas.nas.controllers.neural import NeuralController, RewardPredictor


class MLPPredictor(RewardPredictor):
    """Two hidden layers of ``hidden`` units (ReLU) on the candidate's concatenated embeddings."""

    def __init__(self, cards: list[int], embed_dim: int = 32, hidden: int = 32, lr: float = 1e-3,
                 n_features: int = 0) -> None:
        super().__init__(cards, embed_dim, hidden, lr, n_features)
        self.mlp = nn.Sequential(nn.Linear(self.arch_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, prev: torch.Tensor, glob: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embed(cand)).squeeze(-1)  # (B,); the context is ignored


class MLPController(NeuralController):
    """Epsilon-greedy proposals from :class:`MLPPredictor`."""

    predictor_class = MLPPredictor
