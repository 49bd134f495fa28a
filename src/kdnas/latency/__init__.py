"""Inference latency of encoders: profiles, runtimes, timed measurements, and the Lightning callback.

May import kdnas.errors, kdnas.utils and kdnas.models; never nas, evaluate, deploy or pipelines.
"""
