"""Peewee migrations -- 014_tally_covering_index.py (the dashboard's tally reads its index alone).

``request_tally (status, month, framework_id, engagement_id, n)``: the 12-month trend and the heat map's
overdue cells look up one tally row per engagement × month × state (about 6,700 at ``demo --scale 280``);
through the unique key, which leaves out ``n``, each look-up also read the row. With ``n`` in an index the
look-ups stay in it (trend 7.5 -> 3.9 ms, overdue heat cells 4.1 -> 2.5 ms at scale 280 on SQLite). The unique
key stays: the triggers' upserts name it.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    migrator.add_index('request_tally', 'status', 'month', 'framework_id', 'engagement', 'n', unique=False)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.drop_index('request_tally', 'status', 'month', 'framework_id', 'engagement', 'n')
