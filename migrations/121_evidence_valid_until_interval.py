"""Peewee migrations -- 121_evidence_valid_until_interval.py (evidence never outlives its control's interval).

Evidence used to stay valid for its requirement's ``validity_days`` (400 days for an annual test, 100-120 for a
quarterly scan), so late evidence counted as valid. From this version an item is valid for at most one interval
of its control's schedule plus the engagement's grace days (``domain.evidence.valid_until``). This migration brings
the submitted and accepted items already stored under that bound; it never extends one. Items of event-driven
controls (and RRULE schedules) keep theirs. Idempotent: a second run finds nothing above the bound. The expiry
pass of the next tick then expires what the bound puts in the past, with its reason in the request's history.

The interval is parsed here, not imported from the application, so the migration keeps its meaning if that
code changes.
"""

import datetime as dt
import re
from contextlib import suppress

import peewee as pw
from dateutil.relativedelta import relativedelta
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
BATCH = 500


def interval_of(frequency: str):
    """The relativedelta of an ISO 8601 duration such as ``P3M``; None for ``event`` and RRULEs."""
    match = _DURATION.match((frequency or "").strip())
    if not match or not any(match.groups()):
        return None
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return relativedelta(years=years, months=months, weeks=weeks, days=days)


def cap_valid_until(evidence, request, control, engagement) -> int:
    """Bring every submitted or accepted item's valid_until down to effective date + interval + grace; returns how
    many items changed. Takes the four tables as models so it runs on the migrator's frozen ones."""
    rows = (evidence.select(evidence.id, evidence.effective_date, evidence.valid_until, control.frequency,
                            engagement.grace_days)
            .join(request, on=(evidence.request == request.id))
            .join(control, on=(request.control == control.id))
            .switch(evidence).join(engagement, on=(evidence.engagement == engagement.id))
            .where(evidence.status.in_(["submitted", "accepted"]), evidence.valid_until.is_null(False))
            .order_by(evidence.id).tuples())
    changes = []
    for evidence_id, effective, valid_until, frequency, grace_days in rows:
        interval = interval_of(frequency)
        if interval is None:
            continue
        bound = effective + interval + dt.timedelta(days=grace_days)
        if valid_until > bound:
            changes.append((evidence_id, bound))
    for start in range(0, len(changes), BATCH):
        with evidence._meta.database.atomic():
            for evidence_id, bound in changes[start:start + BATCH]:
                evidence.update(valid_until=bound).where(evidence.id == evidence_id).execute()
    return len(changes)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    def cap():
        orm = migrator.orm
        cap_valid_until(orm['evidence'], orm['evidence_request'], orm['control'], orm['engagement'])

    migrator.run(cap)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    # The longer validities are not restored: they let late evidence count as valid.
