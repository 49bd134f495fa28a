"""Distil one candidate on the proxy set and measure it: the expensive step of the search.

:class:`ProxyEvaluator` builds the student, distils it for a fixed number of steps from the cached
teacher states (a Lightning ``Trainer`` with the :class:`~kdnas.latency.callback.LatencyCallback`),
computes the normalised loss on the proxy validation split, and returns a :class:`Measurement`. The Trainer
comes from the user's ``trainer`` settings (strategy, devices, precision, clipping...) with what a proxy run
needs on top: no logger, no checkpoints, no progress bar, one validation after the fit. Any
failure (non-finite loss, out of memory, an exception) becomes a ``failed`` measurement with its reason,
so the search goes on.
"""

from __future__ import annotations

import gc
import logging
import math
import time
import traceback
from collections.abc import Callable

import lightning as L
import torch

from kdnas.data.datamodule import DistillDataModule
from kdnas.distill.module import DistillationModule
from kdnas.latency.callback import LatencyCallback
from kdnas.latency.profile import LatencyProfile
from kdnas.models.arch import ArchSpec
from kdnas.models.student import count_parameters
from kdnas.nas.store import Measurement

log = logging.getLogger(__name__)

StudentFactory = Callable[[ArchSpec], torch.nn.Module]
ModuleFactory = Callable[[torch.nn.Module], DistillationModule]
TrainerFactory = Callable[..., L.Trainer]


class ProxyEvaluator:
    """Distils candidates on the proxy set.

    Args:
        build_student: architecture -> student model (the teacher's family, possibly teacher-initialised).
        build_module: student -> :class:`DistillationModule` (teacher-free when the data carries cached states).
        datamodule: proxy split as ``train`` (its single texts, or its translation pairs with the cross-lingual
            loss: ``search.proxy_paired``) and the proxy validation split as ``validation``.
        profile: the latency profile of the budget.
        make_trainer: ``make_trainer(**proxy_overrides) -> lightning.Trainer``, e.g. a partial of the
            ``trainer`` config with ``max_steps`` set to the proxy's steps.
        teacher_ms: the teacher's latency, to log the speed-up.
        reference: the teacher model: each candidate is timed interleaved with it, and its latency stored
            on the scale of ``teacher_ms`` (``teacher_ms / side-by-side speed-up``), so that a slow or fast
            moment of the machine moves neither a candidate's speed-up nor its reward. The side-by-side
            speed-up is kept too (:attr:`Measurement.paired_speedup`): a run that reuses the measurement puts
            it on its own teacher's scale.
        retime_cv, retimes: an unsteady timing is repeated (:class:`~kdnas.latency.callback.LatencyCallback`'s
            ``max_cv`` and ``retimes``).
        objective: the validation metric the measurement's ``loss`` is (``val/loss``: the hidden-state loss;
            ``val/relation_loss``, ``val/total_loss``: see :class:`DistillationModule`).
    """

    def __init__(
        self,
        build_student: StudentFactory,
        build_module: ModuleFactory,
        datamodule: DistillDataModule,
        profile: LatencyProfile,
        make_trainer: TrainerFactory,
        teacher_ms: float | None = None,
        reference: torch.nn.Module | None = None,
        retime_cv: float | None = None,
        retimes: int = 2,
        objective: str = "val/loss",
    ) -> None:
        self.build_student = build_student
        self.reference = reference
        self.build_module = build_module
        self.datamodule = datamodule
        self.profile = profile
        self.make_trainer = make_trainer
        self.teacher_ms = teacher_ms
        self.retime_cv, self.retimes = retime_cv, retimes
        self.objective = objective

    def __call__(self, arch: ArchSpec, seed: int = 0) -> Measurement:
        started = time.time()
        try:
            return self._evaluate(arch, seed, started)
        except (Exception, torch.cuda.OutOfMemoryError) as exc:  # a failed candidate must not end the search
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
            log.warning("candidate %s failed: %s", arch.short_name, reason)
            log.debug("%s", traceback.format_exc())
            return Measurement(arch, "failed", reason=reason, wall_seconds=time.time() - started)
        finally:
            gc.collect()

    def _evaluate(self, arch: ArchSpec, seed: int, started: float) -> Measurement:
        L.seed_everything(seed, workers=True, verbose=False)
        student = self.build_student(arch)
        module = self.build_module(student)
        self.datamodule.teacher_layers = module.layer_map.teacher_layers  # read only what this student learns
        reference = self.reference if self.teacher_ms is not None else None
        latency = LatencyCallback(self.profile, model_attr="student", teacher_ms=self.teacher_ms, reference=reference,
                                  max_cv=self.retime_cv, retimes=self.retimes)
        trainer = self.make_trainer(
            callbacks=[latency],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            check_val_every_n_epoch=None,
            val_check_interval=10**9,  # no validation while fitting: once, after, on the whole split
        )
        trainer.fit(module, datamodule=self.datamodule)
        val = trainer.validate(module, datamodule=self.datamodule, verbose=False)
        if val and self.objective not in val[0]:
            raise KeyError(f"the proxy validation logged no {self.objective} (knn_loss needs more than "
                           f"10 validation sentences); it logged {sorted(val[0])}")
        loss = float(val[0][self.objective]) if val else float("nan")
        if not torch.isfinite(torch.tensor(loss)):
            raise FloatingPointError(f"non-finite proxy validation loss ({loss})")
        result = latency.result
        if result is None:
            if trainer.is_global_zero:
                raise RuntimeError("the latency callback produced no measurement")
            # other DDP ranks do not time the student: rank 0 broadcasts its measurement
            return Measurement(arch, "ok", loss=loss, wall_seconds=time.time() - started)
        median, p90, paired = result.median_ms, result.p90_ms, math.nan
        if latency.paired_speedup is not None and self.teacher_ms is not None:
            paired = float(latency.paired_speedup)
            scale = self.teacher_ms / paired / result.median_ms  # onto the stored teacher time
            median, p90 = median * scale, p90 * scale
        return Measurement(
            arch,
            "ok",
            parameters=count_parameters(student),
            parameters_without_embeddings=count_parameters(student, include_embeddings=False),
            loss=loss,
            latency_median_ms=median,
            latency_p90_ms=p90,
            latency_cv=result.cv,
            wall_seconds=time.time() - started,
            paired_speedup=paired,
        )
