"""Peewee migrations -- 200_library_calendars_requires.py.

``clock_rule.calendar``: the calendar a business-day rule names (``place``, ``head_office``, ``intersection``;
'' = the engagement's choice). ``framework.requires``: the engagement setting a framework applies under
(``card_payments`` for the card brands' rules, ``soci_reporting`` and ``ransomware_reporting`` for the optional
regimes; '' = always). Both NOT NULL with a '' default, added in place (see 195: on SQLite peewee would rebuild
the table, and a rebuild cascades through every referencing row).
"""

import peewee as pw
from peewee_migrate import Migrator

COLUMNS = (("clock_rule", "calendar"), ("framework", "requires"))


def _sqlite(database: pw.Database) -> bool:
    return isinstance(getattr(database, "obj", database), pw.SqliteDatabase)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Both columns, empty on every existing row until the next library load."""
    for table, name in COLUMNS:
        field = {name: pw.CharField(max_length=20, default="")}
        if _sqlite(database):
            migrator.sql(f'ALTER TABLE "{table}" ADD COLUMN "{name}" VARCHAR(20) NOT NULL DEFAULT \'\'')
            with migrator.fake():
                migrator.add_fields(table, **field)
        else:
            migrator.add_fields(table, **field)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop them again."""
    for table, name in COLUMNS:
        migrator.remove_fields(table, name)
