"""The persistent candidate store (SQLite): what makes a search resumable and shareable.

Two tables:

- ``measurements``: one row per (setting, architecture) — the proxy loss and latency of a distilled
  candidate, where *setting* hashes everything that determines them (teacher, proxy set, distillation
  settings, latency profile). A row is written as soon as a candidate finishes, in one transaction; a
  killed search loses at most the candidate in progress. Parallel jobs (Hydra multirun) may share one
  database file: SQLite's locking serialises writers, and an insert of an existing key is ignored.
- ``proposals``: the candidates each episode of a run chose, written before they are distilled, so a
  resumed run evaluates exactly the same candidates it would have.
- ``meta``: small key/value facts of a run (the teacher's latency, so a resumed run scores alike).
- ``claims``: in a store shared by parallel jobs, who is distilling which candidate right now, so two
  jobs that propose the same architecture distil it once: the second waits for the first's result.
  A claim whose process died (same host) or that is older than ``stale_seconds`` is taken over.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kdnas.models.arch import ArchSpec

SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    setting TEXT NOT NULL,
    arch_id TEXT NOT NULL,
    arch TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    parameters INTEGER,
    parameters_without_embeddings INTEGER,
    loss REAL,
    latency_median_ms REAL,
    latency_p90_ms REAL,
    latency_cv REAL,
    wall_seconds REAL,
    run TEXT,
    created REAL,
    PRIMARY KEY (setting, arch_id)
);
CREATE TABLE IF NOT EXISTS proposals (
    run TEXT NOT NULL,
    episode INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    arch_id TEXT NOT NULL,
    arch TEXT NOT NULL,
    mode TEXT,
    PRIMARY KEY (run, episode, slot)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claims (
    setting TEXT NOT NULL,
    arch_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    PRIMARY KEY (setting, arch_id)
);
"""


#: :attr:`Measurement.run` of a run's own measurements and of those read from a shared store
THIS_RUN, SHARED = "run", "shared"


def setting_key(parts: Mapping[str, Any]) -> str:
    """A 16-hex-digit hash of everything that determines a candidate's measured loss and latency.

    Measurements are stored under it: two searches share a measurement only when their settings agree
    (teacher, proxy set, distillation settings, latency profile...), whatever their budgets.
    """
    return hashlib.sha256(json.dumps(dict(parts), sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Measurement:
    """What distilling one candidate on the proxy set measured."""

    arch: ArchSpec
    status: str  # ok | failed
    reason: str = ""
    parameters: int = 0
    parameters_without_embeddings: int = 0
    loss: float = float("nan")
    latency_median_ms: float = float("nan")
    latency_p90_ms: float = float("nan")
    latency_cv: float = float("nan")
    wall_seconds: float = 0.0
    #: who measured it: :data:`THIS_RUN` (this run's own, also after a resume), :data:`SHARED` (another job of
    #: a shared store), or empty (not stored yet)
    run: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["arch"] = json.dumps(self.arch.to_dict(), sort_keys=True)
        return row


class CandidateStore:
    """SQLite-backed store; safe to open from several processes at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=60.0)
        try:
            db.execute("PRAGMA busy_timeout = 60000")
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        finally:
            db.close()

    # --- measurements --------------------------------------------------------------------------------
    def put(self, setting: str, m: Measurement) -> None:
        row = m.to_row()
        row.update(setting=setting, arch_id=m.arch.arch_id, created=time.time())
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._connect() as db:
            db.execute(f"INSERT OR IGNORE INTO measurements ({columns}) VALUES ({marks})", row)

    def get(self, setting: str, arch_id: str) -> Measurement | None:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            row = db.execute(
                "SELECT * FROM measurements WHERE setting = ? AND arch_id = ?", (setting, arch_id)
            ).fetchone()
        return _measurement(row) if row else None

    # --- claims (shared stores) ---------------------------------------------------------------------
    def claim(self, setting: str, arch_id: str, owner: str, stale_seconds: float = 6 * 3600) -> bool:
        """Try to become the one process distilling ``arch_id``; False if a live process already is."""
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # serialise claimers
            row = db.execute(
                "SELECT owner, host, pid, started FROM claims WHERE setting = ? AND arch_id = ?", (setting, arch_id)
            ).fetchone()
            if row is not None and row[0] != owner and not _claim_dead(row[1], row[2], row[3], stale_seconds):
                return False
            db.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?)", (setting, arch_id, owner, host, pid, now)
            )
        return True

    def release(self, setting: str, arch_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM claims WHERE setting = ? AND arch_id = ?", (setting, arch_id))

    def wait_or_claim(
        self, setting: str, arch_id: str, owner: str, poll: float = 1.0, stale_seconds: float = 6 * 3600
    ) -> Measurement | None:
        """The measurement once another job stores it, or None once this job holds the claim (distil it)."""
        while True:
            found = self.get(setting, arch_id)
            if found is not None:
                return found
            if self.claim(setting, arch_id, owner, stale_seconds):
                found = self.get(setting, arch_id)  # stored between our read and our claim
                if found is not None:
                    self.release(setting, arch_id)
                return found
            time.sleep(poll)

    # --- proposals -------------------------------------------------------------------------------------
    def save_proposals(self, run: str, episode: int, archs: list[ArchSpec], modes: list[str]) -> None:
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO proposals VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run, episode, slot, a.arch_id, json.dumps(a.to_dict(), sort_keys=True), mode)
                    for slot, (a, mode) in enumerate(zip(archs, modes, strict=True))
                ],
            )

    def proposals(self, run: str, episode: int) -> list[tuple[ArchSpec, str]] | None:
        with self._connect() as db:
            rows = db.execute(
                "SELECT arch, mode FROM proposals WHERE run = ? AND episode = ? ORDER BY slot", (run, episode)
            ).fetchall()
        return [(ArchSpec.from_dict(json.loads(a)), mode) for a, mode in rows] if rows else None

    # --- meta ----------------------------------------------------------------------------------------
    def meta(self, key: str) -> Any:
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))


def _claim_dead(host: str, pid: int, started: float, stale_seconds: float) -> bool:
    if time.time() - started > stale_seconds:
        return True
    if host != socket.gethostname():
        return False  # cannot see another machine's processes: trust the claim until it is stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _measurement(row: sqlite3.Row) -> Measurement:
    d = dict(row)
    nan = float("nan")
    return Measurement(
        arch=ArchSpec.from_dict(json.loads(d["arch"])),
        status=d["status"],
        reason=d["reason"] or "",
        parameters=d["parameters"] or 0,
        parameters_without_embeddings=d["parameters_without_embeddings"] or 0,
        loss=nan if d["loss"] is None else d["loss"],
        latency_median_ms=nan if d["latency_median_ms"] is None else d["latency_median_ms"],
        latency_p90_ms=nan if d["latency_p90_ms"] is None else d["latency_p90_ms"],
        latency_cv=nan if d["latency_cv"] is None else d["latency_cv"],
        wall_seconds=d["wall_seconds"] or 0.0,
        run=d["run"] or "",
    )
