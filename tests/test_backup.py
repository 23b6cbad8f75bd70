"""backup and restore: one consistent archive taken while uploads run, restored into a fresh instance (another
SQLite file, or another PostgreSQL database) where verify-evidence and verify-audit-log pass with every row
and file; truncated or altered archives and non-empty targets are refused, saying why, changing nothing."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from evidence_store import LocalStore
from models import AuditEvent, Evidence
from services.demo import files as demo_files
from services.ops.backup import BackupError, backup, restore
from tests.fixtures.prod import ROOT, base_env


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@contextlib.contextmanager
def fresh_database(database_url: str, tmp_path: Path):
    """An empty database of the same kind: a new SQLite file, or a PostgreSQL database created and dropped."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    import psycopg2
    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/") + "_restore"
    admin = psycopg2.connect(urlunparse(parsed._replace(path="/postgres")))
    admin.autocommit = True

    def drop():
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    try:
        drop()
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield urlunparse(parsed._replace(path=f"/{name}"))
    finally:
        drop()
        admin.close()


def upload_while(w, stop: threading.Event, results: list, errors: list) -> None:
    client = w.client.application.test_client()
    n, after = 0, 0
    while after < 2:  # keeps uploading until two more after the backup finished
        after += stop.is_set()
        n += 1
        req = w.request(skip=n % 5)
        response = client.post(f"/api/v1/engagements/{w.engagement.id}/evidence", headers=w.auth(w.contributor),
                               data={"request_id": str(req.id), "effective_date": "2026-01-05",
                                     "file": (io.BytesIO(demo_files.pdf(f"{threading.get_ident()}-{n}")), "r.pdf")},
                               content_type="multipart/form-data")
        (results if response.status_code == 201 else errors).append(response.status_code)


def test_backup_while_uploading_restores_into_a_fresh_instance(app, evidence_world, database_url, tmp_path):
    w = evidence_world
    for i in range(3):
        first = w.upload(w.request(skip=i), demo_files.pdf(f"before {i}")).get_json()
        assert w.review(first["id"], "accept", "fine").status_code == 200
    live = base_env(DATABASE_URL=database_url, EVIDENCE_STORE=app.config["EVIDENCE_STORE"])
    archive = tmp_path / "attest.backup"
    stop, results, errors = threading.Event(), [], []
    uploaders = [threading.Thread(target=upload_while, args=(w, stop, results, errors)) for _ in range(3)]
    for thread in uploaders:
        thread.start()
    try:
        taken = flask(live, "backup", "--out", str(archive))
    finally:
        stop.set()
        for thread in uploaders:  # each uploads twice more after the backup: the counts below need those done
            thread.join(300)
    assert not any(thread.is_alive() for thread in uploaders), "the uploads after the backup did not finish"
    assert taken.returncode == 0, taken.stderr
    assert errors == [] and len(results) >= 9
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    # uploads ran before, during and after the snapshot: it holds some of them, consistently
    assert 3 < manifest["counts"]["evidence"] < Evidence.select().count()

    with fresh_database(database_url, tmp_path) as target:
        fresh = base_env(DATABASE_URL=target, EVIDENCE_STORE=str(tmp_path / "restored-evidence"))
        restored = flask(fresh, "restore", "--from", str(archive))
        assert restored.returncode == 0, restored.stderr
        evidence_check = flask(fresh, "verify-evidence")
        assert evidence_check.returncode == 0, evidence_check.stdout + evidence_check.stderr
        audit_check = flask(fresh, "verify-audit-log")
        assert audit_check.returncode == 0 and "audit log intact" in audit_check.stdout, audit_check.stderr
        assert f"{manifest['counts']['audit_event']} events" in audit_check.stdout
        files = sum(1 for name in manifest["members"] if name.startswith("evidence/"))
        assert len(list(LocalStore(str(tmp_path / "restored-evidence")).all_hashes())) == files

        again = flask(fresh, "restore", "--from", str(archive))
        assert again.returncode == 1 and "database is not empty" in again.stderr
    assert AuditEvent.select().count() >= manifest["counts"]["audit_event"]


# ---------------------------------------------------------------- refusals: nothing changes


@pytest.fixture
def archive(app, evidence_world, database_url, tmp_path):
    w = evidence_world
    for i in range(2):
        assert w.upload(w.request(skip=i), demo_files.pdf(f"evidence {i}")).status_code == 201
    path = tmp_path / "good.backup"
    backup(str(path), database_url, LocalStore(app.config["EVIDENCE_STORE"]))
    return path


def assert_refused(archive_path, tmp_path, match: str):
    """The archive is checked before anything else, so a fresh SQLite target serves for either database."""
    target = f"sqlite:///{tmp_path / 'target.db'}"
    store = LocalStore(str(tmp_path / "target-evidence"))
    with pytest.raises(BackupError, match=match):
        restore(str(archive_path), target, store)
    assert store.is_empty() and not (tmp_path / "target.db").exists()


def test_a_truncated_archive_is_refused(archive, tmp_path):
    cut = tmp_path / "cut.backup"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    assert_refused(cut, tmp_path, "truncated")


def test_an_altered_evidence_file_is_refused(archive, tmp_path):
    altered = tmp_path / "altered.backup"
    shutil.copy(archive, altered)
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("evidence/"))
    with open(altered, "r+b") as handle:
        handle.seek(member.offset_data + 10)
        byte = handle.read(1)
        handle.seek(member.offset_data + 10)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert_refused(altered, tmp_path, f"{member.name} does not match the manifest")


def test_an_altered_manifest_is_refused(archive, tmp_path):
    with tarfile.open(archive) as tar:
        member = tar.getmember("manifest.json")
        raw = tar.extractfile(member).read()
    altered = tmp_path / "manifest.backup"
    data = bytearray(archive.read_bytes())
    changed = raw.replace(b"evidence", b"Evidence", 1)
    data[member.offset_data:member.offset_data + len(raw)] = changed
    altered.write_bytes(bytes(data))
    assert_refused(altered, tmp_path, "manifest")


def test_a_non_empty_store_is_refused(archive, tmp_path, database_url):
    with fresh_database(database_url, tmp_path) as target:
        store = LocalStore(str(tmp_path / "busy-evidence"))
        store.put(io.BytesIO(b"already here"))
        with pytest.raises(BackupError, match="store .* is not empty"):
            restore(str(archive), target, store)
        assert len(list(store.all_hashes())) == 1


def test_not_an_archive_is_refused(tmp_path):
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a tar file at all" * 100)
    assert_refused(junk, tmp_path, "cannot be read|no manifest")
