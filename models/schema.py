"""Apply the committed migrations in ``migrations/`` (peewee-migrate)."""
from __future__ import annotations

import logging
import os

from peewee_migrate import Router

from .base import db

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def migrate_database() -> list[str]:
    """Run every pending migration; returns the names applied."""
    router = Router(db.obj, migrate_dir=MIGRATIONS_DIR, ignore=["basemodel"],
                    logger=logging.getLogger("attest.migrate"))
    pending = router.diff
    if pending:
        router.run()
    return list(pending)


def drop_everything() -> None:
    """Test helper: remove every table (PostgreSQL keeps state between runs)."""
    from . import ALL_MODELS
    from .base import is_postgres
    options = {"cascade": True} if is_postgres() else {}
    db.drop_tables(list(reversed(ALL_MODELS)), safe=True, **options)
    db.execute_sql("DROP TABLE IF EXISTS migratehistory")
