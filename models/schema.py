"""Apply the committed migrations in ``migrations/`` (peewee-migrate)."""
from __future__ import annotations

import logging
import os
import re

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


def create_migration(name: str) -> str:
    """Write migrations/NNN_<name>.py with what the models changed since the last migration.

    peewee-migrate freezes each model it writes; its frozen classes need ``legacy_table_names = False``
    so that index names match the models' (the test suite checks they do).
    """
    from . import ALL_MODELS
    router = Router(db.obj, migrate_dir=MIGRATIONS_DIR, ignore=["basemodel"],
                    logger=logging.getLogger("attest.migrate"))
    created = router.create(name, auto=ALL_MODELS)
    if not created:
        return ""
    path = os.path.join(MIGRATIONS_DIR, f"{created}.py")
    with open(path) as handle:
        text = handle.read()
    text = re.sub(r'^(\s+)table_name = ("[a-z_]+")$', r"\1table_name = \2\n\1legacy_table_names = False", text,
                  flags=re.M)
    with open(path, "w") as handle:
        handle.write(text)
    return path
