"""Incidents, their notification clocks, notices and the NDB assessment (SPEC §5)."""
from __future__ import annotations

from flask import jsonify

from models import Engagement
from models.incidents import CLOCK_STATES, INCIDENT_CATEGORIES, INCIDENT_FLAGS
from services import scope
from services.incidents import arrangements as arrangement_service
from services.incidents import facts as fact_service
from services.incidents import incidents as incident_service
from services.incidents import voiding as incident_voiding
from services.incidents.clocks import acquirers_of
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip
from web.openapi import INSTANT, STRING, _object, register_schemas

NULL_INSTANT = {"type": ["string", "null"], "format": "date-time"}
NULL_STRING = {"type": ["string", "null"]}
CALENDAR_SETTINGS = {
    "business_day_calendar": {"type": "string", "enum": ["place", "head_office", "intersection"],
                              "description": "Business days of the engagement's place, of the client's head office, "
                                             "or only the holidays both keep (the earlier deadline)."},
    "head_office": {"type": "string", "description": "The client's head-office state ('' = the place)."},
    "site_region": {"type": "string", "description": "The site's region: regional holidays (e.g. Brisbane's "
                                                     "show day) count only there."}}
ACQUIRERS = {"type": "array", "items": _object({"name": STRING, "hours": {"type": "integer", "minimum": 1,
                                                                          "maximum": 720}})}

