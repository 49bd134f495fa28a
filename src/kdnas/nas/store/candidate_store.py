"""The persistent candidate store: what makes a search resumable, and shareable by the jobs of a cluster.

One implementation on SQLAlchemy Core, two back-ends: an SQLite file (the run's ``search.sqlite`` and the
embedded default shared store) or any SQLAlchemy URL (``postgresql+psycopg://user@host/db``) that many
machines share. Tables (:mod:`.schema`):

- ``measurements``: one row per (setting, architecture), written once, as soon as a candidate finishes;
- ``proposals``: each episode's candidates, written before they are distilled (a resume repeats them);
- ``meta``: small facts of a run (the teacher's latency);
- ``leases``: who is distilling which candidate. The owner renews its lease while it works (a heartbeat,
  :meth:`CandidateStore.heartbeat`); a lease not renewed for ``lease_seconds`` (or whose process is gone,
  on the same host) is taken over by the next job that wants the candidate. Hosts' clocks must agree to
  well within ``lease_seconds`` (NTP does).

Transient failures (a locked SQLite file, a serialisation conflict, a server that drops) are retried with
backoff; after ``retries`` the operation raises :class:`~kdnas.errors.StoreError` with one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, InterfaceError, OperationalError

from kdnas.errors import StoreError
from kdnas.models.arch import ArchSpec
from kdnas.nas.store.measurement import Measurement
from kdnas.nas.store.schema import SchemaProblem, leases, measurements, meta, prepare, proposals

T = TypeVar("T")
#: a lease not renewed for this long is taken over (the default of ``search.lease_seconds``)
LEASE_SECONDS = 120.0


def store_url(where: str | os.PathLike[str]) -> str:
    """An SQLAlchemy URL for ``where``: a URL as it is, a file path as ``sqlite:///<absolute path>``."""
    text = os.fspath(where)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _first_line(err: BaseException) -> str:
    inner = getattr(err, "orig", None) or err
    return (str(inner).strip().splitlines() or [type(inner).__name__])[0][:200]


