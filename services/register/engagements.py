"""Creating an engagement: validation, Statement of Applicability and first evidence requests."""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw

from domain.applicability import ControlFacts, EngagementScope, decide, frameworks_refused
from domain.business_days import PLACES, check_place_timezone, default_timezone
from domain.errors import Conflict, ValidationError
from domain.names import clean_name, refuse_invisible
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
    is_postgres,
    serialise_writers,
    transaction,
    utcnow,
)
from services import scope
from services.audit import audit_log
from services.people.accounts import find_or_create_organisation

from . import invitations
from .planning import replan_engagement

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
    """A trimmed, NFC-normalised single-line text field without control, format (invisible) or bidi-override
    characters. Names go through ``domain.names.clean_name`` instead, which also refuses look-alikes."""
    value = data.get(field)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field)
    if any(c in _BIDI_CONTROLS for c in value):
        raise ValidationError(f"{field} contains control characters", field=field)
    refuse_invisible(value, field)
    value = unicodedata.normalize("NFC", value.strip())
    if required and not value:
        raise ValidationError(f"{field} is required", field=field)
    if len(value) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters", field=field)
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


def _timezone(data: dict, place: str) -> str:
    """The site's timezone: the place's own by default; another state's is refused for a place that keeps its
    own time (WA, SA, NT, QLD) unless ``site_elsewhere`` says the site runs there."""
    name = _text(data, "timezone", required=False, limit=64) or default_timezone(place)
    try:
        parse_timezone(name)
        check_place_timezone(place, name, _flag(data.get("site_elsewhere"), "site_elsewhere"))
    except ValueError as exc:
        raise ValidationError(str(exc), field="timezone") from None
    return name


def _derived_offshore(value: Any) -> bool:
    """``offshore`` follows from the service provider register (an approved sub-contractor or site outside
    Australia, services.register.subcontractors.sync_offshore), so a new engagement, with no register yet, is not."""
    if _flag(value, "offshore"):
        raise ValidationError("offshore follows from the service provider register: create the engagement, then "
                              "the provider proposes its offshore sub-contractor or site and the client approves it",
                              field="offshore")
    return False


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
        name=clean_name(data.get("name"), "name"), provider=clean_name(data.get("provider"), "provider"),
        frameworks=sorted(set(frameworks)),
        place=place, timezone=_timezone(data, place), start_date=start, end_date=end,
        card_payments=_flag(data.get("card_payments"), "card_payments"),
        offshore=_derived_offshore(data.get("offshore")),
        contract_ref=_text(data, "contract_ref", required=False, limit=100))


def _frameworks(codes: list[str]) -> list[Framework]:
    found = list(Framework.select().where(Framework.code.in_(codes), Framework.retired_in.is_null()))
    unknown = sorted(set(codes) - {f.code for f in found})
    if unknown:
        raise ValidationError(f"unknown framework code(s): {', '.join(unknown)}", field="frameworks")
    return found


def settings_on(engagement: Engagement | None = None, **changed: bool) -> set[str]:
    """The engagement settings a framework may require that are on (``changed`` overriding the stored ones)."""
    values = {name: bool(getattr(engagement, name, False)) for name in ("card_payments", "soci_reporting",
                                                                          "ransomware_reporting")} | changed
    return {name for name, on in values.items() if on}


def check_framework_settings(frameworks: list[Framework], on: set[str], field: str = "frameworks") -> None:
    """A framework that applies only under an engagement setting (``Framework.requires``) needs it on."""
    refused = frameworks_refused({f.code: f.requires for f in frameworks}, on)
    if refused:
        raise ValidationError(f"{refused}: switch that on first, or leave the framework out", field=field)


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
    """Create an engagement of the actor's client organisation, its SoA and first requests, and invite the
    provider it names (services.register.invitations): the provider sees nothing until one of its admins
    accepts, and whatever the name (a provider, another kind of organisation, none yet) the answer is the same."""
    return _checked_create(actor, data, invited=True, ip=ip, now=now)


