"""kdnas: neural architecture search for teacher-student distillation of transformer encoders (KD-NAS).

Layers, lowest first (a package imports itself and the layers below, never a sibling): errors -> utils ->
models, data -> distill, latency, compress -> nas, evaluate, deploy -> pipelines -> entry scripts (ARCHITECTURE.md).
"""

__version__ = "0.1.0"
