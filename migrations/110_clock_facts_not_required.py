"""Peewee migrations -- 110_clock_facts_not_required.py.

Clocks closed as ``not_required`` with their reason, the instant the fact that started a clock was
established (a flag added after the incident was recorded), and the engagement setting that binds the
provider by the Privacy Act itself (its own s 26WH assessment clock).
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def _sqlite(database: pw.Database) -> bool:
    return isinstance(getattr(database, "obj", database), pw.SqliteDatabase)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    if _sqlite(database):
        # In place (see 002): peewee would rebuild "clock" and "engagement" for NOT NULL columns, and a
        # rebuild cascades through every referencing row. SQLite does not enforce VARCHAR lengths, so the
        # wider clock state ("not_required") needs no change there.
        migrator.sql("""ALTER TABLE "clock" ADD COLUMN "established_at" DATETIME""")
        migrator.sql("""ALTER TABLE "clock" ADD COLUMN "reason" TEXT NOT NULL DEFAULT ''""")
        migrator.sql("""ALTER TABLE "engagement" ADD COLUMN "provider_privacy_act" INTEGER NOT NULL DEFAULT 0""")
        with migrator.fake():
            migrator.add_fields('clock', established_at=pw.DateTimeField(null=True),
                                reason=pw.TextField(default=''))
            migrator.change_fields('clock', state=pw.CharField(default='running', max_length=20))
            migrator.add_fields('engagement', provider_privacy_act=pw.BooleanField(default=False))
    else:
        migrator.sql("""ALTER TABLE "clock" ALTER COLUMN "state" TYPE VARCHAR(20)""")
        with migrator.fake():
            migrator.change_fields('clock', state=pw.CharField(default='running', max_length=20))
        migrator.add_fields('clock', established_at=pw.DateTimeField(null=True), reason=pw.TextField(default=''))
        migrator.add_fields('engagement', provider_privacy_act=pw.BooleanField(default=False))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_fields('engagement', 'provider_privacy_act')
    migrator.remove_fields('clock', 'established_at', 'reason')
