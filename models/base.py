"""Database handle and base model.

The application binds ``db`` (a proxy) to SQLite or PostgreSQL at start-up from
``DATABASE_URL``; models never know which one they talk to.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from urllib.parse import urlparse

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase

db = pw.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 10000,
    "foreign_keys": 1,
    "synchronous": "normal",
    "analysis_limit": 400,  # PRAGMA optimize's ANALYZE reads a sample of each index, not all of it
}


def utcnow() -> dt.datetime:
    """Naive UTC 'now': every DateTimeField in Attest holds naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(pw.Model):
    class Meta:
        database = db
        legacy_table_names = False


# Parallel workers only for work that saves more than starting them costs: the planner's default (1000)
# sends the dashboard's short top-50 reads (a few thousand rows) to two workers whose start-up takes longer
# than the read itself (4 ms serial, 7-12 ms parallel at ``demo --scale 280``); large scans stay parallel.
POSTGRES_SESSION_OPTIONS = "-c parallel_setup_cost=10000"


class OptimisingSqliteDatabase(pw.SqliteDatabase):
    """SQLite as its documentation advises for short-lived connections (each request opens and closes one):
    ``PRAGMA optimize`` as a connection closes, so that the planner's statistics (``sqlite_stat1``) exist
    and follow the data. Without it a live database never gathers any: the overdue dashboard took 59 ms on
    an un-analysed 300k-request database and 40 ms once analysed. Usually a no-op; when a table the
    connection read lacks statistics or changed a lot, an ANALYZE of that table bounded by analysis_limit."""

    def _close(self, conn) -> None:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA optimize")
        super()._close(conn)


def make_database(url: str) -> pw.Database:
    """Build (not connect) a database from a ``sqlite:///path`` or ``postgresql://`` URL."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else parsed.path
        if path != ":memory:":
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
        # BEGIN IMMEDIATE: a transaction takes SQLite's write lock when it starts, so a writer waits
        # (busy_timeout) instead of failing with "database is locked" when a deferred transaction that
        # read first tries to upgrade its lock while another process writes.
        return OptimisingSqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10, lock_type="IMMEDIATE")
    if parsed.scheme in ("postgres", "postgresql"):
        return PooledPostgresqlDatabase(
            parsed.path.lstrip("/") or "postgres",
            user=parsed.username or "postgres",
            password=parsed.password,
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            max_connections=int(os.environ.get("DB_POOL_SIZE", "20")),
            stale_timeout=300,
            timeout=10,
            options=POSTGRES_SESSION_OPTIONS,
        )
    raise ValueError(f"unsupported DATABASE_URL scheme {parsed.scheme!r}; use sqlite:/// or postgresql://")


def bind_database(url: str) -> pw.Database:
    database = make_database(url)
    db.initialize(database)
    return database


def transaction():
    """The one way services write: ``with transaction(): ...`` (nested, a savepoint).

    On SQLite it is ``BEGIN IMMEDIATE`` (see ``make_database``); each service write records its audit
    event inside the same transaction, so a change and its audit event commit or fail together.
    """
    return db.atomic()


def serialise_writers(key: str) -> None:
    """Inside a write transaction: make every other transaction that calls this with the same ``key`` wait
    until this one ends. SQLite's BEGIN IMMEDIATE already lets one writer in at a time; on PostgreSQL it is a
    transaction-scoped advisory lock. For check-then-insert rules no unique index can express (names unique
    whatever their case, the audit chain's tail)."""
    if is_postgres():
        db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))


def is_postgres() -> bool:
    return isinstance(db.obj, pw.PostgresqlDatabase)
