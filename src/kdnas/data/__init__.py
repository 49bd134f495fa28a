"""The data: corpora (gettext catalogs, text files, ``datasets``), length-bucketed batching, the teacher-output cache.

May import :mod:`kdnas.utils` and :mod:`kdnas.errors` only (never models, distill, latency, nas, evaluate, deploy, pipelines).
"""