def create_accepted_engagement(actor: User, data: dict, *, ip: str = "",
                               now: dt.datetime | None = None) -> Engagement:
    """``create_engagement`` with the provider's consent taken as given: the named provider organisation is
    found or created and attached at once. For the demo, seeds, benchmarks and tests only, never a request."""
    return _checked_create(actor, data, invited=False, ip=ip, now=now)


def _checked_create(actor: User, data: dict, *, invited: bool, ip: str, now: dt.datetime | None) -> Engagement:
    scope.require_engagement_creator(actor)
    spec = parse_engagement_input(data)
    frameworks = _frameworks(spec.frameworks)
    check_framework_settings(frameworks, settings_on(card_payments=spec.card_payments))
    try:
        return _create(actor, spec, frameworks, invited=invited, ip=ip, now=now)
    except pw.IntegrityError:  # a concurrent request won a race (same name or same new provider)
        raise Conflict("another change to the same engagement or provider happened at the same time; "
                       "reload and try again") from None


def _create(actor: User, spec: EngagementInput, frameworks: list[Framework], *, invited: bool, ip: str,
            now: dt.datetime | None) -> Engagement:
    with transaction():
        serialise_writers(f"engagement.name:{actor.organisation_id}")  # unique whatever the case, on PostgreSQL too
        if Engagement.select().where(Engagement.client == actor.organisation_id,
                                     pw.fn.LOWER(Engagement.name) == spec.name.lower()).exists():
            raise Conflict(f"an engagement named {spec.name!r} already exists", field="name")
        if invited:
            serialise_writers("engagement.placeholder-provider")
            provider = invitations.placeholder_provider()
        else:
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
        if invited:
            invitations.invite(actor, engagement, spec.provider, ip=ip, now=now)
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


# ------------------------------------------------------------------------------------------ editing

EDITABLE = ("name", "end_date", "contract_ref", "contract_notice_hours", "grace_days", "frameworks",
            "card_payments", "offshore")
LIMITS = {"contract_notice_hours": (1, 24 * 30), "grace_days": (0, 90)}
HELD = ("accepted", "submitted")  # requests whose evidence an end date must not cut off


def _whole_number(data: dict, field: str) -> int:
    value, (low, high) = data.get(field), LIMITS[field]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{field} must be a whole number from {low} to {high}", field=field)
    return value


