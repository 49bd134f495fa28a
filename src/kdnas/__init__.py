"""kdnas: neural architecture search for teacher-student distillation of transformer encoders (KD-NAS).

Layers, lowest first (a package imports its own layer and those below): errors, utils -> models, data ->
distill, latency, compress -> nas, evaluate, deploy -> pipelines -> the entry scripts. See ARCHITECTURE.md.
"""

__version__ = "0.1.0"