class CandidateStore:
    """A candidate store at ``where`` (a file path or an SQLAlchemy URL); safe to share between processes.

    Args:
        where: ``search.sqlite``-style path, or a database URL.
        key: the config key that chose the store, named in errors (``search.shared_store``, ``hydra.run.dir``).
        retries: attempts after the first for an operation that fails transiently.
        retry_wait: seconds before the first retry (doubling, up to 8 s).

    Raises:
        StoreError: the file is not an SQLite database or not a candidate store (left untouched), or the
            server cannot be reached (the URL's password masked).
    """

    def __init__(self, where: str | os.PathLike[str], key: str = "search.shared_store", retries: int = 5,
                 retry_wait: float = 0.5) -> None:
        self.url = store_url(where)
        self.key, self.retries, self.retry_wait = key, retries, retry_wait
        try:
            url = make_url(self.url)
        except ArgumentError as err:
            raise StoreError(f"{key}={where}: not a file path or a database URL ({_first_line(err)})") from err
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.where = (url.database or ":memory:") if self.is_sqlite else url.render_as_string(hide_password=True)
        if self.is_sqlite and url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = self._engine()
        try:
            self._transaction(prepare, retries=0)  # (SQLite serialises this with BEGIN IMMEDIATE)
        except SchemaProblem as err:
            raise StoreError(f"{key}: {self.where}: {err}; it was left as it is") from err
        except DatabaseError as err:
            raise self._open_error(err) from err

    def _engine(self) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, pool_pre_ping=True)
        engine = create_engine(self.url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _autocommit_driver(dbapi_conn: Any, _: Any) -> None:  # SQLAlchemy emits BEGIN itself, below
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Connection) -> None:  # one writer at a time: claims cannot race
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def _open_error(self, err: DatabaseError) -> StoreError:
        detail = _first_line(err)
        if self.is_sqlite and ("not a database" in detail or not isinstance(err, OperationalError)):
            return StoreError(f"{self.key}: {self.where} is not an SQLite database ({detail}); it was left as it is: "
                              f"move it away, or choose another {self.key}")
        if self.is_sqlite:
            return StoreError(f"{self.key}: cannot open {self.where} ({detail}); check the path and its permissions")
        return StoreError(f"{self.key}={self.where}: cannot connect ({detail}); start the server, or fix the URL")

    def _transaction(self, work: Callable[[Connection], T], retries: int | None = None) -> T:
        """``work(conn)`` in one transaction, retried on transient failures."""
        attempts = 1 + (self.retries if retries is None else retries)
        wait = self.retry_wait
        for attempt in range(attempts):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except (OperationalError, InterfaceError) as err:
                if attempt == attempts - 1:
                    if retries == 0:
                        raise
                    raise StoreError(
                        f"{self.key}: {self.where} stopped answering ({_first_line(err)}) after {attempts} tries; "
                        "finished candidates are safe in each run's search.sqlite: re-run the same command to resume"
                    ) from err
                time.sleep(wait)
                wait = min(2 * wait, 8.0)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- measurements --------------------------------------------------------------------------------
    def put(self, setting: str, m: Measurement) -> None:
        """Store ``m`` under ``setting``; a measurement already stored for that architecture is kept, unless it
        is a failure and ``m`` a later attempt at the same candidate (its retry)."""
        row = {**m.to_row(), "setting": setting, "arch_id": m.arch.arch_id, "created": time.time()}
        key = (measurements.c.setting == setting) & (measurements.c.arch_id == m.arch.arch_id)

        def insert(conn: Connection) -> None:
            try:
                with conn.begin_nested():
                    conn.execute(measurements.insert().values(**row))
            except IntegrityError:  # the key exists: written once, but a retry supersedes the failure
                superseded = key & (measurements.c.status == "failed") & (
                    func.coalesce(measurements.c.attempts, 1) < m.attempts)
                conn.execute(update(measurements).where(superseded).values(
                    **{k: v for k, v in row.items() if k not in ("setting", "arch_id", "created")}))

        self._transaction(insert)

    def replace(self, setting: str, m: Measurement) -> None:
        """Overwrite the stored measurement of ``m``'s architecture under ``setting`` (e.g. a re-timing of a
        finished one; :meth:`put` never overwrites a success).

        Raises:
            KeyError: nothing is stored for that architecture under ``setting``.
        """
        row = {k: v for k, v in m.to_row().items() if k not in ("setting", "arch_id", "created")}
        key = (measurements.c.setting == setting) & (measurements.c.arch_id == m.arch.arch_id)
        if not self._transaction(lambda conn: conn.execute(update(measurements).where(key).values(**row)).rowcount):
            raise KeyError(f"no measurement of {m.arch.short_name} ({m.arch.arch_id}) under setting {setting}")

    def get(self, setting: str, arch_id: str) -> Measurement | None:
        query = select(measurements).where(measurements.c.setting == setting, measurements.c.arch_id == arch_id)
        row = self._transaction(lambda conn: conn.execute(query).mappings().first())
        return None if row is None else Measurement.from_row(dict(row))

    def measurements(self, setting: str) -> list[Measurement]:
        """Every measurement of ``setting``, in the order they were stored."""
        query = select(measurements).where(measurements.c.setting == setting).order_by(measurements.c.created)
        rows = self._transaction(lambda conn: conn.execute(query).mappings().all())
        return [Measurement.from_row(dict(r)) for r in rows]

    # --- leases ----------------------------------------------------------------------------------------
    def acquire(self, setting: str, arch_id: str, owner: str, lease_seconds: float = LEASE_SECONDS) -> bool:
        """Become the one job distilling ``arch_id``; False while another live owner holds a fresh lease."""
        where = (leases.c.setting == setting) & (leases.c.arch_id == arch_id)

        def take(conn: Connection) -> bool:
            now = time.time()
            row = conn.execute(select(leases.c.owner, leases.c.renewed).where(where).with_for_update()).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(leases.insert().values(setting=setting, arch_id=arch_id, owner=owner,
                                                            acquired=now, renewed=now))
                except IntegrityError:  # another job inserted it between our read and our write
                    return False
                return True
            if row.owner != owner and row.renewed > now - lease_seconds and not _gone(row.owner):
                return False
            conn.execute(update(leases).where(where).values(owner=owner, acquired=now, renewed=now))
            return True

        return self._transaction(take)

    def renew(self, setting: str, arch_id: str, owner: str) -> bool:
        """Extend ``owner``'s lease; False if it is no longer theirs."""
        where = (leases.c.setting == setting) & (leases.c.arch_id == arch_id) & (leases.c.owner == owner)
        return self._transaction(lambda conn: conn.execute(update(leases).where(where).values(renewed=time.time()))
                                 .rowcount == 1)

    def release(self, setting: str, arch_id: str, owner: str | None = None) -> None:
        """Drop the lease (only ``owner``'s, when given)."""
        where = (leases.c.setting == setting) & (leases.c.arch_id == arch_id)
        if owner is not None:
            where = where & (leases.c.owner == owner)
        self._transaction(lambda conn: conn.execute(delete(leases).where(where)))

    @contextlib.contextmanager
    def heartbeat(self, setting: str, arch_id: str, owner: str, lease_seconds: float = LEASE_SECONDS) -> Iterator[None]:
        """Renew ``owner``'s lease every ``lease_seconds / 4`` while the block runs (a background thread)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(max(lease_seconds / 4, 0.05)):
                with contextlib.suppress(StoreError):  # a missed beat only shortens the lease
                    self.renew(setting, arch_id, owner)

        thread = threading.Thread(target=beat, name=f"kdnas-lease-{arch_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def wait_or_claim(self, setting: str, arch_id: str, owner: str, lease_seconds: float = LEASE_SECONDS,
                      poll: float = 1.0) -> Measurement | None:
        """The measurement once another job stores it, or None once this job holds the lease (distil it).

        A failure that may be retried (:attr:`Measurement.retryable`) is no answer: the first job to lease it
        distils it again, the others wait for that retry's result.
        """
        while True:
            found = self.get(setting, arch_id)
            if found is not None and not found.retryable:
                return found
            if self.acquire(setting, arch_id, owner, lease_seconds):
                found = self.get(setting, arch_id)  # stored between our read and our lease
                if found is not None and not found.retryable:
                    self.release(setting, arch_id, owner)
                    return found
                return None
            time.sleep(poll)

    # --- proposals and meta ----------------------------------------------------------------------------
    def save_proposals(self, run: str, episode: int, archs: list[ArchSpec], modes: list[str]) -> None:
        rows = [{"run": run, "episode": episode, "slot": slot, "arch_id": a.arch_id,
                 "arch": json.dumps(a.to_dict(), sort_keys=True), "mode": mode}
                for slot, (a, mode) in enumerate(zip(archs, modes, strict=True))]

        def write(conn: Connection) -> None:
            conn.execute(delete(proposals).where((proposals.c.run == run) & (proposals.c.episode == episode)))
            if rows:
                conn.execute(proposals.insert(), rows)

        self._transaction(write)

    def proposals(self, run: str, episode: int) -> list[tuple[ArchSpec, str]] | None:
        query = (select(proposals.c.arch, proposals.c.mode)
                 .where((proposals.c.run == run) & (proposals.c.episode == episode)).order_by(proposals.c.slot))
        rows = self._transaction(lambda conn: conn.execute(query).all())
        return [(ArchSpec.from_dict(json.loads(a)), mode) for a, mode in rows] if rows else None

    def meta(self, key: str) -> Any:
        row = self._transaction(lambda conn: conn.execute(select(meta.c.value).where(meta.c.key == key)).first())
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        def write(conn: Connection) -> None:
            conn.execute(delete(meta).where(meta.c.key == key))
            conn.execute(meta.insert().values(key=key, value=json.dumps(value)))

        self._transaction(write)


def owner_name(run_dir: str | os.PathLike[str] = "") -> str:
    """``host:pid:run_dir``: who holds a lease (a restarted job on the same host recognises a dead one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.fspath(run_dir)}"


def _gone(owner: str) -> bool:
    """The owner ran on this host and its process no longer exists (its lease need not wait to expire)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
