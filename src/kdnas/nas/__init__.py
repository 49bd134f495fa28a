"""The search: the space, budgets and rewards, controllers (ask/tell), the episode loop (:mod:`.loop`), the
proxy evaluator, the candidate store, and results. Imports models, data, distill, latency, utils; never Hydra.
"""
