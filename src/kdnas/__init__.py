"""kdnas: neural architecture search for teacher-student distillation of transformer encoders (KD-NAS)."""

__version__ = "0.1.0"
