"""Peewee migrations -- 120_obligation_alt_ref_verification.py (how far another number of an obligation is confirmed).

``obligation.alt_ref_verification``: ``verified``, ``secondary`` or ``unverified`` for the obligation's ``alt_ref``
(the CPS 230 2026 paragraph number): the 2026 number is shown only where a primary source confirms it. NULL
(every existing row until the next library load) reads as "not stated". A nullable column without a default is
added in place on SQLite and PostgreSQL alike.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    migrator.add_fields(
        'obligation',

        alt_ref_verification=pw.CharField(max_length=12, null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_fields('obligation', 'alt_ref_verification')