register_schemas({
    "Clock": _object({
        "id": {"type": "integer"}, "rule": STRING, "title": STRING,
        "started_at": {**NULL_INSTANT, "description": "UTC; null while pending (waiting for the provider's notice)."},
        "deadline_at": {**NULL_INSTANT, "description": "UTC; null for 'as soon as practicable'."},
        "deadline_local": {**NULL_STRING, "description": "The deadline in the engagement's timezone."},
        "target_at": {**NULL_INSTANT, "description": "Internal target (ASAP obligations, Visa 'immediately')."},
        "target_local": NULL_STRING,
        "basis": {"type": "string", "description": "e.g. '72 elapsed hours (from the provider's notice ...)'."},
        "calendar": {"type": "string", "description": "The calendar and library version the deadline used."},
        "note": STRING, "state": {"type": "string", "enum": list(CLOCK_STATES)},
        "met_at": NULL_INSTANT, "notice_evidence_id": {"type": ["integer", "null"]},
        "reason": {"type": "string", "description": "Why the clock is not_required (the assessment or correction)."},
        "acquirer": {**NULL_STRING, "description": "The acquirer a PCI-BRAND clock is owed to (one clock each)."},
    }),
    "Incident": _object({
        "id": {"type": "integer"}, "engagement_id": {"type": "integer"}, "title": STRING, "description": STRING,
        "category": {"type": "string", "enum": list(INCIDENT_CATEGORIES)},
        "occurred_at": INSTANT, "aware_at": INSTANT, "aware_party": {"type": "string", "enum": ["client", "provider"]},
        "flags": _object({f: {"type": "boolean"} for f in INCIDENT_FLAGS}),
        "outside_tolerance_at": NULL_INSTANT,
        "client_aware_at": {**NULL_INSTANT, "description": "When the client learnt of it; null while the "
                                                          "provider's notice is awaited."},
        "assessment": {"oneOf": [{"type": "null"}, _object({"concluded_at": INSTANT, "eligible": {"type": "boolean"},
                                                             "summary": STRING})]},
        "status": {"type": "string", "enum": ["recorded", "void"]},
        "voided_at": {**NULL_INSTANT, "description": "Set when the incident was voided (recorded by mistake); it "
                                                     "is kept, its waiting and running clocks closed."},
        "void_reason": NULL_STRING,
        "timezone": STRING, "clocks": {"type": "array", "items": {"$ref": "#/components/schemas/Clock"}},
    }),
    "VoidIncident": {"type": "object", "required": ["reason"],
                     "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}},
    "NewIncident": {
        "type": "object", "required": ["title", "category", "occurred_at", "aware_at", "aware_party"],
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200}, "description": STRING,
            "category": {"type": "string", "enum": list(INCIDENT_CATEGORIES)},
            "occurred_at": {**INSTANT, "description": "ISO 8601 with offset."},
            "aware_at": {**INSTANT, "description": "ISO 8601 with offset; not before occurred_at."},
            "aware_party": {"type": "string", "enum": ["client", "provider"]},
            "flags": {"oneOf": [{"type": "array", "items": {"type": "string", "enum": list(INCIDENT_FLAGS)}},
                                {"type": "object", "additionalProperties": {"type": "boolean"}}]},
            "outside_tolerance_at": {**INSTANT, "description": "Required with the outside_tolerance flag."},
        },
    },
    "Notice": {"type": "object", "required": ["notified_at"],
               "properties": {"notified_at": {**INSTANT, "description": "Not before the clock started, not in "
                                                                       "the future."},
                              "acquirer": {"type": "string", "description": "Which PCI-BRAND clock, when the "
                                                                            "engagement has several acquirers."},
                              "evidence_id": {"type": "integer", "description": "The uploaded notice."}}},
    "IncidentChange": {"type": "object", "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "flags": {"oneOf": [{"type": "array", "items": {"type": "string", "enum": list(INCIDENT_FLAGS)},
                             "description": "Flags to add."},
                            {"type": "object", "additionalProperties": {"type": "boolean"},
                             "description": "true adds a flag; false removes it (a correction: needs reason)."}]},
        "outside_tolerance_at": {**INSTANT, "description": "With the outside_tolerance flag when it is added."},
        "established_at": {**INSTANT, "description": "When the added fact was established (default now); not "
                                                     "before aware_at, not in the future."},
        "reason": {"type": "string", "maxLength": 2000, "description": "Required to remove a flag."}}},
    "NotRequired": {"type": "object", "required": ["reason"], "properties": {
        "reason": {"type": "string", "minLength": 1, "maxLength": 2000,
                   "description": "The assessment that the rule does not apply."},
        "acquirer": {"type": "string", "description": "Which PCI-BRAND clock, when there are several."}}},
    "NewArrangement": {"type": "object", "required": ["kind", "agreement_date"], "properties": {
        "kind": {"type": "string", "enum": ["entered", "material_change"],
                 "description": "The client entered, or materially changed, its agreement with the provider."},
        "agreement_date": {"type": "string", "format": "date"},
        "offshore": {"type": "boolean", "description": "An offshoring arrangement (CPS 230 para 59(b))."},
        "apra_notified_on": {"type": "string", "format": "date",
                             "description": "Required when offshore; not after agreement_date."},
        "description": STRING}},
    "Arrangement": _object({
        "id": {"type": "integer"}, "kind": STRING, "agreement_date": {"type": "string", "format": "date"},
        "offshore": {"type": "boolean"}, "apra_notified_on": {"type": ["string", "null"], "format": "date"},
        "description": STRING, "clock": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Clock"}]}}),
    "Assessment": {"type": "object", "required": ["concluded_at", "eligible"],
                   "properties": {"concluded_at": INSTANT, "eligible": {"type": "boolean"}, "summary": STRING}},
    "ClockSettings": _object({
        "contract_notice_hours": {"type": "integer", "minimum": 1, "maximum": 720,
                                  "description": "The provider's contractual notice period (CONTRACT-NOTICE)."},
        "pci_acquirer_hours": {"type": "integer", "minimum": 1, "maximum": 720,
                               "description": "The acquirer's notice period (PCI-BRAND)."},
        "provider_awareness_is_client": {"type": "boolean",
                                         "description": "Regulatory clocks start at the provider's aware_at."},
        "provider_privacy_act": {"type": "boolean", "description": "The provider is itself bound by the Privacy "
                                                                   "Act: its own s 26WH assessment clock."},
        "soci_reporting": {"type": "boolean", "description": "Critical infrastructure assets: SOCI-30BC (12 h) and "
                                                             "SOCI-30BD (72 h) clocks."},
        "ransomware_reporting": {"type": "boolean", "description": "RANSOMWARE-PAYMENT clocks (72 h)."},
        "pci_brand_target_hours": {"type": "integer", "minimum": 0, "maximum": 720,
                                   "description": "Internal target for the brands' 'immediately' (PCI-BRAND)."},
        "acquirers": ACQUIRERS,
        **CALENDAR_SETTINGS,
        "warning": {"type": ["string", "null"], "description": "Set when the contractual notice is not shorter "
                                                               "than the shortest regulatory clock it feeds."},
    }),
    "ClockSettingsChange": {"type": "object", "properties": {
        "contract_notice_hours": {"type": "integer", "minimum": 1, "maximum": 720},
        "pci_acquirer_hours": {"type": "integer", "minimum": 1, "maximum": 720},
        "provider_awareness_is_client": {"type": "boolean"}, "provider_privacy_act": {"type": "boolean"},
        "soci_reporting": {"type": "boolean"}, "ransomware_reporting": {"type": "boolean"},
        "pci_brand_target_hours": {"type": "integer", "minimum": 0, "maximum": 720},
        "acquirers": {**ACQUIRERS, "description": "Replaces the list; each acquirer needs its hours."},
        **CALENDAR_SETTINGS}},
}, pages=("Incident", "Arrangement"))


