"""Peewee migrations -- 250_credit_states.py.

A service credit's states are exactly SPEC §8's (payable, earned_back, credited, waived). An item inside its
earn-back window has no state yet: ``state`` becomes nullable and the rows stored as ``accruing`` become NULL
with ``earn_back_until``, the last month of their window (the credit's month + the engagement's earn-back
months), which the next recomputation keeps up to date.
"""

import peewee as pw
from peewee_migrate import Migrator


def _month_plus(month: str, count: int) -> str:
    year, number = divmod(int(month[:4]) * 12 + int(month[5:7]) - 1 + count, 12)
    return f"{year:04d}-{number + 1:02d}"


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """earn_back_until added; state nullable (SQLite rebuilds service_credit, which no table references);
    accruing rows moved to NULL."""
    migrator.add_fields("service_credit", earn_back_until=pw.CharField(max_length=7, null=True))
    migrator.drop_not_null("service_credit", "state")

    def open_windows_have_no_state():
        credit, settings = migrator.orm["service_credit"], migrator.orm["commercial_settings"]
        months = dict(settings.select(settings.engagement, settings.earn_back_months).tuples())
        rows = credit.select(credit.id, credit.engagement, credit.month).where(credit.state == "accruing").tuples()
        for credit_id, engagement_id, month in list(rows):
            until = _month_plus(month, max(months.get(engagement_id, 0), 1))
            credit.update(state=None, earn_back_until=until).where(credit.id == credit_id).execute()

    migrator.run(open_windows_have_no_state)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Open windows back to accruing, state NOT NULL again, earn_back_until dropped."""
    migrator.sql("UPDATE service_credit SET state = 'accruing' WHERE state IS NULL")
    migrator.add_not_null("service_credit", "state")
    migrator.remove_fields("service_credit", "earn_back_until")
