"""Contract performance (SPEC §8): an engagement's KPIs and their versions, results, commercial settings, monthly
volumes, service credits and the escalation ladder's state.

Measurements and money are kept as exact decimal text (``DecimalText``): SQLite has no exact decimal column and
``Decimal`` must never pass through float. Rules live in ``domain.performance``.
"""
from __future__ import annotations

from decimal import Decimal

import peewee as pw

from .base import BaseModel, utcnow
from .evidence import Evidence
from .incidents import Finding
from .org import User
from .register import Engagement


class DecimalText(pw.CharField):
    """A ``Decimal`` stored as its exact text."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 40)
        super().__init__(*args, **kwargs)

    def db_value(self, value):
        return None if value is None else str(Decimal(value))

    def python_value(self, value):
        return None if value is None else Decimal(value)


class Kpi(BaseModel):
    """One measure of an engagement's golden set. Its versioned fields (levels, allocation, criticality,
    definition) live in ``KpiVersion``; the rest is fixed when the KPI is created."""
    engagement = pw.ForeignKeyField(Engagement, backref="kpis", on_delete="RESTRICT")
    code = pw.CharField(max_length=40)
    name = pw.CharField(max_length=200)
    category = pw.CharField(max_length=20)
    unit = pw.CharField(max_length=10)
    direction = pw.CharField(max_length=6)
    period = pw.CharField(max_length=7)  # weekly | monthly
    volume_sensitive = pw.BooleanField(default=False)
    template = pw.CharField(max_length=40, default="")
    client_owner = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="client_kpis")
    provider_owner = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="provider_kpis")
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="created_kpis")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("engagement", "code"), True),)


class KpiVersion(BaseModel):
    """Version ``n`` of a KPI's levels; ``proposed`` by one side, in effect from ``effective_from`` once the
    other side approves it (version 1 is agreed when the KPI is created)."""
    kpi = pw.ForeignKeyField(Kpi, backref="versions", on_delete="CASCADE")
    n = pw.IntegerField()
    state = pw.CharField(max_length=10)  # domain.performance.VERSION_TRANSITIONS
    expected = DecimalText()
    minimum = DecimalText()
    allocation_pct = DecimalText(default=Decimal(0))
    critical = pw.BooleanField(default=False)
    definition = pw.TextField()  # JSON {source, formula, sampling, exclusions}
    effective_from = pw.CharField(max_length=8)  # a period of the KPI's kind
    effective_start = pw.DateField()  # that period's first day (ordering)
    reason = pw.TextField(default="")
    proposed_side = pw.CharField(max_length=8, default="client")
    proposed_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="proposed_kpi_versions")
    proposed_at = pw.DateTimeField(default=utcnow)
    decided_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="decided_kpi_versions")
    decided_at = pw.DateTimeField(null=True)
    decision_reason = pw.TextField(default="")

    class Meta:
        indexes = ((("kpi", "n"), True),)


class KpiResult(BaseModel):
    """One submission of a KPI's value for a period; a rejected one is followed by a new submission (``n`` + 1).
    ``judged`` is the value against the levels in effect (version ``version``); ``outcome`` adds relief."""
    engagement = pw.ForeignKeyField(Engagement, backref="kpi_results", on_delete="RESTRICT")
    kpi = pw.ForeignKeyField(Kpi, backref="results", on_delete="CASCADE")
    period = pw.CharField(max_length=8)
    period_start = pw.DateField()
    month = pw.CharField(max_length=7)  # the month the period counts in (a week: where it ends)
    n = pw.IntegerField(default=1)
    value = DecimalText()
    volume = pw.BigIntegerField(null=True)
    evidence = pw.ForeignKeyField(Evidence, null=True, on_delete="SET NULL")
    evidence_sha256 = pw.CharField(max_length=64, default="")
    state = pw.CharField(max_length=10, default="submitted")
    version = pw.IntegerField(null=True)
    judged = pw.CharField(max_length=16, null=True)
    outcome = pw.CharField(max_length=16, null=True)
    excuse_reason = pw.TextField(default="")
    review_comment = pw.TextField(default="")
    submitted_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="submitted_kpi_results")
    submitted_at = pw.DateTimeField(default=utcnow)
    reviewed_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="reviewed_kpi_results")
    reviewed_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("kpi", "period", "n"), True), (("engagement", "month", "state"), False),
                   (("engagement", "state", "outcome"), False))


class CommercialSettings(BaseModel):
    engagement = pw.ForeignKeyField(Engagement, unique=True, on_delete="CASCADE", backref="commercial")
    currency = pw.CharField(max_length=3, default="AUD")
    at_risk_pct = DecimalText(default=Decimal(12))
    pool_pct = DecimalText(default=Decimal(250))
    repeat_multiplier = DecimalText(default=Decimal("1.0"))
    earn_back_months = pw.IntegerField(default=0)
    surge_tolerance_pct = DecimalText(default=Decimal(10))
    bands = pw.TextField(default="[]")  # JSON [{"from", "to", "unit_rate"}]
    updated_at = pw.DateTimeField(default=utcnow)


class MonthVolume(BaseModel):
    """A month's forecast and actual volumes and its charges (None: computed from the bands)."""
    engagement = pw.ForeignKeyField(Engagement, backref="month_volumes", on_delete="CASCADE")
    month = pw.CharField(max_length=7)
    forecast_volume = pw.BigIntegerField(null=True)
    actual_volume = pw.BigIntegerField(null=True)
    charges = DecimalText(null=True)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("engagement", "month"), True),)


class ServiceCredit(BaseModel):
    """A monthly KPI's credit for a missed month, as last computed; settled items are never recomputed."""
    engagement = pw.ForeignKeyField(Engagement, backref="service_credits", on_delete="RESTRICT")
    kpi = pw.ForeignKeyField(Kpi, backref="credits", on_delete="CASCADE")
    month = pw.CharField(max_length=7)
    allocation_pct = DecimalText()
    multiplier = DecimalText()
    accrued = DecimalText()
    amount = DecimalText()
    capped = pw.BooleanField(default=False)
    # domain.performance.CREDIT_STATES; NULL while the earn-back window (to earn_back_until) is open
    state = pw.CharField(max_length=12, null=True)
    earn_back_until = pw.CharField(max_length=7, null=True)
    reference = pw.CharField(max_length=100, default="")
    reason = pw.TextField(default="")
    settled_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="settled_credits")
    settled_at = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("kpi", "month"), True), (("engagement", "month"), False), (("state", "engagement"), False))


class KpiEscalation(BaseModel):
    """The ladder state of a finding raised for a critical KPI missed twice: its tier, the plan's due date, and
    whether the follow-up after its closure was done (the KPI's next accepted result must not be missed)."""
    finding = pw.ForeignKeyField(Finding, unique=True, on_delete="CASCADE", backref="kpi_escalation")
    kpi = pw.ForeignKeyField(Kpi, backref="escalations", on_delete="CASCADE")
    engagement = pw.ForeignKeyField(Engagement, on_delete="CASCADE")
    period = pw.CharField(max_length=8)  # the second consecutive miss
    tier = pw.CharField(max_length=12, default="operational")
    plan_due = pw.DateField()
    followed_up_in = pw.CharField(max_length=8, null=True)  # the period of the first result accepted after closure
    created_at = pw.DateTimeField(default=utcnow)
    forum_notified_at = pw.DateTimeField(null=True)  # when its tier's forum was told; cleared by each move

    class Meta:
        indexes = ((("engagement", "plan_due"), False), (("forum_notified_at", "id"), False))
