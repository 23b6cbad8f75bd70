"""The service provider register: the provider's sub-contractors (fourth parties) per engagement."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .org import User
from .register import Engagement


class Subcontractor(BaseModel):
    """One fourth party of an engagement's provider, with the client's decision on it.

    ``countries``, ``data_categories`` and ``services`` are JSON lists (countries: ISO 3166 alpha-2).
    ``status`` follows ``domain.subcontractors.TRANSITIONS``.
    """
    engagement = pw.ForeignKeyField(Engagement, backref="subcontractors", on_delete="RESTRICT")
    name = pw.CharField(max_length=200)
    services = pw.TextField()  # JSON list
    critical_operations = pw.TextField(default="[]")  # JSON list
    countries = pw.TextField()  # JSON list of alpha-2 codes where data is held or accessed
    data_categories = pw.TextField(default="[]")  # JSON list
    personal_information = pw.BooleanField(default=False)  # receives personal information (APP 8)
    personal_information_detail = pw.CharField(max_length=300, default="")  # what it receives
    material = pw.BooleanField(default=False)
    status = pw.CharField(max_length=10, default="proposed")
    agreement_date = pw.DateField(null=True)
    apra_notified_on = pw.DateField(null=True)  # CPS 230 59(b) offshoring notice
    proposed_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="proposed_subcontractors")
    proposed_at = pw.DateTimeField(default=utcnow)
    decided_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="decided_subcontractors")
    decided_at = pw.DateTimeField(null=True)
    decision_reason = pw.TextField(default="")

    class Meta:
        indexes = ((("engagement", "status"), False),)
