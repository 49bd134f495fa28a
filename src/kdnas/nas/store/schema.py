"""The candidate store's tables (SQLAlchemy Core), their version, and the checks made before anything is written.

Version 1 is the SQLite layout of kdnas before leases (a ``claims`` table, no version table); it is migrated
in place (its measurements, proposals and meta are kept; claims are transient and dropped). Version 2 lacks
the measurements' ``paired_speedup`` and ``attempts`` columns: they are added in place (rows kept; an old row
has no paired speed-up and counts as one attempt). A store of a newer version, a database holding other
tables, or a file that is not a database is refused with one line, and left untouched.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, Float, Integer, MetaData, String, Table, Text, inspect, select

#: the layout this kdnas reads and writes
SCHEMA_VERSION = 3

metadata = MetaData()

measurements = Table(
    "measurements", metadata,
    Column("setting", String(64), primary_key=True),
    Column("arch_id", String(64), primary_key=True),
    Column("arch", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("parameters", Integer),
    Column("parameters_without_embeddings", Integer),
    Column("loss", Float),
    Column("latency_median_ms", Float),
    Column("latency_p90_ms", Float),
    Column("latency_cv", Float),
    Column("wall_seconds", Float),
    Column("paired_speedup", Float),  # v3: the speed-up timed side by side with the teacher
    Column("attempts", Integer),  # v3: distillations behind this row (a failure is retried once)
    Column("run", String(32)),
    Column("created", Float),
)
proposals = Table(
    "proposals", metadata,
    Column("run", String(64), primary_key=True),
    Column("episode", Integer, primary_key=True, autoincrement=False),
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("arch_id", String(64), nullable=False),
    Column("arch", Text, nullable=False),
    Column("mode", String(16)),
)
meta = Table("meta", metadata, Column("key", String(255), primary_key=True), Column("value", Text, nullable=False))
#: who is distilling which candidate: a lease its owner renews while it works (a heartbeat)
leases = Table(
    "leases", metadata,
    Column("setting", String(64), primary_key=True),
    Column("arch_id", String(64), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("acquired", Float, nullable=False),
    Column("renewed", Float, nullable=False),
)
version = Table("kdnas_schema", metadata, Column("version", Integer, nullable=False))

_V1_TABLES = {"measurements", "proposals", "meta", "claims"}
#: the measurements' columns added by version 3 (``ALTER TABLE ... ADD COLUMN``, NULL in existing rows)
_V3_COLUMNS = ("paired_speedup", "attempts")


class SchemaProblem(Exception):
    """The database is not a candidate store this kdnas can use (the message says why and what to do)."""


def prepare(conn: Connection) -> None:
    """Create the tables in an empty database, migrate version 1, check the version of an existing store.

    Raises:
        SchemaProblem: a newer version, or tables that are not a candidate store's (nothing is written).
    """
    if conn.dialect.name == "postgresql":  # jobs starting together on an empty database: one creates the tables
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242017)")
    tables = set(inspect(conn).get_table_names())
    ours = {t.name for t in metadata.sorted_tables}
    if not tables:
        metadata.create_all(conn)
        conn.execute(version.insert().values(version=SCHEMA_VERSION))
        return
    if "kdnas_schema" in tables:
        found = conn.execute(select(version.c.version)).scalar()
        if found == SCHEMA_VERSION and ours <= tables:
            return
        if found is not None and found > SCHEMA_VERSION:
            raise SchemaProblem(f"its schema version is {found}, newer than this kdnas reads ({SCHEMA_VERSION}): "
                                "upgrade kdnas, or use another store")
        if found == 2 and ours <= tables:  # kdnas before paired speed-ups and retries: add the columns
            _add_v3_columns(conn)
            conn.execute(version.update().values(version=SCHEMA_VERSION))
            return
        raise SchemaProblem(f"unknown schema version {found!r} or missing tables: use another store")
    if tables == _V1_TABLES:  # kdnas before leases: keep its rows, replace claims by leases
        leases.create(conn)
        version.create(conn)
        conn.exec_driver_sql("DROP TABLE claims")
        _add_v3_columns(conn)
        conn.execute(version.insert().values(version=SCHEMA_VERSION))
        return
    raise SchemaProblem(f"it holds other tables ({', '.join(sorted(tables)[:5])}): it is not a kdnas candidate store; "
                        "use an empty database or a new file")


def _add_v3_columns(conn: Connection) -> None:
    """Version 3's measurement columns, on a table that lacks them (its rows kept, the new cells NULL)."""
    present = {c["name"] for c in inspect(conn).get_columns("measurements")}
    for name in _V3_COLUMNS:
        if name not in present:
            column = measurements.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE measurements ADD COLUMN {name} {kind}")
