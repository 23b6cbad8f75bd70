"""Database handle and base model.

The application binds ``db`` (a proxy) to SQLite or PostgreSQL at start-up from
``DATABASE_URL``; models never know which one they talk to.
"""
from __future__ import annotations

import datetime as dt
import os
from urllib.parse import urlparse

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase

db = pw.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 10000,
    "foreign_keys": 1,
    "synchronous": "normal",
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
        return pw.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10, lock_type="IMMEDIATE")
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