def _framework_codes(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [f.strip() for f in value.split(",") if f.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(f, str) for f in value):
        raise ValidationError("frameworks must be a non-empty list of framework codes", field="frameworks")
    return sorted(set(value))


def parse_engagement_changes(engagement: Engagement, data: dict) -> dict[str, Any]:
    """The fields a PATCH sets, validated; ValidationError names the field (unknown fields included)."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise ValidationError(f"{unknown[0]} cannot be changed here; editable: {', '.join(EDITABLE)}",
                              field=unknown[0])
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = clean_name(data["name"], "name")
    if "end_date" in data:
        out["end_date"] = _date(data, "end_date", required=False)
        if out["end_date"] is not None and out["end_date"] <= engagement.start_date:
            raise ValidationError("end_date must be after start_date "
                                  f"({engagement.start_date.isoformat()})", field="end_date")
    if "contract_ref" in data:
        out["contract_ref"] = _text(data, "contract_ref", required=False, limit=100)
    for field in LIMITS:
        if field in data:
            out[field] = _whole_number(data, field)
    if "frameworks" in data:
        out["frameworks"] = _framework_codes(data["frameworks"])
    if "card_payments" in data:
        out["card_payments"] = _flag(data["card_payments"], "card_payments")
    if "offshore" in data and _flag(data["offshore"], "offshore") != engagement.offshore:
        # the flag follows from the service provider register (services.register.subcontractors.sync_offshore)
        raise ValidationError("offshore follows from the service provider register: the provider proposes its "
                              "offshore sub-contractor or site and the client approves it", field="offshore")
    return out


def _check_end_date(engagement: Engagement, end: dt.date | None) -> None:
    """An end date may not cut off periods whose evidence was already submitted or accepted."""
    if end is None:
        return
    held = (EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id,
                                           EvidenceRequest.status.in_(HELD), EvidenceRequest.period_start > end))
    count = held.count()
    if count:
        latest = held.order_by(EvidenceRequest.period_start.desc()).first()
        raise ValidationError(
            f"end_date {end.isoformat()} is before {count} request(s) whose evidence is already submitted or "
            f"accepted (the latest period starts {latest.period_start.isoformat()}); choose a later end date",
            field="end_date")


def _current_framework_codes(engagement: Engagement) -> list[str]:
    return sorted(code for (code,) in EngagementFramework.select(Framework.code).join(Framework)
                  .where(EngagementFramework.engagement == engagement.id).tuples())


def rescope_applicability(engagement: Engagement, framework_codes: set[str]) -> int:
    """Recompute the SoA rows nobody edited by hand (edited ones keep their decision); rows for controls
    added to the library since are created. Returns how many rows changed."""
    scope_ = EngagementScope(frozenset(framework_codes), engagement.card_payments, engagement.offshore)
    rows = {a.control_id: a for a in Applicability.select().where(Applicability.engagement == engagement.id)}
    changed, now = 0, utcnow()
    for control_id, (_control, facts) in control_facts().items():
        applicable, why = decide(facts, scope_)
        row = rows.get(control_id)
        if row is None:
            Applicability.create(engagement=engagement, control=control_id, applicable=applicable,
                                 justification=why, updated_at=now)
            changed += 1
        elif row.edited_at is None and (row.applicable != applicable or row.justification != why):
            Applicability.update(applicable=applicable, justification=why, updated_at=now).where(
                Applicability.id == row.id).execute()
            changed += 1
    return changed


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def update_engagement(actor: User, engagement_id: int | str, data: dict, *, ip: str = "",
                      now: dt.datetime | None = None) -> Engagement:
    """Change an engagement's settings (client_admin); the schedule is re-planned without losing history
    (services.register.planning) and the change audited with every old and new value."""
    engagement = scope.engagement_for(actor, engagement_id, "manage")
    changes = parse_engagement_changes(engagement, data)
    frameworks = _frameworks(changes["frameworks"]) if "frameworks" in changes else None
    try:
        with transaction():
            engagement = Engagement.select().where(Engagement.id == engagement.id).for_update().get() \
                if is_postgres() else Engagement.get_by_id(engagement.id)
            before = {f: getattr(engagement, f) for f in EDITABLE if f != "frameworks"}
            before["frameworks"] = _current_framework_codes(engagement)
            diff = {f: [_jsonable(before[f]), _jsonable(v)] for f, v in changes.items() if before[f] != v}
            if not diff:
                return engagement
            if "end_date" in diff:
                _check_end_date(engagement, changes["end_date"])
            if {"frameworks", "card_payments"} & set(diff):
                check_framework_settings(
                    frameworks if frameworks is not None
                    else list(Framework.select().where(Framework.code.in_(before["frameworks"]))),
                    settings_on(engagement, card_payments=changes.get("card_payments", engagement.card_payments)),
                    "frameworks" if "frameworks" in diff else "card_payments")
            if "name" in diff and Engagement.select().where(
                    Engagement.client == engagement.client_id, pw.fn.LOWER(Engagement.name) == changes["name"].lower(),
                    Engagement.id != engagement.id).exists():
                raise Conflict(f"an engagement named {changes['name']!r} already exists", field="name")
            for field in diff:
                if field != "frameworks":
                    setattr(engagement, field, changes[field])
            engagement.save()
            if frameworks is not None and "frameworks" in diff:
                EngagementFramework.delete().where(EngagementFramework.engagement == engagement.id).execute()
                EngagementFramework.insert_many(
                    [{"engagement": engagement, "framework": f} for f in frameworks]).execute()
            soa_changed = 0
            if {"frameworks", "card_payments", "offshore"} & set(diff):
                soa_changed = rescope_applicability(engagement, set(changes.get("frameworks", before["frameworks"])))
            planned = replan_engagement(engagement, now=now, previous_end=before["end_date"])
            audit_log.record("engagement.update", actor=actor, object_type="engagement", object_id=engagement.id,
                             engagement=engagement, ip=ip,
                             details={"changes": diff, "soa_rows_changed": soa_changed, "requests": planned.counts()})
    except pw.IntegrityError:
        raise Conflict("another change to the same engagement happened at the same time; reload and try again") \
            from None
    return engagement
