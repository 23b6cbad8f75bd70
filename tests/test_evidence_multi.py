"""One submission, several files: the files sent together are one evidence version, reviewed as one, each file
hashed, typed and downloadable; a refused file stores none; packs, OSCAL and verify-evidence cover every file."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os

import pytest
from pypdf import PdfReader

import evidence_store
from models import Evidence, EvidenceFile, EvidenceRequest
from services.auditors import oscal, pack_verify, packs
from services.demo import files as demo_files

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def post_files(w, req, parts: list[tuple[str, bytes]], user=None):
    """POST several ``file`` parts in one multipart upload."""
    body = {"request_id": str(req.id), "effective_date": dt.date.today().isoformat(),
            "file": [(io.BytesIO(data), name) for name, data in parts]}
    return w.client.post(f"/api/v1/engagements/{w.engagement.id}/evidence", data=body,
                         headers=w.auth(user or w.contributor), content_type="multipart/form-data")


def three_files(month: str = "March") -> list[tuple[str, bytes]]:
    return [("sla-report.pdf", demo_files.pdf(f"SLA report {month}")),
            ("review-minutes.pdf", demo_files.pdf(f"Service review minutes {month}")),
            ("signed-attestation.pdf", demo_files.pdf(f"Signed attestation {month}"))]


@pytest.fixture
def empty_store(app, library):
    """The session's evidence store, emptied of the files earlier tests left."""
    store = evidence_store.get_store()
    for sha in list(store.all_hashes()):
        os.unlink(store.path_for(sha))
    return store


def test_several_file_parts_are_one_version_with_every_file(evidence_world):
    w = evidence_world
    req = w.request()
    parts = three_files()
    response = post_files(w, req, parts)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    hashes = [hashlib.sha256(data).hexdigest() for _, data in parts]
    # the SPEC's single-file fields describe the first file; ``files`` lists them all, in the order sent
    assert (body["version"], body["status"], body["sha256"], body["filename"]) == (1, "submitted", hashes[0],
                                                                                  "sla-report.pdf")
    expected = [(i, name, sha, len(data), "application/pdf")
                for i, ((name, data), sha) in enumerate(zip(parts, hashes, strict=True), 1)]
    assert [(f["position"], f["filename"], f["sha256"], f["size"], f["media_type"]) for f in body["files"]] == expected
    assert Evidence.select().where(Evidence.request == req.id).count() == 1
    assert EvidenceRequest.get_by_id(req.id).status == "submitted"
    for f, (_, data) in zip(body["files"], parts, strict=True):
        download = w.client.get(f["url"], headers=w.auth(w.reviewer))
        assert download.status_code == 200 and download.data == data
        assert download.headers["Content-Disposition"].startswith("attachment")
    again = w.client.get(f"/api/v1/evidence/{body['id']}", headers=w.auth(w.reviewer)).get_json()
    assert again["files"] == body["files"]


def test_a_single_file_upload_answers_as_before_with_a_files_list(evidence_world):
    w = evidence_world
    data = demo_files.pdf("one file")
    body = w.upload(w.request(), data, filename="one.pdf").get_json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size"] == len(data)
    assert [(f["filename"], f["sha256"]) for f in body["files"]] == [("one.pdf", body["sha256"])]
    assert body["files"][0]["url"] == f"/api/v1/evidence/{body['id']}/file"


def test_review_accepts_one_version_with_three_files(evidence_world):
    w = evidence_world
    req = w.request()
    first = post_files(w, req, three_files()).get_json()
    accepted = w.review(first["id"], "accept", "All three present")
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    assert len(accepted.get_json()["files"]) == 3
    assert EvidenceRequest.get_by_id(req.id).status == "accepted"
    # what used to happen: three competing versions, and accepting one superseded another of the same drop
    assert [e.status for e in Evidence.select().where(Evidence.request == req.id)] == ["accepted"]


def test_one_bad_file_among_good_ones_stores_nothing(evidence_world):
    w = evidence_world
    req = w.request()
    store = evidence_store.get_store()
    before = set(store.all_hashes())
    good = three_files()[:2]
    cases = [
        (good + [("tool.pdf", b"MZ\x90\x00" + b"\x00" * 200)], 415, "“tool.pdf”"),
        (good + [("empty.pdf", b"")], 422, "“empty.pdf” is empty"),
        (good + [("again.pdf", good[0][1])], 422, "file 3 is the same as file 1"),
        ([(f"{i}.pdf", demo_files.pdf(f"page {i}")) for i in range(21)], 422, "at most 20"),
    ]
    for parts, status, message in cases:
        response = post_files(w, req, parts)
        assert response.status_code == status, response.get_json()
        assert message in response.get_json()["error"]["message"]
    no_file = w.client.post(f"/api/v1/engagements/{w.engagement.id}/evidence",
                            data={"request_id": str(req.id), "effective_date": dt.date.today().isoformat()},
                            headers=w.auth(w.contributor), content_type="multipart/form-data")
    assert no_file.status_code == 422
    assert not Evidence.select().where(Evidence.request == req.id).exists()
    assert not EvidenceFile.select().join(Evidence).where(Evidence.request == req.id).exists()
    assert set(store.all_hashes()) == before and store.temporary_files() == []


