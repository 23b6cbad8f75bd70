"""Peewee models, split by domain. ``ALL_MODELS`` is in dependency order."""
from .audit import AuditEvent, AuditorGrant
from .base import BaseModel, bind_database, db, is_postgres, transaction, utcnow
from .evidence import Evidence, RequestHistory
from .incidents import Clock, Finding, Incident
from .library import ClockRule, Control, ControlObligation, EvidenceRequirement, Framework, LibraryVersion, Obligation
from .org import ROLE_ORG_KIND, ROLES, ApiToken, LoginAttempt, Organisation, User
from .packs import OutboxMessage, Pack, SchedulerLease
from .register import Applicability, Engagement, EngagementFramework, EvidenceRequest, HolidayOverride

ALL_MODELS = [
    Organisation, User, ApiToken, LoginAttempt,
    LibraryVersion, Framework, Obligation, Control, ControlObligation, EvidenceRequirement, ClockRule,
    Engagement, EngagementFramework, Applicability, EvidenceRequest, HolidayOverride,
    Evidence, RequestHistory, Incident, Clock, Finding,
    AuditorGrant, AuditEvent,
    Pack, OutboxMessage, SchedulerLease,
]

__all__ = [m.__name__ for m in ALL_MODELS] + [
    "ALL_MODELS", "BaseModel", "bind_database", "db", "is_postgres", "transaction", "utcnow", "ROLES", "ROLE_ORG_KIND",
]
