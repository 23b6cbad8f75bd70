"""The content-addressed store: streaming, atomicity, size limits, tamper detection — one suite, run
against the local file system and against S3 on a real SeaweedFS server."""
import hashlib
import io
import os
import time

import pytest

from evidence_store import LocalStore, StoreError, StoreUnavailable, TooLarge, open_store
from evidence_store.s3 import PART, S3Store


class FailingStream(io.RawIOBase):
    """Delivers ``fail_after`` bytes (1 MiB reads), then the connection drops."""
    def __init__(self, fail_after=3 * 1024 * 1024):
        self.sent, self.fail_after = 0, fail_after

    def read(self, size=-1):
        if self.sent >= self.fail_after:
            raise ConnectionResetError("client went away")
        self.sent += 1024 * 1024
        return b"x" * 1024 * 1024


class Pattern(io.RawIOBase):
    """``size`` bytes of a repeating pattern, generated as read (never held whole)."""
    def __init__(self, size, seed=b"evidence"):
        self.left, self.block = size, (seed * (65536 // len(seed) + 1))[:65536]
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        n = min(self.left, len(self.block) if size is None or size < 0 else min(size, len(self.block)))
        self.left -= n
        self.digest.update(self.block[:n])
        return self.block[:n]


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(str(tmp_path))
    return request.getfixturevalue("s3_store")


def stray_temporaries(store) -> list[str]:
    """What an interrupted upload could leave behind: temporary files, objects or multipart uploads."""
    return store.temporary_files()


def test_put_stores_by_sha256_and_deduplicates(store):
    data = b"%PDF-1.7 access review"
    first = store.put(io.BytesIO(data))
    second = store.put(io.BytesIO(data))
    assert first.sha256 == second.sha256 == hashlib.sha256(data).hexdigest()
    assert first.size == len(data) and first.head.startswith(b"%PDF")
    with store.open(first.sha256) as handle:
        assert handle.read() == data
    assert list(store.all_hashes()) == [first.sha256]
    assert store.exists(first.sha256) and not store.exists("0" * 64)


def test_empty_file_is_stored(store):
    stored = store.put(io.BytesIO(b""))
    assert stored.size == 0 and stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.rehash(stored.sha256) == stored.sha256


def test_large_file_streams_through_parts_and_is_stored_once(store):
    """Several parts (multipart upload on S3), placed under the hash; the same bytes again add nothing."""
    size = 2 * PART + 12345
    source = Pattern(size)
    stored = store.put(source)
    assert stored.size == size and stored.sha256 == source.digest.hexdigest()
    assert store.rehash(stored.sha256) == stored.sha256
    again = store.put(Pattern(size))
    assert again.sha256 == stored.sha256 and list(store.all_hashes()) == [stored.sha256]
    assert stray_temporaries(store) == []


def test_open_streams_in_chunks(store):
    stored = store.put(Pattern(3 * 1024 * 1024))
    with store.open(stored.sha256) as handle:
        digest, reads = hashlib.sha256(), 0
        while chunk := handle.read(256 * 1024):
            assert len(chunk) <= 256 * 1024
            digest.update(chunk)
            reads += 1
    assert digest.hexdigest() == stored.sha256 and reads >= 12


def test_missing_file_opens_as_not_found(store):
    with pytest.raises(FileNotFoundError):
        store.open("a" * 64)
    assert store.rehash("a" * 64) is None


@pytest.mark.parametrize("fail_after", [3 * 1024 * 1024, 3 * PART])
def test_crash_mid_upload_leaves_no_file(store, fail_after):
    with pytest.raises(ConnectionResetError):
        store.put(FailingStream(fail_after))
    assert list(store.all_hashes()) == []
    assert stray_temporaries(store) == []


def test_too_large_stores_nothing(store):
    with pytest.raises(TooLarge):
        store.put(io.BytesIO(b"a" * 2048), max_bytes=1024)
    with pytest.raises(TooLarge):
        store.put(Pattern(PART + 2048), max_bytes=PART + 1024)
    assert list(store.all_hashes()) == [] and stray_temporaries(store) == []


def test_tampering_shows_in_rehash(store):
    stored = store.put(io.BytesIO(b"original"))
    if isinstance(store, LocalStore):
        with open(store.path_for(stored.sha256), "wb") as handle:
            handle.write(b"altered")
    else:
        store.client.put_object(Bucket=store.bucket, Key=store.key_for(stored.sha256), Body=b"altered")
    assert store.rehash(stored.sha256) != stored.sha256
    assert store.rehash("0" * 64) is None


def test_check_and_is_empty(store):
    store.check()
    assert store.is_empty()
    store.put(io.BytesIO(b"x"))
    assert not store.is_empty()


@pytest.mark.parametrize("bad", ["../../etc/passwd", "abc", "G" * 64])
def test_paths_come_only_from_hashes(store, bad):
    with pytest.raises(ValueError):
        store.open(bad)


# ---------------------------------------------------------------- choosing and reaching the backend

def test_open_store_picks_the_backend(tmp_path, monkeypatch):
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    assert isinstance(open_store(str(tmp_path / "ev")), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}/ev2"), LocalStore)
    s3 = open_store("s3://attest-evidence/prod/files")
    assert isinstance(s3, S3Store) and (s3.bucket, s3.prefix) == ("attest-evidence", "prod/files")


@pytest.mark.parametrize("url, message", [
    ("s3://", "not a valid S3 bucket name"),
    ("s3://Upper_Case/x", "not a valid S3 bucket name"),
    ("s3://ab/x", "not a valid S3 bucket name"),
    ("s3://key:secret@bucket/x", "give only s3://bucket/prefix"),
    ("ftp://host/x", "unsupported scheme"),
    ("  ", "EVIDENCE_STORE is empty"),
])
def test_malformed_store_url_is_a_clear_error(url, message):
    with pytest.raises(StoreError, match=message):
        open_store(url)


def test_bad_endpoint_url_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("S3_ENDPOINT_URL", "127.0.0.1:9000")
    with pytest.raises(StoreError, match="S3_ENDPOINT_URL"):
        open_store("s3://attest-evidence/x")


def test_unreachable_endpoint_is_unavailable(monkeypatch, unused_port):
    monkeypatch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{unused_port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    store = open_store("s3://attest-evidence/x")
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.check()
    with pytest.raises(StoreUnavailable):
        store.put(io.BytesIO(b"x"))


def test_wrong_credentials_are_refused_clearly(s3_env, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = open_store(s3_env["EVIDENCE_STORE"])
    with pytest.raises(StoreError, match="refused the credentials"):
        store.check()
    with pytest.raises(StoreError, match="refused the credentials"):
        store.put(io.BytesIO(b"x"))


def test_missing_bucket_is_a_clear_error(s3_env, monkeypatch):
    store = open_store("s3://attest-no-such-bucket/x")
    with pytest.raises(StoreError, match="does not exist"):
        store.check()


# ---------------------------------------------------------------- the staging protocol of uploads

def write_all(staged, source, chunk=1024 * 1024):
    while data := source.read(chunk):
        staged.write(data)
    return staged.finish()


def test_staged_upload_is_placed_only_when_promoted(store):
    staged = store.staging()
    stored = write_all(staged, Pattern(2 * PART + 999))
    assert not store.exists(stored.sha256) and list(store.all_hashes()) == []
    with open(staged.path, "rb") as sniffable:
        assert sniffable.read(8) == b"evidence"
    staged.promote()
    staged.discard()  # after promote: nothing to undo
    assert store.rehash(stored.sha256) == stored.sha256 and store.temporary_files() == []


@pytest.mark.parametrize("size", [1000, 2 * PART + 999])
def test_discarded_upload_leaves_nothing(store, size):
    staged = store.staging()
    write_all(staged, Pattern(size))
    staged.discard()
    assert list(store.all_hashes()) == [] and store.temporary_files() == []


def test_staged_limit_is_enforced_while_streaming(store):
    staged = store.staging(max_bytes=PART + 10)
    with pytest.raises(TooLarge):
        write_all(staged, Pattern(2 * PART))
    assert store.temporary_files() == []


def test_a_large_office_file_is_sniffed_from_its_staged_ends(store):
    """A 20 MiB .docx: libmagic and the ZIP reader see its type through the staged file's ``path``."""
    import zipfile

    from services.evidence import media_types
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/media/scan.bin", os.urandom(20 * 1024 * 1024))
    staged = store.staging()
    write_all(staged, io.BytesIO(buffer.getvalue()))
    try:
        assert media_types.sniff(staged.path) == media_types.OOXML["word/"]
    finally:
        staged.discard()


def test_sweep_removes_abandoned_temporaries(store):
    staged = store.staging()
    write_all(staged, Pattern(2 * PART))  # finished but never promoted: a crashed request
    assert store.temporary_files()
    assert store.sweep(max_age=3600) == []  # young, and its writer (this process) alive
    removed = store.sweep(max_age=0, now=time.time() + 60)
    assert removed and store.temporary_files() == []


# ---------------------------------------------------------------- S3: large uploads are named, not copied

def objects_of(store: S3Store) -> list[dict]:
    """Every object under the store's prefix (the session's bucket is shared, one prefix per test)."""
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix + "/")
    return [item for page in pages for item in page.get("Contents", ())]


def bytes_in_bucket(store: S3Store) -> int:
    return sum(item["Size"] for item in objects_of(store))


def test_s3_large_upload_holds_its_bytes_once(s3_store):
    """A multipart upload is completed in place and named by its hash: the bucket holds the bytes once (no
    copy under the hash, no temporary left), and the same bytes uploaded again add nothing."""
    size = 2 * PART + 7
    stored = s3_store.put(Pattern(size))
    assert s3_store.put(Pattern(size)).sha256 == stored.sha256
    assert bytes_in_bucket(s3_store) == size
    assert s3_store.rehash(stored.sha256) == stored.sha256 and s3_store.temporary_files() == []
    assert list(s3_store.all_hashes()) == [stored.sha256]


def test_s3_a_finished_upload_is_stored_only_when_promoted(s3_store):
    staged = s3_store.staging()
    source = Pattern(PART + 99)
    while chunk := source.read():
        staged.write(chunk)
    stored = staged.finish()
    assert not s3_store.exists(stored.sha256) and bytes_in_bucket(s3_store) == 0  # parts only, no object yet
    staged.discard()
    assert s3_store.temporary_files() == [] and bytes_in_bucket(s3_store) == 0


class RacingS3Store(S3Store):
    """Sees the hash as free when it is not: what two identical uploads finishing together both see."""
    def exists(self, sha256: str) -> bool:
        return False


def test_s3_identical_uploads_racing_to_the_hash_keep_one(s3_store):
    size = PART + 5
    first = s3_store.put(Pattern(size))
    racing = RacingS3Store(s3_store.bucket, s3_store.prefix, s3_store.endpoint_url)
    assert racing.put(Pattern(size)).sha256 == first.sha256  # If-None-Match refuses the second pointer
    assert bytes_in_bucket(s3_store) == size and s3_store.rehash(first.sha256) == first.sha256
    assert s3_store.temporary_files() == []


def test_s3_tampering_with_a_large_uploads_bytes_shows_in_rehash(s3_store):
    stored = s3_store.put(Pattern(PART + 3))
    blobs = [item["Key"] for item in objects_of(s3_store) if item["Size"] > 0]
    assert len(blobs) == 1
    s3_store.client.put_object(Bucket=s3_store.bucket, Key=blobs[0], Body=b"altered")
    assert s3_store.rehash(stored.sha256) != stored.sha256


def test_s3_objects_stored_under_their_hash_by_earlier_versions_still_open(s3_store):
    data = b"%PDF-1.7 " + os.urandom(PART + 10)
    sha = hashlib.sha256(data).hexdigest()
    s3_store.client.put_object(Bucket=s3_store.bucket, Key=s3_store.key_for(sha), Body=data)
    with s3_store.open(sha) as handle:
        assert handle.read() == data
    assert s3_store.rehash(sha) == sha and list(s3_store.all_hashes()) == [sha]
