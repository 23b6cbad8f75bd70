"""Peewee migrations -- 275_sso_response_seen_keep_until.py.

``sso_response_seen.keep_until``: a SAML response's id is kept until its ``NotOnOrAfter`` plus the clock skew
allowed (a replay after that is refused as too old anyway), then the scheduler pass deletes it in batches;
the index is what that purge reads. NULL for the ids already kept: they go a day after ``seen_at``, as
before. A nullable column is added in place on SQLite and PostgreSQL alike.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """The column with its index (peewee-migrate creates a field's own index with it)."""
    migrator.add_fields('sso_response_seen', keep_until=pw.DateTimeField(null=True, index=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop them again (the index goes with the column)."""
    migrator.remove_fields('sso_response_seen', 'keep_until')
