"""Never distil twice: look a candidate up in the run's store (resume) and a shared store (other jobs)
before measuring it, and store every measurement as soon as it exists.

Wraps any :class:`~kdnas.nas.loop.Evaluator`. In a store shared by parallel jobs (a budget sweep), a
candidate another job is distilling right now is waited for, not distilled again (the store's claims).
"""

from __future__ import annotations

import os
import socket

from kdnas.models.arch import ArchSpec
from kdnas.nas.loop import Evaluator
from kdnas.nas.store import SHARED, THIS_RUN, CandidateStore, Measurement
from kdnas.utils.distributed import broadcast_from_zero, is_global_zero


class StoredEvaluator:
    """``evaluator`` behind the run's ``store`` and an optional ``shared`` store, for one ``setting``.

    Args:
        evaluator: measures a candidate that no store holds.
        store: this run's store (``search.sqlite`` in the run directory).
        setting: :func:`kdnas.nas.store.setting_key` of everything that determines a measurement.
        shared: the store shared with other jobs of the same setting (None: none).
        owner: who claims candidates in ``shared`` (default: host, pid).

    Attributes:
        distilled: how many candidates this process measured itself (the rest came from a store).
    """

    def __init__(
        self, evaluator: Evaluator, store: CandidateStore, setting: str, shared: CandidateStore | None = None,
        owner: str | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.store = store
        self.setting = setting
        self.shared = shared
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.distilled = 0

    def __call__(self, arch: ArchSpec, seed: int) -> Measurement:
        existing = broadcast_from_zero(self.lookup(arch) if is_global_zero() else None)
        if existing is not None:
            return existing
        try:
            m = broadcast_from_zero(self.evaluator(arch, seed))  # rank 0 timed the student: its measurement
            m.run = THIS_RUN
            if is_global_zero():
                self.store.put(self.setting, m)
                if self.shared is not None:
                    self.shared.put(self.setting, m)
        finally:
            if self.shared is not None and is_global_zero():
                self.shared.release(self.setting, arch.arch_id)
        self.distilled += 1
        return m

    def lookup(self, arch: ArchSpec) -> Measurement | None:
        """This run's measurement (resume), another job's (waiting for it if in progress), or None (claimed)."""
        existing = self.store.get(self.setting, arch.arch_id)
        if existing is not None or self.shared is None:
            return existing
        found = self.shared.wait_or_claim(self.setting, arch.arch_id, self.owner)
        if found is not None:
            found.run = SHARED
            self.store.put(self.setting, found)
        return found