def test_the_size_limit_is_for_all_the_files_together(app, evidence_world, monkeypatch):
    w = evidence_world
    req = w.request()
    monkeypatch.setitem(app.config, "MAX_UPLOAD_MB", 1)
    half = demo_files.pdf("half") + b"\n%" + b"0" * (600 * 1024)
    alone = post_files(w, req, [("a.pdf", half)])
    assert alone.status_code == 201, alone.get_json()
    together = post_files(w, w.request(skip=1), [("a.pdf", half), ("b.pdf", half + b"0")])
    assert together.status_code == 413 and "together" in together.get_json()["error"]["message"]
    assert evidence_store.get_store().temporary_files() == []


def test_each_file_download_is_scoped_like_its_item(evidence_world, make_user):
    w = evidence_world
    mine = post_files(w, w.request(), three_files()).get_json()
    other = post_files(w, w.request(skip=1), [("other.pdf", demo_files.pdf("other"))]).get_json()
    second = mine["files"][1]
    stranger = make_user("risk_reviewer", org="Bank B")
    assert w.client.get(second["url"], headers=w.auth(w.reviewer)).status_code == 200
    # another tenant's file answers exactly like a file id that does not exist
    theirs = w.client.get(second["url"], headers=w.auth(stranger))
    unknown = w.client.get("/api/v1/evidence/99999999/files/1/file", headers=w.auth(stranger))
    assert theirs.status_code == unknown.status_code == 404 and theirs.get_json() == unknown.get_json()
    # a file of another item under this item's id: the same answer as a missing file id of this item
    wrong_item = w.client.get(f"/api/v1/evidence/{other['id']}/files/{second['id']}/file", headers=w.auth(w.reviewer))
    missing = w.client.get(f"/api/v1/evidence/{other['id']}/files/99999999/file", headers=w.auth(w.reviewer))
    assert wrong_item.status_code == missing.status_code == 404 and wrong_item.get_json() == missing.get_json()


def _accepted_three(w) -> dict:
    body = post_files(w, w.request(), three_files()).get_json()
    assert w.review(body["id"], "accept", "Complete").status_code == 200
    return body


def test_pack_embeds_every_file_and_its_manifest_hashes_verify(app, evidence_world):
    w = evidence_world
    body = _accepted_three(w)
    start = w.engagement.start_date.isoformat()
    response = w.client.post(f"/api/v1/engagements/{w.engagement.id}/packs", headers=w.auth(w.admin),
                             json={"frameworks": ["ISO27001-2022", "CPS230"], "period_start": start,
                                   "period_end": dt.date.today().isoformat()})
    assert response.status_code == 202, response.get_json()
    (pack,) = packs.run_pending(app.config["EVIDENCE_STORE"], worker="test-worker")
    assert pack.status == "ready", pack.error
    with evidence_store.get_store().open(pack.file_sha256) as handle:
        data = handle.read()
    reader = PdfReader(io.BytesIO(data))
    manifest = json.loads(reader.attachments["manifest.json"][0])
    (entry,) = [e for e in manifest["evidence"] if e["id"] == body["id"]]
    assert [f["sha256"] for f in entry["files"]] == [f["sha256"] for f in body["files"]]
    for f in entry["files"]:
        assert f["embedded"]
        embedded = reader.attachments[f["attachment"]][0]
        assert hashlib.sha256(embedded).hexdigest() == f["sha256"] and len(embedded) == f["size"]
    text = "".join(page.extract_text() for page in reader.pages).replace("\n", "")
    assert all(f["sha256"] in text for f in entry["files"])
    report = pack_verify.verify_file(data)
    assert report.ok, report.problems
    pack_verify.verify_against_records(data, report, evidence_store.get_store())
    assert report.ok, report.problems


def test_a_pack_whose_second_file_was_swapped_fails_verification(app, evidence_world):
    w = evidence_world
    body = _accepted_three(w)
    manifest = {"evidence": [{"id": body["id"], "sha256": body["sha256"], "size": body["size"],
                              "media_type": body["media_type"], "embedded": False,
                              "files": [{**f, "embedded": False} for f in body["files"]]}]}
    manifest["evidence"][0]["files"][1]["sha256"] = "0" * 64
    report = pack_verify.PackReport(manifest=manifest)
    pack_verify._check_manifest(manifest, {}, body["sha256"] + body["files"][2]["sha256"], b"", report)
    assert any(f"evidence {body['id']} file 2: its SHA-256 is not in the rendered index" in p for p in report.problems)


