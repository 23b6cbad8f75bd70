"""Packs and backups: the archive holds every built pack's PDF (a restored pack that says ``ready`` can be
downloaded), ``verify-evidence`` knows pack files (no orphans on a healthy instance, a lost one named as a
pack), and a pack whose file is gone from the store answers 404 with what to do, never a 500."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import tarfile

import pytest

from evidence_store import LocalStore
from models import Pack
from services.evidence.verify import verify_store
from services.ops.backup import backup, restore
from tests.fixtures.rights import PDF_BYTES
from tests.test_backup import fresh_database


@pytest.fixture
def built_pack(app, evidence_world):
    """A ready pack whose PDF is in the store beside one uploaded evidence file."""
    w = evidence_world
    assert w.upload(w.request()).status_code == 201
    store = LocalStore(app.config["EVIDENCE_STORE"])
    stored = store.put(io.BytesIO(PDF_BYTES + f"% pack of engagement {w.engagement.id}\n".encode()))
    pack = Pack.create(engagement=w.engagement.id, frameworks=json.dumps(["ISO27001-2022"]),
                       period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 3, 31), status="ready",
                       progress=100, file_sha256=stored.sha256, size=stored.size, requested_by=w.admin.id,
                       finished_at=dt.datetime(2026, 4, 1))
    return w, store, pack


def test_verify_evidence_knows_pack_files_and_names_a_lost_one(built_pack):
    """(The suite's store holds files of earlier tests too: only this pack's file is judged here.)"""
    _, store, pack = built_pack
    report = verify_store(store)
    assert pack.file_sha256 not in report.orphans
    assert report.missing_packs == report.altered_packs == {} and report.checked == 2
    os.remove(store.path_for(pack.file_sha256))
    lost = verify_store(store)
    assert not lost.ok and lost.missing_packs == {pack.file_sha256: [pack.id]}
    assert f"MISSING {pack.file_sha256}: pack {pack.id} (request the pack again to rebuild it)" in lost.problems()


def test_a_pack_whose_file_is_gone_answers_404_saying_so(built_pack, client):
    w, store, pack = built_pack
    assert w.client.get(f"/api/v1/packs/{pack.id}/file", headers=w.auth(w.admin)).status_code == 200
    os.remove(store.path_for(pack.file_sha256))
    response = w.client.get(f"/api/v1/packs/{pack.id}/file", headers=w.auth(w.admin))
    assert response.status_code == 404
    assert "missing from the store" in response.get_json()["error"]["message"]
    page = w.client.get(f"/packs/{pack.id}/download", headers=w.auth(w.admin))
    assert page.status_code in (302, 401, 404)  # the page route wants a session: never a 500


def test_a_backup_holds_pack_files_and_restores_them(app, built_pack, database_url, tmp_path):
    _, store, pack = built_pack
    archive = tmp_path / "with-packs.backup"
    manifest = backup(str(archive), database_url, store)
    with tarfile.open(archive) as tar:
        assert f"evidence/{pack.file_sha256}" in tar.getnames()
    assert f"evidence/{pack.file_sha256}" in manifest["members"]
    restored_store = LocalStore(str(tmp_path / "restored-evidence"))
    with fresh_database(database_url, tmp_path) as target:
        restore(str(archive), target, restored_store)
    with restored_store.open(pack.file_sha256) as handle:
        assert handle.read().startswith(PDF_BYTES)
