"""The candidate store on both back-ends (an SQLite file, a real PostgreSQL server): measurements, leases,
proposals for resume, meta; then the faults: corrupt, foreign, old and newer stores, an unreachable or
dropping server."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kdnas.errors import StoreError
from kdnas.models.arch import ArchSpec
from kdnas.nas.store import SCHEMA_VERSION, SHARED, THIS_RUN, CandidateStore, Measurement, setting_key
from kdnas.nas.stored_evaluator import StoredEvaluator

A, B = ArchSpec(1, 16, 1, 32, "gelu"), ArchSpec(2, 32, 2, 64, "relu")
NewStore = Callable[[], str]


def measured(arch: ArchSpec, seed: int = 0) -> Measurement:
    return Measurement(arch, "ok", loss=0.1 * arch.num_hidden_layers, latency_median_ms=1.0)


def test_measurements_round_trip_are_written_once_and_settings_never_mix(store_url: NewStore) -> None:
    url = store_url()
    store = CandidateStore(url)
    m = Measurement(A, "ok", parameters=10, parameters_without_embeddings=5, loss=0.25, latency_median_ms=1.5,
                    latency_p90_ms=1.7, latency_cv=0.02, wall_seconds=3.0, run=THIS_RUN)
    store.put("k", m)
    store.put("k", Measurement(A, "ok", loss=0.99, latency_median_ms=9.0))  # an existing key is kept as it is
    assert store.get("k", A.arch_id) == m
    assert store.get("other", A.arch_id) is None
    store.put("other", measured(B))
    store.put("k", Measurement(B, "failed", reason="OOM"))
    back = CandidateStore(url)  # reopened: persisted
    assert [x.arch for x in back.measurements("k")] == [A, B] and [x.arch for x in back.measurements("other")] == [B]
    failed = back.get("k", B.arch_id)
    assert failed is not None and failed.status == "failed" and failed.reason == "OOM" and math.isnan(failed.loss)


def test_replace_overwrites_one_setting_s_measurement_only(store_url: NewStore) -> None:
    import dataclasses

    store = CandidateStore(store_url())
    store.put("k", measured(A))
    store.put("other", measured(A))
    retimed = dataclasses.replace(measured(A), latency_median_ms=2.5, latency_cv=0.05, paired_speedup=3.0)
    store.replace("k", retimed)
    got = store.get("k", A.arch_id)
    assert got is not None and (got.latency_median_ms, got.latency_cv, got.paired_speedup) == (2.5, 0.05, 3.0)
    assert got.loss == measured(A).loss and store.get("other", A.arch_id) == measured(A)
    with pytest.raises(KeyError, match="no measurement of"):
        store.replace("k", measured(B))


def test_setting_key_depends_on_every_part() -> None:
    base = {"teacher": "t", "steps": 40, "profile": {"threads": 1}}
    assert setting_key(base) == setting_key(dict(reversed(base.items())))  # order does not matter
    assert setting_key(base) != setting_key({**base, "steps": 41})
    assert setting_key(base) != setting_key({**base, "profile": {"threads": 2}})


def test_leases_live_expired_and_released(store_url: NewStore) -> None:
    store = CandidateStore(store_url())
    assert store.acquire("k", A.arch_id, "otherhost:1:/a", lease_seconds=0.5)
    assert not store.acquire("k", A.arch_id, "otherhost:2:/b", lease_seconds=0.5)  # a fresh lease: wait
    assert store.acquire("k", A.arch_id, "otherhost:1:/a")  # its owner may take it again
    assert store.renew("k", A.arch_id, "otherhost:1:/a") and not store.renew("k", A.arch_id, "otherhost:2:/b")
    time.sleep(0.6)  # not renewed for lease_seconds: the owner is presumed dead
    assert store.acquire("k", A.arch_id, "otherhost:2:/b", lease_seconds=0.5)
    assert not store.renew("k", A.arch_id, "otherhost:1:/a")  # the old owner lost it
    store.release("k", A.arch_id, "otherhost:1:/a")  # not its lease any more: nothing happens
    assert not store.acquire("k", A.arch_id, "otherhost:3:/c", lease_seconds=60)
    store.release("k", A.arch_id, "otherhost:2:/b")
    assert store.acquire("k", A.arch_id, "otherhost:3:/c", lease_seconds=60)


def test_a_dead_process_on_this_host_loses_its_lease_at_once(store_url: NewStore) -> None:
    import socket
    import subprocess
    import sys

    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True).stdout)  # a process that has exited
    store = CandidateStore(store_url())
    assert store.acquire("k", A.arch_id, f"{socket.gethostname()}:{pid}:/run")
    assert store.acquire("k", A.arch_id, "me", lease_seconds=3600)


def test_heartbeat_keeps_a_long_distillation_leased(store_url: NewStore) -> None:
    store = CandidateStore(store_url())
    assert store.acquire("k", A.arch_id, "otherhost:1:/a", lease_seconds=0.4)
    with store.heartbeat("k", A.arch_id, "otherhost:1:/a", lease_seconds=0.4):
        time.sleep(1.2)  # three lease lengths
        assert not store.acquire("k", A.arch_id, "otherhost:2:/b", lease_seconds=0.4)
    time.sleep(0.5)  # no more beats: it expires
    assert store.acquire("k", A.arch_id, "otherhost:2:/b", lease_seconds=0.4)


def test_concurrent_acquires_have_one_winner(store_url: NewStore) -> None:
    url = store_url()
    stores = [CandidateStore(url) for _ in range(6)]
    wins: list[int] = []
    barrier = threading.Barrier(len(stores))

    def race(i: int) -> None:
        barrier.wait()
        if stores[i].acquire("k", B.arch_id, f"otherhost:{i}:/run", lease_seconds=60):
            wins.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_wait_or_claim_returns_a_stored_measurement(store_url: NewStore) -> None:
    store = CandidateStore(store_url())
    assert store.wait_or_claim("k", A.arch_id, "job-a") is None  # nobody has it: job a leases it
    done = threading.Timer(0.3, lambda: (store.put("k", measured(A)), store.release("k", A.arch_id)))
    done.start()
    found = store.wait_or_claim("k", A.arch_id, "otherhost:2:/b", poll=0.05)  # waits for job a's result
    assert found is not None and found.loss == pytest.approx(0.1)


def test_proposals_and_meta_for_resume(store_url: NewStore) -> None:
    store = CandidateStore(store_url())
    assert store.proposals("run", 0) is None
    store.save_proposals("run", 0, [B, A], ["seed", "explore"])
    assert store.proposals("run", 0) == [(B, "seed"), (A, "explore")]  # slot order kept
    assert store.proposals("run", 1) is None
    store.set_meta("teacher_latency", {"median_ms": 12.5})
    store.set_meta("teacher_latency", {"median_ms": 13.5})
    assert store.meta("teacher_latency") == {"median_ms": 13.5}


def test_stored_evaluator_measures_each_architecture_once(store_url: NewStore, tmp_path: Path) -> None:
    calls: list[str] = []

    def evaluate(arch: ArchSpec, seed: int) -> Measurement:
        calls.append(arch.arch_id)
        return measured(arch)

    shared = CandidateStore(store_url())
    first = StoredEvaluator(evaluate, CandidateStore(tmp_path / "a.sqlite"), "k", shared=shared)
    assert first(A, 0).run == THIS_RUN and first(A, 0).run == THIS_RUN  # the second call is the resume path
    assert calls == [A.arch_id] and first.distilled == 1
    other_job = StoredEvaluator(evaluate, CandidateStore(tmp_path / "b.sqlite"), "k", shared=shared)
    reused = other_job(A, 0)
    assert reused.run == SHARED and reused.loss == pytest.approx(0.1) and calls == [A.arch_id]
    assert other_job(B, 0).run == THIS_RUN and calls == [A.arch_id, B.arch_id]
    assert shared.acquire("k", B.arch_id, "otherhost:9:/x", lease_seconds=60)  # its lease was released
    # killed between the run's write and the shared one: the resume writes it to the shared store too
    own = CandidateStore(tmp_path / "c.sqlite")
    own.put("k", Measurement(ArchSpec(3, 16, 1, 32, "gelu"), "ok", loss=0.3, latency_median_ms=2.0, run=THIS_RUN))
    StoredEvaluator(evaluate, own, "k", shared=shared)(ArchSpec(3, 16, 1, 32, "gelu"), 0)
    assert shared.get("k", ArchSpec(3, 16, 1, 32, "gelu").arch_id) is not None


# --------------------------------------------------------------------------------------------------
# faults
def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "search.sqlite"
    path.write_bytes(b"half a copy of something else" * 100)
    before = snapshot(path)
    with pytest.raises(StoreError, match=r"is not an SQLite database .*left as it is") as info:
        CandidateStore(path, key="hydra.run.dir")
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert snapshot(path) == before


def test_a_foreign_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('mine')")
    before = snapshot(path)
    with pytest.raises(StoreError, match="not a kdnas candidate store"):
        CandidateStore(path)
    assert snapshot(path) == before


def test_a_version_1_store_is_migrated_with_its_rows(tmp_path: Path) -> None:
    old = (Path(__file__).parent / "data" / "store_v1.sql").read_text()
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(old)
    store = CandidateStore(path)
    m = store.get("k", A.arch_id)
    assert m is not None and m.loss == pytest.approx(0.25) and store.proposals("run", 0) == [(A, "explore")]
    assert store.acquire("k", B.arch_id, "me")  # the lease table exists now
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM kdnas_schema").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    CandidateStore(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE kdnas_schema SET version = ?", (SCHEMA_VERSION + 1,))
    before = snapshot(path)
    with pytest.raises(StoreError, match="newer than this kdnas reads"):
        CandidateStore(path)
    assert snapshot(path) == before


def test_an_unreachable_server_is_one_line_with_the_password_masked() -> None:
    from tests.postgres_server import _free_port

    url = f"postgresql+psycopg://kdnas:s3cret@127.0.0.1:{_free_port()}/kdnas"
    with pytest.raises(StoreError, match="cannot connect") as info:
        CandidateStore(url)
    assert "s3cret" not in str(info.value) and "***" in str(info.value) and "\n" not in str(info.value)


def test_a_server_that_drops_is_retried_then_stops_with_finished_candidates_safe(tmp_path: Path) -> None:
    from tests.postgres_server import PostgresUnavailable, new_database, postgres_server

    calls: list[str] = []

    def evaluate(arch: ArchSpec, seed: int) -> Measurement:
        calls.append(arch.arch_id)
        return measured(arch)

    own = CandidateStore(tmp_path / "run.sqlite")
    try:
        with postgres_server() as base:
            shared = CandidateStore(new_database(base), retries=2, retry_wait=0.05)
            StoredEvaluator(evaluate, own, "k", shared=shared)(A, 0)
    except PostgresUnavailable as err:
        pytest.skip(f"PostgreSQL back-end not tested: {err}")
    with pytest.raises(StoreError, match=r"stopped answering .* after 3 tries.*re-run the same command"):
        StoredEvaluator(evaluate, own, "k", shared=shared)(B, 0)  # the server is gone
    assert calls == [A.arch_id] and own.get("k", A.arch_id) is not None  # the finished one is safe


def test_jobs_opening_an_empty_store_together_create_it_once(store_url: NewStore) -> None:
    url = store_url()
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_it() -> None:
        barrier.wait()
        try:
            CandidateStore(url).put("k", measured(A))
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(CandidateStore(url).measurements("k")) == 1
