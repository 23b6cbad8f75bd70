"""Peewee migrations -- 195_optional_regimes.py.

Optional reporting regimes an engagement switches on (both off by default): SOCI Act cyber-incident reporting
(ss 30BC, 30BD) and ransomware payment reports (Cyber Security Act 2024 Part 3); and the incident flags that
start their clocks.
"""

import peewee as pw
from peewee_migrate import Migrator

SWITCHES = ("soci_reporting", "ransomware_reporting")
FLAGS = ("soci_significant", "soci_relevant", "ransom_paid")


def _sqlite(database: pw.Database) -> bool:
    return isinstance(getattr(database, "obj", database), pw.SqliteDatabase)


def _add_booleans(migrator: Migrator, database: pw.Database, table: str, names: tuple[str, ...]) -> None:
    """NOT NULL booleans added in place (see 110: peewee would rebuild the table on SQLite, and a rebuild
    cascades through every referencing row)."""
    fields = {name: pw.BooleanField(default=False) for name in names}
    if _sqlite(database):
        for name in names:
            migrator.sql(f'ALTER TABLE "{table}" ADD COLUMN "{name}" INTEGER NOT NULL DEFAULT 0')
        with migrator.fake():
            migrator.add_fields(table, **fields)
    else:
        migrator.add_fields(table, **fields)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """The engagement's switches and the incident's flags."""
    _add_booleans(migrator, database, "engagement", SWITCHES)
    _add_booleans(migrator, database, "incident", FLAGS)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop them again."""
    migrator.remove_fields("incident", *FLAGS)
    migrator.remove_fields("engagement", *SWITCHES)
