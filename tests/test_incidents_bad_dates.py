"""Date-times at the limits of the UTC offsets through the forms (incidents, notices, changes, clock settings):
each re-renders with a clear error (422) and records nothing, never a 500."""
from __future__ import annotations

import datetime as dt

from models import ChangeEvent, Incident
from tests.test_incident_pages import local_form_time, signed_in, token  # noqa: F401 (signed_in: a fixture)

LIMITS = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00"]


def test_limit_dates_in_the_incident_change_and_notice_forms_are_422(signed_in):  # noqa: F811
    client, _admin, engagement = signed_in
    form = token(client.get(f"/engagements/{engagement.id}/incidents/new").get_data(as_text=True))
    for when in LIMITS:
        response = client.post(f"/engagements/{engagement.id}/incidents/new", data={
            "csrf_token": form, "title": "Outage", "category": "security_incident", "occurred_at": when,
            "aware_at": when, "aware_party": "client"})
        assert response.status_code == 422, (when, response.status_code)
        change = client.post(f"/engagements/{engagement.id}/changes", data={
            "csrf_token": form, "title": "New site", "kind": "significant_change", "occurred_at": when})
        assert change.status_code == 422, (when, change.status_code)
    assert Incident.select().count() == 0 and ChangeEvent.select().count() == 0
    recorded = client.post(f"/engagements/{engagement.id}/incidents/new", data={
        "csrf_token": form, "title": "Phish", "category": "security_incident",
        "occurred_at": local_form_time(dt.timedelta(hours=3)), "aware_at": local_form_time(dt.timedelta(hours=2)),
        "aware_party": "client", "flags": ["material"]})
    incident = Incident.get()
    assert recorded.status_code == 302
    for when in LIMITS:
        notice = client.post(f"/incidents/{incident.id}/clocks/CPS234-35/notice",
                             data={"csrf_token": form, "notified_at": when})
        assert notice.status_code == 422, (when, notice.status_code)
    assert "Met" not in client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    settings = client.post(f"/engagements/{engagement.id}/clock-settings", data={
        "csrf_token": form, "contract_notice_hours": "Infinity", "pci_acquirer_hours": "NaN"})
    assert settings.status_code == 302
    assert "Clock settings not saved" in client.get(settings.headers["Location"]).get_data(as_text=True)
