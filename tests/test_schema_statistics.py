"""SQLite gathers planner statistics as its documentation advises: ``PRAGMA optimize`` as each connection
closes (each request opens and closes one), so a live database has ``sqlite_stat1`` without anyone running
ANALYZE."""
from __future__ import annotations

import sqlite3

import peewee as pw

from models.base import make_database


def test_closing_a_connection_gathers_statistics_for_the_indexes_it_used(tmp_path):
    path = tmp_path / "live.db"
    database = make_database(f"sqlite:///{path}")

    class Item(pw.Model):
        kind = pw.CharField(index=True)

        class Meta:
            database = None
    Item._meta.set_database(database)
    database.connect()
    database.create_tables([Item])
    with database.atomic():
        Item.insert_many([{"kind": f"k{i % 50}"} for i in range(5000)]).execute()
    database.close()
    database.connect()
    assert Item.select().where(Item.kind == "k7").count() == 100  # a read the planner would plan better
    database.close()
    with sqlite3.connect(path) as raw:
        stats = dict(raw.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'item'").fetchall())
    assert stats and any(name.startswith("item_kind") for name in stats), stats
