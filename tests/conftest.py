"""Test fixtures. The suite runs on SQLite by default and on PostgreSQL with
DATABASE_URL=postgresql://...; every session starts from empty tables, so a run never
depends on what an earlier one left behind."""
from __future__ import annotations

import os

import pytest

import models
from models.schema import drop_everything, migrate_database

LIBRARY_TABLES = {"library_version", "framework", "obligation", "control", "control_obligation",
                  "evidence_requirement", "clock_rule"}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "attest-test.db")


@pytest.fixture(scope="session")
def database(database_url):
    """A migrated, empty database for the whole session."""
    models.bind_database(database_url)
    models.db.connect(reuse_if_open=True)
    drop_everything()
    migrate_database()
    yield models.db
    models.db.close()


def _truncate(tables: list[str]) -> None:
    if models.is_postgres():
        models.db.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    else:
        models.db.execute_sql("PRAGMA foreign_keys = OFF")
        for table in tables:
            models.db.execute_sql(f'DELETE FROM "{table}"')
        models.db.execute_sql("PRAGMA foreign_keys = ON")


@pytest.fixture
def clean_db(database):
    """Empty every table before the test (the library included)."""
    _truncate([m._meta.table_name for m in models.ALL_MODELS])
    yield database
