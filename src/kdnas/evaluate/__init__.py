"""Evaluation of encoders: the task suite, a student measured beside its teacher, and the report (model card).

May import kdnas.models, data, distill, latency, compress, utils and errors; never nas, deploy, pipelines or hydra.
"""