def _json(incident, engagement: Engagement | None = None) -> dict:
    return incident_service.incident_json(incident, engagement or Engagement.get_by_id(incident.engagement_id),
                                          api_user())


@route("/engagements/<int:engagement_id>/incidents", summary="Incidents of an engagement",
       params=("page", "per_page"), response="IncidentPage", errors=(400, 404))
def incidents(engagement_id: int):
    engagement = scope.engagement_for(api_user(), engagement_id)
    return paginate(incident_service.incidents_of(engagement), lambda rows: [_json(i, engagement) for i in rows])


@route("/engagements/<int:engagement_id>/incidents", methods=("POST",), status=201,
       summary="Record an incident; starts its notification clocks", body="NewIncident", response="Incident",
       errors=(400, 404, 422))
def create_incident(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id, "record_incident")
    incident = incident_service.create_incident(user, engagement, json_body(), ip=client_ip())
    return jsonify(_json(incident, engagement)), 201


@route("/incidents/<int:incident_id>", summary="One incident with its clocks", response="Incident", errors=(404,))
def incident(incident_id: int):
    return jsonify(_json(incident_service.incident_for(api_user(), incident_id)))


@route("/incidents/<int:incident_id>", methods=("PATCH",),
       summary="Facts that emerge later: add flags (starting their clocks from established_at), correct them "
               "with a reason", body="IncidentChange", response="Incident", errors=(400, 404, 409, 422))
def update_incident(incident_id: int):
    user = api_user()
    row = incident_service.incident_for(user, incident_id, "record_incident")
    fact_service.update_incident(user, row, json_body(), ip=client_ip())
    return jsonify(_json(incident_service.incident_for(user, incident_id)))


@route("/incidents/<int:incident_id>/void", methods=("POST",),
       summary="Void an incident recorded by mistake, with a reason (client side): it is kept and shown void, its "
               "waiting and running clocks close as not required and its open findings are voided",
       body="VoidIncident", response="Incident", errors=(400, 404, 409, 422))
def void_incident(incident_id: int):
    user = api_user()
    incident_voiding.void_incident(user, incident_id, json_body(), ip=client_ip())
    return jsonify(_json(incident_service.incident_for(user, incident_id)))


@route("/incidents/<int:incident_id>/clocks/<rule>/not-required", methods=("POST",),
       summary="Close a clock whose rule does not apply (client side): no breach, no finding", body="NotRequired",
       response="Incident", errors=(400, 404, 409, 422))
def not_required(incident_id: int, rule: str):
    user = api_user()
    row = incident_service.incident_for(user, incident_id, "record_incident")
    fact_service.mark_not_required(user, row, rule, json_body(), ip=client_ip())
    return jsonify(_json(incident_service.incident_for(user, incident_id)))


@route("/incidents/<int:incident_id>/clocks/<rule>/notice", methods=("POST",),
       summary="Record the notice that stops a clock", body="Notice", response="Incident", errors=(400, 404, 422))
def notice(incident_id: int, rule: str):
    user = api_user()
    row = incident_service.incident_for(user, incident_id, "record_incident")
    incident_service.record_notice(user, row, rule, json_body(), ip=client_ip())
    return jsonify(_json(incident_service.incident_for(user, incident_id)))


