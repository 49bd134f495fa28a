"""The candidate store on its own: measurements, claims (live, dead, stale), proposals for resume, meta."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

from kdnas.models.arch import ArchSpec
from kdnas.nas.store import SHARED, THIS_RUN, CandidateStore, Measurement, setting_key
from kdnas.nas.stored_evaluator import StoredEvaluator

A, B = ArchSpec(1, 16, 1, 32, "gelu"), ArchSpec(2, 32, 2, 64, "relu")


def test_measurements_round_trip_and_are_written_once(tmp_path: Path) -> None:
    store = CandidateStore(tmp_path / "s.sqlite")
    m = Measurement(A, "ok", parameters=10, parameters_without_embeddings=5, loss=0.25, latency_median_ms=1.5,
                    latency_p90_ms=1.7, latency_cv=0.02, wall_seconds=3.0, run=THIS_RUN)
    store.put("k", m)
    store.put("k", Measurement(A, "ok", loss=0.99, latency_median_ms=9.0))  # an existing key is kept as it is
    assert store.get("k", A.arch_id) == m
    assert store.get("other", A.arch_id) is None  # settings never mix
    failed = Measurement(B, "failed", reason="OOM")
    store.put("k", failed)
    back = CandidateStore(tmp_path / "s.sqlite").get("k", B.arch_id)  # reopened: persisted
    assert back is not None and back.status == "failed" and back.reason == "OOM" and math.isnan(back.loss)


def test_setting_key_depends_on_every_part() -> None:
    base = {"teacher": "t", "steps": 40, "profile": {"threads": 1}}
    assert setting_key(base) == setting_key(dict(reversed(base.items())))  # order does not matter
    assert setting_key(base) != setting_key({**base, "steps": 41})
    assert setting_key(base) != setting_key({**base, "profile": {"threads": 2}})


def test_claims_live_dead_and_stale(tmp_path: Path) -> None:
    store = CandidateStore(tmp_path / "s.sqlite")
    assert store.claim("k", A.arch_id, "job-a")
    assert not store.claim("k", A.arch_id, "job-b")  # job a (this live process) holds it
    assert store.claim("k", A.arch_id, "job-a")  # its owner may renew it
    assert store.claim("k", A.arch_id, "job-b", stale_seconds=0.0)  # older than stale_seconds: taken over
    # a claim whose process died on this host is taken over at once
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    with store._connect() as db:
        db.execute("UPDATE claims SET owner = 'job-dead', pid = ?, started = ? WHERE arch_id = ?",
                   (pid, time.time(), A.arch_id))
    assert store.claim("k", A.arch_id, "job-c")
    store.release("k", A.arch_id)
    assert store.claim("k", A.arch_id, "job-d")


def test_wait_or_claim_returns_a_stored_measurement(tmp_path: Path) -> None:
    store = CandidateStore(tmp_path / "s.sqlite")
    assert store.wait_or_claim("k", A.arch_id, "job-a") is None  # nobody has it: job a claims it
    store.put("k", Measurement(A, "ok", loss=0.5, latency_median_ms=1.0))
    store.release("k", A.arch_id)
    found = store.wait_or_claim("k", A.arch_id, "job-b")
    assert found is not None and found.loss == 0.5


def test_proposals_and_meta_for_resume(tmp_path: Path) -> None:
    store = CandidateStore(tmp_path / "s.sqlite")
    assert store.proposals("run", 0) is None
    store.save_proposals("run", 0, [B, A], ["seed", "explore"])
    assert store.proposals("run", 0) == [(B, "seed"), (A, "explore")]  # slot order kept
    assert store.proposals("run", 1) is None
    store.set_meta("teacher_latency", {"median_ms": 12.5})
    assert CandidateStore(tmp_path / "s.sqlite").meta("teacher_latency") == {"median_ms": 12.5}


def test_stored_evaluator_measures_each_architecture_once(tmp_path: Path) -> None:
    calls: list[str] = []

    def evaluate(arch: ArchSpec, seed: int) -> Measurement:
        calls.append(arch.arch_id)
        return Measurement(arch, "ok", loss=0.1 * arch.num_hidden_layers, latency_median_ms=1.0)

    shared = CandidateStore(tmp_path / "shared.sqlite")
    first = StoredEvaluator(evaluate, CandidateStore(tmp_path / "a.sqlite"), "k", shared=shared)
    assert first(A, 0).run == THIS_RUN and first(A, 0).run == THIS_RUN  # the second call is the resume path
    assert calls == [A.arch_id] and first.distilled == 1
    other_job = StoredEvaluator(evaluate, CandidateStore(tmp_path / "b.sqlite"), "k", shared=shared)
    reused = other_job(A, 0)
    assert reused.run == SHARED and reused.loss == 0.1 and calls == [A.arch_id] and other_job.distilled == 0
    assert other_job(B, 0).run == THIS_RUN and calls == [A.arch_id, B.arch_id]
    with shared._connect() as db:  # every claim was released
        assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    assert os.path.isfile(tmp_path / "b.sqlite")
