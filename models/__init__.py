"""Peewee models, split by domain. ``ALL_MODELS`` is in dependency order."""
from .audit import AuditEvent, AuditorGrant
from .base import BaseModel, bind_database, db, is_postgres, serialise_writers, transaction, utcnow
from .evidence import Evidence, EvidenceFile, RequestComment, RequestHistory
from .governance import Action, ChangeRequest, Decision, Forum, ForumMember, Meeting, PerformanceReport
from .idempotency import IdempotencyKey
from .identity import ScimGroup, ScimToken, ScimUser, SsoConfig, SsoDomain, SsoFlow, SsoResponseSeen
from .incidents import Arrangement, ChangeEvent, ChangeEventRequest, Clock, Finding, Incident
from .integrations import CalendarFeed, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .library import ClockRule, Control, ControlObligation, EvidenceRequirement, Framework, LibraryVersion, Obligation
from .mail import OutboxMessage
from .notifications import Notification, NotificationSetting, SchedulerCursor
from .org import ROLE_ORG_KIND, ROLES, ApiToken, Invitation, LoginAttempt, Organisation, User
from .packs import Pack, SchedulerLease
from .performance import (
    CommercialSettings,
    Kpi,
    KpiEscalation,
    KpiResult,
    KpiVersion,
    MonthVolume,
    ServiceCredit,
)
from .register import (
    TALLIED_STATES,
    Acquirer,
    Applicability,
    Engagement,
    EngagementFramework,
    EngagementInvitation,
    EvidenceRequest,
    HolidayOverride,
    RequestTally,
)
from .subcontractors import Subcontractor

ALL_MODELS = [
    Organisation, User, ApiToken, Invitation, LoginAttempt,
    SsoConfig, SsoDomain, SsoFlow, SsoResponseSeen,
    LibraryVersion, Framework, Obligation, Control, ControlObligation, EvidenceRequirement, ClockRule,
    Engagement, EngagementFramework, EngagementInvitation,
    Applicability, EvidenceRequest, RequestTally, HolidayOverride, Subcontractor,
    Acquirer, Arrangement,
    Evidence, EvidenceFile, RequestHistory, RequestComment, Incident, Clock, Finding, ChangeEvent, ChangeEventRequest,
    Notification, NotificationSetting, SchedulerCursor,
    AuditorGrant, AuditEvent,
    Pack, OutboxMessage, SchedulerLease,
    Kpi, KpiVersion, KpiResult, CommercialSettings, MonthVolume, ServiceCredit, KpiEscalation,
    Forum, ForumMember, Meeting, Decision, Action, ChangeRequest, PerformanceReport,
    WebhookEndpoint, WebhookDelivery, WebhookAttempt, CalendarFeed,
    ScimToken, ScimUser, ScimGroup,
    IdempotencyKey,
]

__all__ = [m.__name__ for m in ALL_MODELS] + [
    "ALL_MODELS", "BaseModel", "bind_database", "db", "is_postgres", "serialise_writers", "transaction", "utcnow",
    "ROLES", "ROLE_ORG_KIND", "TALLIED_STATES",
]
