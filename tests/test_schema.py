"""The committed migrations build exactly the schema the models describe (no forgotten migration),
and the SQLite database is set up as SPEC §6 requires."""
import os

import pytest

import models


def test_every_model_column_exists_in_the_migrated_database(database):
    for model in models.ALL_MODELS:
        table = model._meta.table_name
        columns = {c.name for c in database.get_columns(table)}
        expected = {f.column_name for f in model._meta.sorted_fields}
        assert expected == columns, f"{table}: migrations and models differ: {expected ^ columns}"


def test_dashboard_indexes_exist(database):
    indexes = {tuple(i.columns) for i in database.get_indexes("evidence_request")}
    # migration 011 extended (engagement_id, status, due_at) with control_id: it serves the same prefix queries
    # and covers the dashboard's due-soon counts per engagement × control
    assert ("engagement_id", "status", "due_at", "control_id") in indexes
    assert ("engagement_id", "due_at") in indexes
    assert ("status", "due_at", "engagement_id", "control_id") in indexes
    tally = {tuple(i.columns) for i in database.get_indexes("request_tally")}
    assert ("status", "month", "framework_id", "engagement_id") in tally


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="SQLite settings")
def test_sqlite_runs_in_wal_with_foreign_keys(database):
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_index_names_match_the_models(database):
    """Later migrations add and drop indexes by the names the models give them."""
    for model in models.ALL_MODELS:
        table = model._meta.table_name
        expected = {index._name for index in model._meta.fields_to_index()}
        actual = {i.name for i in database.get_indexes(table)} - {f"{table}_pkey"}
        assert expected <= actual, f"{table}: missing {expected - actual}"
