"""OSCAL assessment-results (SPEC §5), validated with compliance-trestle's pydantic models."""
from __future__ import annotations

import base64
import copy
import json

import pydantic
import pytest

from models import Evidence, Finding
from services.auditors import oscal
from tests.conftest import bearer
from tests.fixtures.rights import make_grant


@pytest.fixture
def world(rights_world):
    w = rights_world
    Finding.create(engagement=w["engagement"], source="auditor", title="Access review undated", status="open")
    Finding.create(engagement=w["engagement"], source="request", title="Closed one", status="closed")
    return w


def test_oscal_export_validates_and_carries_every_accepted_item(client, world):
    response = client.get(f"/api/v1/engagements/{world['engagement'].id}/oscal", headers=bearer(world["admin"]))
    assert response.status_code == 200
    document = response.get_json()
    oscal.validate(document)
    results = document["assessment-results"]["results"]
    observations = [o for r in results for o in r.get("observations", [])
                    if any(p["name"] == "sha256" for p in o["props"])]  # the evidence's (findings have their own)
    accepted = list(Evidence.select().where(Evidence.engagement == world["engagement"], Evidence.status == "accepted"))
    assert len(observations) == len(accepted)
    hashes = {p["value"] for o in observations for p in o["props"] if p["name"] == "sha256"}
    assert hashes == {e.sha256 for e in accepted}
    # every finding, closed ones too (an assessment records what was found in its period and how it ended)
    findings = [f for r in results for f in r.get("findings", [])]
    assert [(f["title"], f["target"]["status"]["state"]) for f in findings] == [
        ("Access review undated", "not-satisfied"), ("Closed one", "satisfied")]
    starts = [r["start"] for r in results]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # one result per period


def test_an_invalid_document_fails_validation(client, world):
    document = oscal.assessment_results(world["admin"], world["engagement"].id)
    for breaking in (lambda d: d["assessment-results"].pop("metadata"),
                     lambda d: d["assessment-results"]["results"][0].update(uuid="not-a-uuid"),
                     lambda d: d["assessment-results"]["results"][0].update(start="yesterday")):
        broken = copy.deepcopy(document)
        breaking(broken)
        with pytest.raises(pydantic.ValidationError):
            oscal.validate(broken)


def test_auditor_oscal_holds_only_the_grant(client, world):
    make_grant(world["auditor"], world["engagement"], ["CPS234"])
    document = client.get(f"/api/v1/engagements/{world['engagement'].id}/oscal",
                          headers=bearer(world["auditor"])).get_json()
    oscal.validate(document)
    from services import scope
    visible = {e.sha256 for e in scope.evidence_of(world["auditor"], world["engagement"])}
    text = json.dumps(document)
    hidden = {e.sha256 for e in Evidence.select()} - visible
    assert hidden and not any(h in text for h in hidden)


def test_export_oscal_command(world, tmp_path, cli_runner):
    out = tmp_path / "ar.json"
    result = cli_runner.invoke(args=["export-oscal", "--engagement", str(world["engagement"].id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    oscal.validate(json.loads(out.read_text()))
    assert cli_runner.invoke(args=["export-oscal", "--engagement", "999999", "--out", str(out)]).exit_code != 0


def test_findings_rest_on_observations_evidence_is_linked_and_import_ap_names_the_plan_it_carries(client, world):
    engagement = world["engagement"]
    item = Evidence.select().where(Evidence.engagement == engagement, Evidence.status == "accepted").first()
    Finding.create(engagement=engagement, source="request", title="Rejected twice", status="in_progress",
                   request=item.request_id)
    Finding.create(engagement=engagement, source="manual", title="Raised twice", status="void")
    document = client.get(f"/api/v1/engagements/{engagement.id}/oscal", headers=bearer(world["admin"])).get_json()
    oscal.validate(document)
    ar = document["assessment-results"]
    observations = {o["uuid"]: o for r in ar["results"] for o in r.get("observations", [])}
    resources = {r["uuid"]: r for r in ar["back-matter"]["resources"]}
    findings = {f["title"]: f for r in ar["results"] for f in r.get("findings", [])}
    assert len(findings) == 4
    for finding in findings.values():
        related = [o["observation-uuid"] for o in finding["related-observations"]]
        assert related and all(u in observations for u in related)
    evidence_observation = next(o for o in observations.values()
                                if {"name": "sha256", "ns": oscal.NS, "value": item.sha256} in o["props"])
    assert evidence_observation["uuid"] in [o["observation-uuid"]
                                            for o in findings["Rejected twice"]["related-observations"]]
    assert findings["Raised twice"]["props"][0]["value"] == "void" and "Void" in findings["Raised twice"]["remarks"]
    for observation in observations.values():
        for link in observation.get("relevant-evidence", []) + observation.get("links", []):
            assert link["href"].lstrip("#") in resources
    plan_ref = ar["import-ap"]["href"]
    assert plan_ref.startswith("#") and plan_ref[1:] in resources
    plan = json.loads(base64.b64decode(resources[plan_ref[1:]]["base64"]["value"]))
    from trestle.oscal.assessment_plan import AssessmentPlan
    AssessmentPlan.model_validate(plan["assessment-plan"])
    assert plan["assessment-plan"]["reviewed-controls"]["control-selections"][0]["include-controls"]
