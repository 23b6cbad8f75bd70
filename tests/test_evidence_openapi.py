"""The evidence routes' real responses validated against /api/v1/openapi.json (success and error bodies)."""
from __future__ import annotations

import pytest

from services.demo import files as demo_files
from tests.test_openapi import Contract

UPLOAD = "/api/v1/engagements/{engagement_id}/evidence"
EVIDENCE = "/api/v1/evidence/{evidence_id}"


@pytest.fixture
def contract(client) -> Contract:
    return Contract(client.get("/api/v1/openapi.json").get_json())


def test_the_upload_route_describes_its_multipart_body(contract):
    operation = contract.spec["paths"][UPLOAD]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema == {"$ref": "#/components/schemas/EvidenceUpload"}
    assert {"201", "400", "401", "404", "413", "415", "422"} <= set(operation["responses"])
    file_route = contract.spec["paths"][f"{EVIDENCE}/file"]["get"]
    assert "application/octet-stream" in file_route["responses"]["200"]["content"]


def test_evidence_responses_match_the_description(evidence_world, contract):
    w = evidence_world
    req = w.request()
    created = contract.check(w.upload(req), "post", UPLOAD)
    contract.check(w.upload(req, b""), "post", UPLOAD)  # 422
    with open("/bin/ls", "rb") as handle:
        contract.check(w.upload(req, handle.read()), "post", UPLOAD)  # 415
    contract.check(w.upload(req, filename="a\x00.pdf"), "post", UPLOAD)  # 400
    contract.check(w.upload(99999999), "post", UPLOAD)  # 404
    contract.check(w.client.post(UPLOAD.format(engagement_id=w.engagement.id)), "post", UPLOAD)  # 401
    contract.check(w.client.get(EVIDENCE.format(evidence_id=created["id"]), headers=w.auth(w.reviewer)),
                   "get", EVIDENCE)
    contract.check(w.client.get(EVIDENCE.format(evidence_id=0), headers=w.auth(w.reviewer)), "get", EVIDENCE)
    queue = w.client.get("/api/v1/review-queue?per_page=10", headers=w.auth(w.reviewer))
    assert contract.check(queue, "get", "/api/v1/review-queue")["total"] == 1
    contract.check(w.client.get("/api/v1/review-queue?per_page=0", headers=w.auth(w.reviewer)),
                   "get", "/api/v1/review-queue")
    contract.check(w.client.get("/api/v1/review-queue?control=NOPE", headers=w.auth(w.reviewer)),
                   "get", "/api/v1/review-queue")
    contract.check(w.review(created["id"], "reject"), "post", f"{EVIDENCE}/review")  # 422
    contract.check(w.review(created["id"], "reject", "Unsigned"), "post", f"{EVIDENCE}/review")
    contract.check(w.review(created["id"], "accept"), "post", f"{EVIDENCE}/review")  # 409
    second = w.upload(req, demo_files.pdf("v2")).get_json()
    contract.check(w.withdraw(second["id"], "wrong file"), "post", f"{EVIDENCE}/withdraw")
    contract.check(w.withdraw(second["id"], "again"), "post", f"{EVIDENCE}/withdraw")  # 409
    detail = contract.check(w.client.get(f"/api/v1/requests/{req.id}", headers=w.auth(w.contributor)),
                            "get", "/api/v1/requests/{request_id}")
    assert [v["status"] for v in detail["versions"]] == ["withdrawn", "rejected"]
    contract.check(w.client.get("/api/v1/requests/0", headers=w.auth(w.contributor)),
                   "get", "/api/v1/requests/{request_id}")
    error = w.client.get(f"{EVIDENCE.format(evidence_id=created['id'])}/file?disposition=x",
                         headers=w.auth(w.reviewer))
    contract.check(error, "get", f"{EVIDENCE}/file")
    download = w.client.get(f"{EVIDENCE.format(evidence_id=created['id'])}/file", headers=w.auth(w.reviewer))
    assert download.status_code == 200 and "200" in contract.spec["paths"][f"{EVIDENCE}/file"]["get"]["responses"]