@route("/incidents/<int:incident_id>/assessment", methods=("POST",),
       summary="Record the NDB assessment: meets NDB-ASSESS; eligible starts NDB-NOTIFY", body="Assessment",
       response="Incident", errors=(400, 404, 409, 422))
def assessment(incident_id: int):
    user = api_user()
    row = incident_service.incident_for(user, incident_id, "record_incident")
    incident_service.record_assessment(user, row, json_body(), ip=client_ip())
    return jsonify(_json(incident_service.incident_for(user, incident_id)))


def _settings_json(engagement: Engagement) -> dict:
    """The settings, and the notice warning as the caller may see it."""
    return {"contract_notice_hours": engagement.contract_notice_hours,
            "pci_acquirer_hours": engagement.pci_acquirer_hours,
            "provider_awareness_is_client": engagement.provider_awareness_is_client,
            "provider_privacy_act": engagement.provider_privacy_act,
            "soci_reporting": engagement.soci_reporting, "ransomware_reporting": engagement.ransomware_reporting,
            "pci_brand_target_hours": engagement.pci_brand_target_hours,
            "acquirers": [{"name": n, "hours": h} for n, h in acquirers_of(engagement)],
            "business_day_calendar": engagement.business_day_calendar, "head_office": engagement.head_office,
            "site_region": engagement.site_region,
            "warning": incident_service.notice_warning(engagement, api_user())}


@route("/engagements/<int:engagement_id>/clock-settings", summary="The engagement's clock settings",
       response="ClockSettings", errors=(404,))
def clock_settings(engagement_id: int):
    return jsonify(_settings_json(scope.engagement_for(api_user(), engagement_id)))


@route("/engagements/<int:engagement_id>/clock-settings", methods=("POST",),
       summary="Change the clock settings (client_admin); running clocks keep their deadlines",
       body="ClockSettingsChange", response="ClockSettings", errors=(400, 404, 422))
def change_clock_settings(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id, "manage")
    return jsonify(_settings_json(incident_service.update_clock_settings(user, engagement, json_body(),
                                                                         ip=client_ip())))


def _arrangement_json(row, engagement: Engagement) -> dict:
    clock = arrangement_service.clock_for(row)
    return {"id": row.id, "kind": row.kind, "agreement_date": row.agreement_date.isoformat(), "offshore": row.offshore,
            "apra_notified_on": row.apra_notified_on.isoformat() if row.apra_notified_on else None,
            "description": row.description,
            "clock": None if clock is None else incident_service.clock_json(clock, engagement.timezone,
                                                                             incident_service.rule_titles())}


@route("/engagements/<int:engagement_id>/arrangements", summary="The client's agreements with the provider "
       "(CPS 230 para 59)", params=("page", "per_page"), response="ArrangementPage", errors=(400, 404))
def arrangements(engagement_id: int):
    engagement = scope.engagement_for(api_user(), engagement_id)
    return paginate(arrangement_service.arrangements_of(engagement),
                    lambda rows: [_arrangement_json(r, engagement) for r in rows])


@route("/engagements/<int:engagement_id>/arrangements", methods=("POST",), status=201,
       summary="Record the client entering or materially changing its agreement: starts CPS230-ARRANGEMENT; "
               "an offshore one needs APRA told before it", body="NewArrangement", response="Arrangement",
       errors=(400, 404, 422))
def create_arrangement(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id, "notify")
    row = arrangement_service.record_arrangement(user, engagement, json_body(), ip=client_ip())
    return jsonify(_arrangement_json(row, engagement)), 201


@route("/arrangements/<int:arrangement_id>/notice", methods=("POST",),
       summary="Record APRA's notice of the arrangement (CPS 230 para 59(a)): stops its clock", body="Notice",
       response="Arrangement", errors=(400, 404, 422))
def arrangement_notice(arrangement_id: int):
    user = api_user()
    row = arrangement_service.arrangement_for(user, arrangement_id, "notify")
    arrangement_service.record_notice(user, row, json_body(), ip=client_ip())
    return jsonify(_arrangement_json(row, Engagement.get_by_id(row.engagement_id)))
