"""Distillation: the layer mapping, the losses (hidden-state, relation, attention) and the LightningModule.

May import :mod:`kdnas.models`, :mod:`kdnas.data`, :mod:`kdnas.utils` and :mod:`kdnas.errors` (never latency, nas, evaluate, deploy, pipelines).
"""
