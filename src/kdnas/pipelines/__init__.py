"""Wiring from config to the library: instantiate from Hydra configs, call, write outputs (one module per
entry script). The only package that imports Hydra; it may import every other package.
"""
