"""Evidence packs (SPEC §5): requested through the API (202), built by a worker in a child process, PDF/A-3b
with manifest.json and the evidence files attached, downloaded (and logged), verified by verify-pack, which
catches truncation, altered bytes and foreign files."""
from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from pypdf import PdfReader

from models import AuditEvent, Pack
from services.auditors import pack_verify, packs
from tests.conftest import bearer
from tests.fixtures.rights import PDF_BYTES, make_grant

PERIOD = {"period_start": "2025-07-01", "period_end": "2026-06-30"}


@pytest.fixture
def world(rights_world):
    rights_world["headers"] = bearer(rights_world["admin"])
    return rights_world


def request_pack(client, world, headers=None, **overrides):
    body = {"frameworks": ["ISO27001-2022", "CPS234"], **PERIOD, **overrides}
    return client.post(f"/api/v1/engagements/{world['engagement'].id}/packs", json=body,
                       headers=headers or world["headers"])


def work(app) -> list[Pack]:
    return packs.run_pending(app.config["EVIDENCE_STORE"], worker="test-worker")


def test_pack_is_queued_built_by_a_worker_and_downloaded(app, client, world, cli_runner):
    response = request_pack(client, world)
    assert response.status_code == 202, response.get_json()
    pack_id = response.get_json()["id"]
    status = client.get(f"/api/v1/packs/{pack_id}", headers=world["headers"]).get_json()
    assert (status["status"], status["progress"], status["file_url"]) == ("queued", 0, None)
    assert client.get(f"/api/v1/packs/{pack_id}/file", headers=world["headers"]).status_code == 404
    result = cli_runner.invoke(args=["pack-worker", "--once"])
    assert result.exit_code == 0 and f"pack {pack_id}: ready" in result.output, result.output
    status = client.get(f"/api/v1/packs/{pack_id}", headers=world["headers"]).get_json()
    assert status["status"] == "ready" and status["progress"] == 100 and re.fullmatch("[0-9a-f]{64}", status["sha256"])
    pdf = client.get(f"/api/v1/packs/{pack_id}/file", headers=world["headers"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == status["sha256"]
    assert pack_verify.verify_file(pdf.data).ok
    assert AuditEvent.select().where(AuditEvent.action == "pack.build", AuditEvent.object_id == str(pack_id)).exists()


def test_pack_is_pdfa3b_with_manifest_and_evidence_as_associated_files(app, client, world, store):
    pack_id = request_pack(client, world).get_json()["id"]
    (pack,) = work(app)
    assert pack.status == "ready", pack.error
    with store.open(pack.file_sha256) as handle:
        data = handle.read()
    reader = PdfReader(io.BytesIO(data))
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data()
    assert re.search(rb'pdfaid:part(="3"|>3<)', xmp) and re.search(rb'pdfaid:conformance(="B"|>B<)', xmp)
    intent = root["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent
    associated = {str(spec.get_object()["/F"]): spec.get_object() for spec in root["/AF"]}
    assert set(reader.attachments) <= set(associated)
    assert all("/AFRelationship" in spec for spec in associated.values())
    manifest = json.loads(reader.attachments["manifest.json"][0])
    assert manifest["pack"]["id"] == pack_id and manifest["pack"]["frameworks"] == ["CPS234", "ISO27001-2022"]
    assert manifest["audit_trail"]["head_hash"] == pack.head_hash
    embedded = [item for item in manifest["evidence"] if item["embedded"]]
    assert embedded and len(embedded) == len(manifest["evidence"])
    for item in embedded:
        body = reader.attachments[item["attachment"]][0]
        assert hashlib.sha256(body).hexdigest() == item["sha256"] and len(body) == item["size"]
    text = "".join(page.extract_text() for page in reader.pages)
    for heading in ("Evidence pack", "Summary", "Statement of Applicability: CPS234", "Controls, requests and evidence",
                    "Incidents and clocks", "Findings and corrective actions", "Auditor access log", "Audit trail"):
        assert heading in text, heading
    assert world["engagement"].client.name in text and "BPO A" in text
    for hidden in ("PCIDSS", "PRIVACY-AU"):  # no justification names a framework outside the pack
        assert hidden not in text.replace("\n", "")


def test_the_packs_soa_lists_each_frameworks_own_requirements_with_the_controls_and_evidence(app, client, world,
                                                                                           store):
    """An auditor reads the SoA in the framework's terms (ISO 27001's A.5.15, PCI DSS's own numbers) with the controls
    that meet them (full or partial), their applicability and justification, and the evidence behind them."""
    from models import ControlObligation, Framework, Obligation
    frameworks = ["ISO27001-2022", "PCIDSS-4.0.1"]
    pack_id = request_pack(client, world, frameworks=frameworks).get_json()["id"]
    data = packs.gather(Pack.get_by_id(pack_id))
    for code in frameworks:
        lines = data.requirements[code]
        live = Obligation.select().join(Framework).where(Framework.code == code, Obligation.retired_in.is_null())
        assert [line.obligation.ref for line in lines] == [o.ref for o in live.order_by(Obligation.sort_key,
                                                                                         Obligation.ref)]
        for line in lines:
            for m in line.meets:
                mapping = ControlObligation.get(ControlObligation.control == m.control.id,
                                                ControlObligation.obligation == line.obligation.id)
                assert m.coverage == mapping.coverage
                assert m.applicability.control_id == m.control.id
    evidenced = [(line.obligation.ref, m.control.code, m.evidence) for code in frameworks
                 for line in data.requirements[code] for m in line.meets if m.evidence]
    assert evidenced  # the seeded accepted evidence shows under the requirements its controls meet
    (pack,) = work(app)
    assert pack.status == "ready", pack.error
    with store.open(pack.file_sha256) as handle:
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(handle.read())).pages)
    text = " ".join(text.split())
    a515 = next(line for line in data.requirements["ISO27001-2022"] if line.obligation.ref == "A.5.15")
    assert f"A.5.15 {a515.obligation.title}" in text
    first = a515.meets[0]
    assert f"{first.control.code} ({first.coverage}) {first.control.title}" in text
    ref, code, evidence = evidenced[0]
    assert f"E{evidence[0].id} v{evidence[0].version}" in text


def test_embedding_stops_at_the_limit_and_the_rest_are_listed_by_hash(app, client, world, store):
    request_pack(client, world)
    claimed = packs.claim_next("test")
    pack = packs.build_claimed(claimed, app.config["EVIDENCE_STORE"], embed_max_mb=1500 / 1024 / 1024)
    with store.open(pack.file_sha256) as handle:
        reader = PdfReader(handle)
        manifest = json.loads(reader.attachments["manifest.json"][0])
        names = set(reader.attachments)
    flags = [item["embedded"] for item in manifest["evidence"]]
    assert flags.count(True) == 2 and len(flags) > 2  # 600-byte files, 1500 bytes allowed
    assert names == {"manifest.json"} | {i["attachment"] for i in manifest["evidence"] if i["embedded"]}


def test_verify_pack_accepts_a_real_pack_and_catches_tampering(app, client, world, store, tmp_path, cli_runner):
    request_pack(client, world)
    (pack,) = work(app)
    with store.open(pack.file_sha256) as handle:
        data = handle.read()
    good = tmp_path / "pack.pdf"
    good.write_bytes(data)
    result = cli_runner.invoke(args=["verify-pack", str(good)])
    assert result.exit_code == 0 and f"pack {pack.id} OK" in result.output, result.output

    def verdict(name: str, body: bytes, *extra: str):
        path = tmp_path / name
        path.write_bytes(body)
        return cli_runner.invoke(args=["verify-pack", str(path), *extra])

    truncated = verdict("truncated.pdf", data[: len(data) * 2 // 3])
    assert truncated.exit_code == 1 and "truncated" in truncated.output
    foreign = verdict("foreign.pdf", PDF_BYTES)
    assert foreign.exit_code == 1 and ("not an Attest pack" in foreign.output or "unreadable" in foreign.output)
    assert verdict("text.pdf", b"hello").exit_code == 1
    # one altered byte in the middle: offline checks or the recorded file hash catch it
    middle = bytearray(data)
    middle[len(middle) // 2] ^= 0x01
    altered = verdict("altered.pdf", bytes(middle))
    assert altered.exit_code == 1 and "FAIL" in altered.output
    # a changed evidence file inside the pack: re-embed the same manifest with one file changed
    reader = PdfReader(io.BytesIO(data))
    manifest = json.loads(reader.attachments["manifest.json"][0])
    first = next(i for i in manifest["evidence"] if i["embedded"])
    swapped = _rewrite_attachment(data, first["attachment"], b"forged content")
    forged = verdict("forged.pdf", swapped, "--offline")
    assert forged.exit_code == 1 and f"evidence {first['id']}" in forged.output
    # a pack whose manifest points at rows the database does not have
    Pack.delete().where(Pack.id == pack.id).execute()
    unknown = verdict("unknown.pdf", data)
    assert unknown.exit_code == 1 and "no pack with this id" in unknown.output
    assert verdict("offline.pdf", data, "--offline").exit_code == 0


def _rewrite_attachment(data: bytes, name: str, body: bytes) -> bytes:
    """The pack with one embedded file's bytes replaced (pypdf keeps everything else)."""
    from pypdf import PdfWriter
    from pypdf.generic import NameObject
    writer = PdfWriter(clone_from=io.BytesIO(data))
    names = writer._root_object["/Names"]["/EmbeddedFiles"]["/Names"]
    for i in range(0, len(names), 2):
        if names[i] == name:
            stream = names[i + 1].get_object()["/EF"]["/F"].get_object()
            stream.set_data(body)
            stream[NameObject("/Params")] = stream.get("/Params", {})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("overrides, field", [
    ({"frameworks": []}, "frameworks"),
    ({"frameworks": ["CPS230"]}, "frameworks"),          # outside the engagement
    ({"frameworks": ["NOPE"]}, "frameworks"),
    ({"period_start": "2026-06-30", "period_end": "2025-07-01"}, "period_end"),
    ({"period_start": ""}, "period_start"),
    ({"period_end": "30/06/2026"}, "period_end"),
    ({"period_start": "2020-01-01", "period_end": "2026-01-01"}, "period_end"),
])
def test_bad_pack_requests_are_refused_and_change_nothing(client, world, overrides, field):
    before = Pack.select().count()
    response = request_pack(client, world, **overrides)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == field
    assert Pack.select().count() == before


def test_auditor_packs_stay_within_the_grant_and_downloads_are_logged(app, client, world, make_user):
    auditor = world["auditor"]
    make_grant(auditor, world["engagement"], ["CPS234"])
    headers = bearer(auditor)
    assert request_pack(client, world, headers, frameworks=["ISO27001-2022"]).status_code == 422
    client_pack = request_pack(client, world).get_json()["id"]
    mine = request_pack(client, world, headers, frameworks=["CPS234"])
    assert mine.status_code == 202
    work(app)
    assert client.get(f"/api/v1/packs/{client_pack}", headers=headers).status_code == 404  # the client's pack
    pdf = client.get(f"/api/v1/packs/{mine.get_json()['id']}/file", headers=headers)
    assert pdf.status_code == 200
    logged = AuditEvent.select().where(AuditEvent.actor == auditor, AuditEvent.action == "pack.download").get()
    assert logged.object_id == str(mine.get_json()["id"]) and logged.engagement_id == world["engagement"].id
    # other clients and providers see nothing
    for user in (world["contributor"], make_user("client_admin", org="Bank B")):
        assert client.get(f"/api/v1/packs/{client_pack}", headers=bearer(user)).status_code == 404


def test_a_stale_claim_goes_back_to_the_queue_and_two_workers_never_share_a_pack(client, world):
    import datetime as dt

    from models import utcnow
    request_pack(client, world)
    first = packs.claim_next("worker-a")
    assert first is not None and packs.claim_next("worker-b") is None
    Pack.update(claimed_at=utcnow() - dt.timedelta(hours=1)).where(Pack.id == first.id).execute()
    again = packs.claim_next("worker-b")
    assert again.id == first.id and again.claimed_by == "worker-b"


def test_build_pack_command_writes_the_file(app, world, tmp_path, cli_runner):
    out = tmp_path / "out.pdf"
    result = cli_runner.invoke(args=["build-pack", "--engagement", str(world["engagement"].id), "--framework",
                                     "CPS234", "--from", "2025-07-01", "--to", "2026-06-30", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pack_verify.verify_file(out.read_bytes()).ok
    bad = cli_runner.invoke(args=["build-pack", "--engagement", str(world["engagement"].id), "--framework",
                                  "CPS230", "--from", "2025-07-01", "--to", "2026-06-30", "--out", str(out)])
    assert bad.exit_code != 0 and "CPS230" in bad.output


@pytest.fixture
def on_s3(app, s3_evidence, s3_env, monkeypatch):
    """The app's EVIDENCE_STORE is an S3 prefix on the session's SeaweedFS (evidence, and packs with it)."""
    monkeypatch.setitem(app.config, "EVIDENCE_STORE", s3_env["EVIDENCE_STORE"])
    return app


def test_packs_build_embed_and_download_on_the_s3_store(on_s3, s3_evidence, client, world, store):
    """With EVIDENCE_STORE=s3://…, the worker streams the embedded files out of S3 for the renderer, stores the
    PDF in S3 and the download streams it back: the same verified pack as on a local store."""
    pack_id = request_pack(client, world).get_json()["id"]
    (pack,) = work(on_s3)
    assert pack.status == "ready", pack.error
    assert s3_evidence.exists(pack.file_sha256) and not s3_evidence.temporary_files()  # in the bucket, not on disk
    pdf = client.get(f"/api/v1/packs/{pack_id}/file", headers=world["headers"])
    assert pdf.status_code == 200 and hashlib.sha256(pdf.data).hexdigest() == pack.file_sha256
    report = pack_verify.verify_file(pdf.data)
    assert report.ok, report.problems
    reader = PdfReader(io.BytesIO(pdf.data))
    manifest = json.loads(reader.attachments["manifest.json"][0])
    embedded = [item for item in manifest["evidence"] if item["embedded"]]
    assert embedded and all(hashlib.sha256(reader.attachments[i["attachment"]][0]).hexdigest() == i["sha256"]
                            for i in embedded)
