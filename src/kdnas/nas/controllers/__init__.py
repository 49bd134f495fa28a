"""Search controllers behind one ask/tell interface (:class:`Controller`): the paper's LSTM reward predictor,
an MLP, regularised evolution, and the random baseline. Imports models, utils and :mod:`kdnas.nas.space` only.

To add a controller, subclass :class:`Controller` (or :class:`EpsilonGreedyController` for a reward
predictor) in a file of its own here and implement ``_choose`` and ``predict``; the contract suite in
``tests/test_controller.py`` must pass for it.
"""

from kdnas.nas.controllers.base import Controller, Observation, Proposal
from kdnas.nas.controllers.epsilon_greedy import EpsilonGreedyController
from kdnas.nas.controllers.evolution import EvolutionController
from kdnas.nas.controllers.lstm import LSTMController, LSTMPredictor
from kdnas.nas.controllers.mlp import MLPController, MLPPredictor
from kdnas.nas.controllers.neural import NeuralController, RewardPredictor
from kdnas.nas.controllers.random import RandomController

__all__ = [
    "Controller",
    "EpsilonGreedyController",
    "EvolutionController",
    "LSTMController",
    "LSTMPredictor",
    "MLPController",
    "MLPPredictor",
    "NeuralController",
    "Observation",
    "Proposal",
    "RandomController",
    "RewardPredictor",
]
