"""OSCAL assessment-results (SPEC §5), validated with compliance-trestle's pydantic models."""
from __future__ import annotations

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
    observations = [o for r in results for o in r.get("observations", [])]
    accepted = list(Evidence.select().where(Evidence.engagement == world["engagement"], Evidence.status == "accepted"))
    assert len(observations) == len(accepted)
    hashes = {p["value"] for o in observations for p in o["props"] if p["name"] == "sha256"}
    assert hashes == {e.sha256 for e in accepted}
    findings = [f for r in results for f in r.get("findings", [])]
    assert [f["title"] for f in findings] == ["Access review undated"]
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
