"""Deployment of distilled students: ONNX bundles (:mod:`.bundle`), fidelity checks (:mod:`.verify`), :mod:`.onnx_encoder`.

May import kdnas.errors, kdnas.utils, kdnas.models and kdnas.latency; never nas, evaluate or pipelines.
"""