def test_oscal_lists_every_file_as_a_resource(evidence_world):
    w = evidence_world
    body = _accepted_three(w)
    document = oscal.assessment_results(w.admin, w.engagement.id)
    oscal.validate(document)
    resources = document["assessment-results"]["back-matter"]["resources"]
    links = {r["rlinks"][0]["hashes"][0]["value"]: (r["uuid"], r["rlinks"][0]["href"])
             for r in resources if "rlinks" in r}  # the assessment plan is carried as base64, not linked
    assert [links[f["sha256"]][1] for f in body["files"]] == [f["url"] for f in body["files"]]
    observation = next(o for result in document["assessment-results"]["results"]
                       for o in result.get("observations", []) if o["title"].endswith(f"evidence {body['id']}"))
    assert [e["href"] for e in observation["relevant-evidence"]] == [f"#{links[f['sha256']][0]}"
                                                                     for f in body["files"]]


def test_verify_evidence_checks_every_file_and_counts_no_second_file_as_orphan(app, empty_store, evidence_world):
    w = evidence_world
    body = post_files(w, w.request(), three_files("tampered")).get_json()  # bytes no other test stores
    intact = app.test_cli_runner().invoke(args=["verify-evidence", "--quiet"])
    assert intact.exit_code == 0, intact.output
    assert "3 file(s)" in intact.output and "0 missing, 0 altered, 0 orphan" in intact.output
    second = body["files"][1]["sha256"]
    with open(empty_store.path_for(second), "r+b") as handle:  # one byte of the second file flipped
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 1]))
    try:
        tampered = app.test_cli_runner().invoke(args=["verify-evidence", "--quiet"])
    finally:  # the store outlives this test: later tests store the same bytes under the same hash
        with open(empty_store.path_for(second), "r+b") as handle:
            handle.write(first)
    assert tampered.exit_code == 1
    assert f"ALTERED {second}: evidence {body['id']}" in tampered.output
    assert body["files"][0]["sha256"] not in tampered.output and "0 orphan" in tampered.output


def test_an_auditor_reads_every_file_of_an_accepted_submission_only(app, evidence_world, make_user):
    from tests.conftest import login
    from tests.fixtures.rights import make_grant
    w = evidence_world
    accepted = _accepted_three(w)
    pending = post_files(w, w.request(skip=1), three_files()[:2]).get_json()
    auditor = make_user("auditor")
    make_grant(auditor, w.engagement, ["ISO27001-2022", "CPS230"])
    for f in accepted["files"]:
        download = w.client.get(f["url"], headers=w.auth(auditor))
        assert download.status_code == 200 and hashlib.sha256(download.data).hexdigest() == f["sha256"]
    hidden = w.client.get(pending["files"][1]["url"], headers=w.auth(auditor))  # submitted, not accepted
    assert hidden.status_code == 404
    browser = app.test_client()
    assert login(browser, auditor).status_code == 302
    page = browser.get(f"/portal/evidence/{accepted['id']}").get_data(as_text=True)
    assert "Files (3), accepted as one" in page and all(f["sha256"] in page for f in accepted["files"])


def test_backup_and_restore_carry_every_file_of_a_submission(app, evidence_world, database_url, tmp_path):
    from evidence_store import LocalStore
    from services.ops.backup import backup, restore
    from tests.test_backup import fresh_database
    w = evidence_world
    body = post_files(w, w.request(), three_files()).get_json()
    path = tmp_path / "multi.backup"
    manifest = backup(str(path), database_url, LocalStore(app.config["EVIDENCE_STORE"]))
    assert all(f"evidence/{f['sha256']}" in manifest["members"] for f in body["files"])
    assert manifest["counts"]["evidence_file"] >= 3
    with fresh_database(database_url, tmp_path) as target:
        restored_store = LocalStore(str(tmp_path / "restored-evidence"))
        restore(str(path), target, restored_store)
        assert {f["sha256"] for f in body["files"]} <= set(restored_store.all_hashes())


def test_the_migration_gives_every_existing_version_its_one_file(tmp_path):
    """Migration 220 back-fills one file row (position 1) per evidence item from the item's own columns."""
    import logging

    import peewee as pw
    from peewee_migrate import Router

    from models.schema import MIGRATIONS_DIR
    database = pw.SqliteDatabase(str(tmp_path / "before.db"))
    router = Router(database, migrate_dir=MIGRATIONS_DIR, ignore=["basemodel"], logger=logging.getLogger("test"))
    before = [name for name in router.todo if name < "220"]
    router.run(before[-1])
    database.execute_sql("PRAGMA foreign_keys = OFF")  # an item alone, without its engagement and request
    database.execute_sql(
        'INSERT INTO evidence (request_id, engagement_id, sha256, original_filename, media_type, size, '
        'effective_date, note, version, status, uploaded_at, review_comment) '
        "VALUES (7, 3, ?, 'signed.pdf', 'application/pdf', 1234, '2026-03-31', '', 2, 'accepted', "
        "'2026-04-02 10:00:00', '')", ("ab" * 32,))
    router.run()
    rows = database.execute_sql('SELECT evidence_id, position, sha256, size, media_type, original_filename, '
                                'storage_key FROM evidence_file').fetchall()
    assert rows == [(1, 1, "ab" * 32, 1234, "application/pdf", "signed.pdf", "ab" * 32)]
    database.close()
