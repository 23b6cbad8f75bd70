"""The content-addressed store: streaming, atomicity, size limits, tamper detection."""
import hashlib
import io
import os

import pytest

from evidence_store import LocalStore, TooLarge


class FailingStream(io.RawIOBase):
    """Delivers some bytes, then the connection drops."""
    def __init__(self):
        self.sent = 0

    def read(self, size=-1):
        if self.sent > 3 * 1024 * 1024:
            raise ConnectionResetError("client went away")
        self.sent += 1024 * 1024
        return b"x" * 1024 * 1024


def test_put_stores_by_sha256_and_deduplicates(tmp_path):
    store = LocalStore(str(tmp_path))
    data = b"%PDF-1.7 access review"
    first = store.put(io.BytesIO(data))
    second = store.put(io.BytesIO(data))
    assert first.sha256 == second.sha256 == hashlib.sha256(data).hexdigest()
    assert first.size == len(data) and first.head.startswith(b"%PDF")
    with store.open(first.sha256) as handle:
        assert handle.read() == data
    assert list(store.all_hashes()) == [first.sha256]


def test_crash_mid_upload_leaves_no_file(tmp_path):
    store = LocalStore(str(tmp_path))
    with pytest.raises(ConnectionResetError):
        store.put(FailingStream())
    assert list(store.all_hashes()) == []
    assert os.listdir(tmp_path / "tmp") == []


def test_too_large_stores_nothing(tmp_path):
    store = LocalStore(str(tmp_path))
    with pytest.raises(TooLarge):
        store.put(io.BytesIO(b"a" * 2048), max_bytes=1024)
    assert list(store.all_hashes()) == [] and os.listdir(tmp_path / "tmp") == []


def test_tampering_shows_in_rehash(tmp_path):
    store = LocalStore(str(tmp_path))
    stored = store.put(io.BytesIO(b"original"))
    with open(store.path_for(stored.sha256), "wb") as handle:
        handle.write(b"altered")
    assert store.rehash(stored.sha256) != stored.sha256
    assert store.rehash("0" * 64) is None


@pytest.mark.parametrize("bad", ["../../etc/passwd", "abc", "G" * 64])
def test_paths_come_only_from_hashes(tmp_path, bad):
    with pytest.raises(ValueError):
        LocalStore(str(tmp_path)).path_for(bad)
