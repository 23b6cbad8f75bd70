"""Creating an engagement: validation, Statement of Applicability and first evidence requests."""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw

from domain.applicability import ControlFacts, EngagementScope, decide
from domain.business_days import PLACES
from domain.errors import Conflict, ValidationError
from domain.recurrence import parse_frequency
from domain.schedule import initial_status, plan
from domain.timeutil import parse_date, parse_timezone
from models import (
    Applicability,
    Control,
    ControlObligation,
    Engagement,
    EngagementFramework,
    EvidenceRequest,
    EvidenceRequirement,
    Framework,
    Obligation,
    User,
    serialise_writers,
    transaction,
    utcnow,
)

from . import audit_log, scope
from .accounts import find_or_create_organisation

BATCH = 500


@dataclass
class EngagementInput:
    name: str
    provider: str
    frameworks: list[str]
    place: str
    timezone: str
    start_date: dt.date
    end_date: dt.date | None
    card_payments: bool
    offshore: bool
    contract_ref: str


def _flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, "", "0", "false", "off", "no", 0):
        return False
    if value in ("1", "true", "on", "yes", 1):
        return True
    raise ValidationError(f"{field} must be true or false", field=field)


# Bidirectional overrides and isolates can make a name display as something else entirely.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LAST_DATE = dt.date(2100, 12, 31)


def _text(data: dict, field: str, *, required: bool = True, limit: int = 200) -> str:
    """A trimmed, NFC-normalised single-line text field without control or bidi-override characters."""
    value = data.get(field)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field)
    value = unicodedata.normalize("NFC", value.strip())
    if required and not value:
        raise ValidationError(f"{field} is required", field=field)
    if len(value) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters", field=field)
    if any(unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS for c in value):
        raise ValidationError(f"{field} contains control characters", field=field)
    return value


def _date(data: dict, field: str, *, required: bool) -> dt.date | None:
    text = _text(data, field, required=required, limit=40)
    if not text:
        return None
    try:
        day = parse_date(text)
    except ValueError as exc:
        raise ValidationError(str(exc), field=field) from None
    if not dt.date(2000, 1, 1) <= day <= LAST_DATE:
        raise ValidationError(f"{field} must be between 2000-01-01 and {LAST_DATE}", field=field)
    return day


def _timezone(data: dict) -> str:
    name = _text(data, "timezone", required=False, limit=64) or "Australia/Sydney"
    try:
        parse_timezone(name)
    except ValueError as exc:
        raise ValidationError(str(exc), field="timezone") from None
    return name


def parse_engagement_input(data: dict) -> EngagementInput:
    """Validate a create-engagement payload (JSON or form); ValidationError names the field."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    frameworks = data.get("frameworks")
    if isinstance(frameworks, str):
        frameworks = [f.strip() for f in frameworks.split(",") if f.strip()]
    if not isinstance(frameworks, list) or not frameworks or not all(isinstance(f, str) for f in frameworks):
        raise ValidationError("frameworks must be a non-empty list of framework codes", field="frameworks")
    place = _text(data, "place").upper()
    if place not in PLACES:
        raise ValidationError(f"unknown place {place!r}; expected one of {', '.join(PLACES)}", field="place")
    start, end = _date(data, "start_date", required=True), _date(data, "end_date", required=False)
    if end is not None and end <= start:
        raise ValidationError("end_date must be after start_date", field="end_date")
    return EngagementInput(
        name=_text(data, "name"), provider=_text(data, "provider"), frameworks=sorted(set(frameworks)),
        place=place, timezone=_timezone(data), start_date=start, end_date=end,
        card_payments=_flag(data.get("card_payments"), "card_payments"),
        offshore=_flag(data.get("offshore"), "offshore"),
        contract_ref=_text(data, "contract_ref", required=False, limit=100))


def _frameworks(codes: list[str]) -> list[Framework]:
    found = list(Framework.select().where(Framework.code.in_(codes), Framework.retired_in.is_null()))
    unknown = sorted(set(codes) - {f.code for f in found})
    if unknown:
        raise ValidationError(f"unknown framework code(s): {', '.join(unknown)}", field="frameworks")
    return found


def control_facts() -> dict[int, tuple[Control, ControlFacts]]:
    """Every live control with the frameworks it serves, in two queries."""
    frameworks_of: dict[int, set[str]] = defaultdict(set)
    rows = (ControlObligation.select(ControlObligation.control, Framework.code)
            .join(Obligation).join(Framework)
            .where(ControlObligation.retired_in.is_null()).tuples())
    for control_id, code in rows:
        frameworks_of[control_id].add(code)
    controls = Control.select().where(Control.retired_in.is_null()).order_by(Control.code)
    return {c.id: (c, ControlFacts(c.code, frozenset(frameworks_of[c.id]), c.requires)) for c in controls}


def create_engagement(actor: User, data: dict, *, ip: str = "", now: dt.datetime | None = None) -> Engagement:
    """Create an engagement of the actor's client organisation, its SoA and first requests."""
    scope.require_engagement_creator(actor)
    spec = parse_engagement_input(data)
    frameworks = _frameworks(spec.frameworks)
    try:
        return _create(actor, spec, frameworks, ip=ip, now=now)
    except pw.IntegrityError:  # a concurrent request won a race (same name or same new provider)
        raise Conflict("another change to the same engagement or provider happened at the same time; "
                       "reload and try again") from None


