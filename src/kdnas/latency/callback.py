"""LatencyCallback: time the distilled student once fitting ends.

In the search, every candidate's proxy distillation is one ``trainer.fit``; this callback times the
student it produced under a :class:`~kdnas.latency.profile.LatencyProfile`, keeps the result for the
reward, and logs it to the trainer's loggers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import reduce
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from torch import nn
from typing_extensions import override

from kdnas.errors import ConfigError
from kdnas.latency.measure import LatencyResult, measure_latency, measure_pair, pair_spread, steadiest
from kdnas.latency.profile import LatencyProfile


class LatencyCallback(Callback):
    """Measure the inference latency of a LightningModule's student at the end of ``fit``.

    The measurement runs on global rank zero only (other ranks keep ``result = None``) and is logged there
    as ``{log_prefix}/median_ms``, ``{log_prefix}/p90_ms`` and ``{log_prefix}/cv`` to every logger of the
    trainer, at step ``trainer.global_step``; with a teacher latency also ``{log_prefix}/speedup``
    (teacher ms / student median ms). The last result is part of the callback's ``state_dict``, so a run
    resumed from a checkpoint keeps it.

    Args:
        profile: How to measure; a mapping of :class:`LatencyProfile` fields is accepted too (Hydra). A
            corpus profile (``seq_len="corpus"``) must carry its inputs already
            (:func:`~kdnas.latency.profile.with_real_inputs`); its token counts are
            ``profile.tokens_per_sequence`` (the median input length).
        model_attr: Attribute of the LightningModule holding the ``nn.Module`` to time; a dotted path
            (``"model.student"``) reaches nested attributes.
        log_prefix: Prefix of the logged metric names.
        teacher_ms: The teacher's median latency in ms under the same profile (optional; also settable
            later with :meth:`set_teacher_ms`), to log the speedup.
        reference: The teacher model: when given, the student is timed interleaved with it
            (:func:`~kdnas.latency.measure.measure_pair`) and the speed-up is that side-by-side ratio, which
            a busy machine slows equally on both sides, instead of ``teacher_ms`` over a later student time.
        max_cv: A timing whose coefficient of variation (the student's, or with a ``reference`` the larger of
            both) exceeds this is repeated, up to ``retimes`` more times, and the steadiest one is kept; a
            moment of contention then moves neither the median nor the speed-up (None: time once).
        retimes: At most this many repeats of an unsteady timing.

    Raises:
        ConfigError: If an argument is invalid (at construction), or if the LightningModule has no
            ``nn.Module`` at ``model_attr`` (at ``setup``).

    Example::

        from lightning.pytorch import Trainer
        from kdnas.latency.callback import LatencyCallback
        from kdnas.latency.profile import LatencyProfile

        latency = LatencyCallback(LatencyProfile(threads=1, seq_len=128), model_attr="student")
        trainer = Trainer(max_steps=200, callbacks=[latency])
        trainer.fit(distiller, datamodule)
        latency.result.median_ms  # the student's median forward time in ms
    """

    def __init__(
        self,
        profile: LatencyProfile | Mapping[str, Any],
        model_attr: str = "student",
        log_prefix: str = "latency",
        teacher_ms: float | None = None,
        reference: nn.Module | None = None,
        max_cv: float | None = None,
        retimes: int = 2,
    ) -> None:
        super().__init__()
        if max_cv is not None and not (isinstance(max_cv, int | float) and max_cv > 0):
            raise ConfigError(f"LatencyCallback(max_cv={max_cv!r}) is invalid: use a positive number, or None")
        if isinstance(retimes, bool) or not isinstance(retimes, int) or retimes < 0:
            raise ConfigError(f"LatencyCallback(retimes={retimes!r}) is invalid: use an integer >= 0")
        if isinstance(profile, Mapping):
            profile = LatencyProfile.from_dict(dict(profile))
        if not isinstance(profile, LatencyProfile):
            raise ConfigError(
                f"LatencyCallback(profile=...) needs a LatencyProfile or a mapping of its fields, "
                f"got {type(profile).__name__}"
            )
        if not isinstance(model_attr, str) or not all(part.isidentifier() for part in model_attr.split(".")):
            raise ConfigError(
                f"LatencyCallback(model_attr={model_attr!r}) is invalid: name an attribute such as 'student'"
            )
        if not isinstance(log_prefix, str) or not log_prefix:
            raise ConfigError(
                f"LatencyCallback(log_prefix={log_prefix!r}) is invalid: use a non-empty string"
            )
        self.profile = profile
        self.model_attr = model_attr
        self.log_prefix = log_prefix
        self.teacher_ms: float | None = None
        if teacher_ms is not None:
            self.set_teacher_ms(teacher_ms)
        self.reference = reference
        self.max_cv, self.retimes = max_cv, retimes
        self.result: LatencyResult | None = None
        self.paired_speedup: float | None = None
        self.timings = 0  # how many timings the last result was chosen from

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(model_attr=self.model_attr, log_prefix=self.log_prefix)

    @property
    def speedup(self) -> float | None:
        """The side-by-side ratio with a ``reference``; else teacher ms / student median ms, when both are known."""
        if self.paired_speedup is not None:
            return self.paired_speedup
        if self.teacher_ms is None or self.result is None:
            return None
        return self.teacher_ms / self.result.median_ms

    def set_teacher_ms(self, teacher_ms: float) -> None:
        """Set the teacher's latency (ms, same profile) so that the speedup is logged too.

        Raises:
            ConfigError: If ``teacher_ms`` is not a positive finite number.
        """
        if (
            isinstance(teacher_ms, bool)
            or not isinstance(teacher_ms, int | float)
            or not math.isfinite(teacher_ms)
            or teacher_ms <= 0
        ):
            raise ConfigError(
                f"LatencyCallback(teacher_ms={teacher_ms!r}) is invalid: use a positive number of ms"
            )
        self.teacher_ms = float(teacher_ms)

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._target(pl_module)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            self.result = None
            return
        model = self._target(pl_module)
        if self.reference is not None:
            reference = self.reference
            pair, self.timings = steadiest(lambda: measure_pair(model, reference, self.profile), pair_spread,
                                           self.max_cv, self.retimes)
            result, self.paired_speedup = pair.student, pair.speedup
        else:
            result, self.timings = steadiest(lambda: measure_latency(model, self.profile), lambda r: r.cv,
                                             self.max_cv, self.retimes)
        self.result = result
        metrics = {
            f"{self.log_prefix}/median_ms": result.median_ms,
            f"{self.log_prefix}/p90_ms": result.p90_ms,
            f"{self.log_prefix}/cv": result.cv,
        }
        speedup = self.speedup
        if speedup is not None:
            metrics[f"{self.log_prefix}/speedup"] = speedup
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "result": self.result.to_dict() if self.result is not None else None,
            "teacher_ms": self.teacher_ms,
            "paired_speedup": self.paired_speedup,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        result = state_dict.get("result")
        self.result = LatencyResult.from_dict(result) if result is not None else None
        self.paired_speedup = state_dict.get("paired_speedup")
        if self.teacher_ms is None and state_dict.get("teacher_ms") is not None:
            self.teacher_ms = float(state_dict["teacher_ms"])

    def _target(self, pl_module: pl.LightningModule) -> nn.Module:
        try:
            target = reduce(getattr, self.model_attr.split("."), pl_module)
        except AttributeError:
            raise ConfigError(
                f"LatencyCallback(model_attr={self.model_attr!r}): {type(pl_module).__name__} has no such "
                "attribute; set model_attr to the attribute holding the student"
            ) from None
        if not isinstance(target, nn.Module):
            raise ConfigError(
                f"LatencyCallback(model_attr={self.model_attr!r}) is a {type(target).__name__}, "
                "not a torch.nn.Module: point model_attr at the student model"
            )
        return target
