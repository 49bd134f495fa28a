"""The paper's controller (reimpl.): an LSTM over (previous episode's best, global best, candidate)."""

from __future__ import annotations

import torch
from torch import nn

from kdnas.nas.controllers.neural import NeuralController, RewardPredictor


class LSTMPredictor(RewardPredictor):
    """Each step's input is an architecture as concatenated per-dimension embeddings ``(D * embed_dim)``; a
    linear head on the last LSTM output predicts the reward."""

    def __init__(self, cards: list[int], embed_dim: int = 32, hidden: int = 32, lr: float = 1e-3,
                 n_features: int = 0) -> None:
        super().__init__(cards, embed_dim, hidden, lr, n_features)
        self.lstm = nn.LSTM(input_size=self.arch_dim, hidden_size=hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, prev: torch.Tensor, glob: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        seq = torch.stack([self.embed(prev), self.embed(glob), self.embed(cand)], dim=1)  # (B, 3, D*E)
        out, _ = self.lstm(seq)  # (B, 3, hidden)
        return self.head(out[:, -1]).squeeze(-1)  # (B,)


class LSTMController(NeuralController):
    """Trained by MSE with RMSprop on every measured (architecture, reward), each with the context it was
    measured in; epsilon-greedy proposals.

    Example:
        >>> ctrl = LSTMController(space, train_steps=50)
        >>> proposals = ctrl.ask(4)
        >>> ctrl.tell([p.arch for p in proposals], [0.1, 0.2, 0.3, 0.4])
    """

    predictor_class = LSTMPredictor