def _create(actor: User, spec: EngagementInput, frameworks: list[Framework], *, ip: str,
            now: dt.datetime | None) -> Engagement:
    with transaction():
        serialise_writers(f"engagement.name:{actor.organisation_id}")  # unique whatever the case, on PostgreSQL too
        if Engagement.select().where(Engagement.client == actor.organisation_id,
                                     pw.fn.LOWER(Engagement.name) == spec.name.lower()).exists():
            raise Conflict(f"an engagement named {spec.name!r} already exists", field="name")
        provider = find_or_create_organisation(spec.provider, "provider")
        engagement = Engagement.create(
            client=actor.organisation_id, provider=provider, name=spec.name, contract_ref=spec.contract_ref,
            start_date=spec.start_date, end_date=spec.end_date, place=spec.place, timezone=spec.timezone,
            card_payments=spec.card_payments, offshore=spec.offshore, created_by=actor)
        EngagementFramework.insert_many(
            [{"engagement": engagement, "framework": f} for f in frameworks]).execute()
        generate_register(engagement, {f.code for f in frameworks}, now=now)
        audit_log.record("engagement.create", actor=actor, object_type="engagement", object_id=engagement.id,
                         engagement=engagement, ip=ip,
                         details={"name": spec.name, "provider": spec.provider, "frameworks": spec.frameworks})
    return engagement


def generate_register(engagement: Engagement, framework_codes: set[str], *, now: dt.datetime | None = None) -> None:
    """Statement of Applicability rows and the first evidence requests of every applicable control."""
    now = now or utcnow()
    today = now.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(engagement.timezone)).date()
    scope = EngagementScope(frozenset(framework_codes), engagement.card_payments, engagement.offshore)
    requirements = defaultdict(list)
    for req in EvidenceRequirement.select().where(EvidenceRequirement.retired_in.is_null()):
        requirements[req.control_id].append(req)
    soa, requests = [], []
    grace = dt.timedelta(days=engagement.grace_days)
    for control_id, (control, facts) in control_facts().items():
        applicable, why = decide(facts, scope)
        planned = plan(parse_frequency(control.frequency), engagement.start_date, today, engagement.timezone,
                       engagement.end_date) if applicable else []
        soa.append({"engagement": engagement, "control": control_id, "applicable": applicable,
                    "justification": why, "first_due_date": planned[0].period_end if planned else None})
        for occurrence in planned:
            status = initial_status(occurrence.period_start, occurrence.due_at, now, today, grace)
            for req in requirements[control_id]:
                requests.append({"engagement": engagement, "control": control_id, "requirement": req,
                                 "period_start": occurrence.period_start, "period_end": occurrence.period_end,
                                 "due_at": occurrence.due_at, "status": status})
    for rows, model in ((soa, Applicability), (requests, EvidenceRequest)):
        for i in range(0, len(rows), BATCH):
            model.insert_many(rows[i:i + BATCH]).execute()
