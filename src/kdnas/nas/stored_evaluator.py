"""Never distil twice: look a candidate up in the run's store (resume) and a shared store (other jobs)
before measuring it, and store every measurement as soon as it exists.

Wraps any :class:`~kdnas.nas.loop.Evaluator`. In a store shared by parallel jobs (a budget sweep, a cluster),
a candidate another job is distilling right now is waited for, not distilled again: the distilling job holds
a lease it renews while it works; a job that dies stops renewing, and once its lease expires the next job
that wants the candidate distils it itself.

A failed candidate (a non-finite loss, out of memory) is stored with its reason and retried once, by the
next run that wants it from the shared store; the retry's result replaces the failure, and a second failure
is final. A resumed run keeps its own results, failures included (it repeats exactly what it did).
"""

from __future__ import annotations

import os

from kdnas.models.arch import ArchSpec
from kdnas.nas.loop import Evaluator
from kdnas.nas.store import (
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    SHARED,
    THIS_RUN,
    CandidateStore,
    Measurement,
    owner_name,
)
from kdnas.utils.distributed import broadcast_from_zero, is_global_zero


class StoredEvaluator:
    """``evaluator`` behind the run's ``store`` and an optional ``shared`` store, for one ``setting``.

    Args:
        evaluator: measures a candidate that no store holds.
        store: this run's store (``search.sqlite`` in the run directory).
        setting: :func:`kdnas.nas.store.setting_key` of everything that determines a measurement.
        shared: the store shared with other jobs of the same setting (None: none).
        owner: who leases candidates in ``shared`` (default: :func:`kdnas.nas.store.owner_name`).
        lease_seconds: a lease not renewed for this long is taken over by another job.
        poll: seconds between looks at a candidate another job is distilling.

    Attributes:
        distilled: how many candidates this process measured itself (the rest came from a store).
    """

    def __init__(
        self, evaluator: Evaluator, store: CandidateStore, setting: str, shared: CandidateStore | None = None,
        owner: str | None = None, lease_seconds: float = LEASE_SECONDS, poll: float = 1.0,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        self.evaluator = evaluator
        self.store = store
        self.setting = setting
        self.shared = shared
        self.owner = owner or owner_name(os.getcwd())
        self.lease_seconds = lease_seconds
        self.poll = poll
        self.distilled = 0

    def __call__(self, arch: ArchSpec, seed: int) -> Measurement:
        existing = broadcast_from_zero(self.lookup(arch) if is_global_zero() else None)
        if existing is not None:
            return existing
        leased = self.shared is not None and is_global_zero()
        try:
            attempt = 1
            if leased:
                assert self.shared is not None
                earlier = self.shared.get(self.setting, arch.arch_id)  # a failure to retry, or nothing
                attempt += earlier.attempts if earlier is not None and not earlier.ok else 0
                with self.shared.heartbeat(self.setting, arch.arch_id, self.owner, self.lease_seconds):
                    m = self.evaluator(arch, seed)
            else:
                m = self.evaluator(arch, seed)
            m = broadcast_from_zero(m)  # rank 0 timed the student: its measurement is the one
            m.run = THIS_RUN
            m.attempts = broadcast_from_zero(attempt)
            if not m.ok and attempt >= MAX_ATTEMPTS:
                m.reason = f"{m.reason} (attempt {attempt} of {MAX_ATTEMPTS}: final)"
            if is_global_zero():
                self.store.put(self.setting, m)  # the run's own file first: safe even if the server is gone
                if self.shared is not None:
                    self.shared.put(self.setting, m)
        finally:
            if leased:
                assert self.shared is not None
                self.shared.release(self.setting, arch.arch_id, self.owner)
        self.distilled += 1
        return m

    def lookup(self, arch: ArchSpec) -> Measurement | None:
        """This run's measurement (resume), another job's (waiting for it if in progress), or None (leased to us)."""
        existing = self.store.get(self.setting, arch.arch_id)
        if existing is not None:
            if existing.run == THIS_RUN and self.shared is not None:
                self.shared.put(self.setting, existing)  # killed between the two writes: the shared store catches up
            return existing
        if self.shared is None:
            return None
        found = self.shared.wait_or_claim(self.setting, arch.arch_id, self.owner, self.lease_seconds, self.poll)
        if found is not None:
            found.run = SHARED
            self.store.put(self.setting, found)
        return found
