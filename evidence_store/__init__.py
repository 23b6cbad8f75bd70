"""Content-addressed evidence storage: the local file system (this module) or S3 (``evidence_store.s3``).

``open_store(url)`` picks the backend from ``EVIDENCE_STORE``: a directory path (the embedded default) or
``s3://bucket/prefix``. Both offer the same interface: ``put``, ``exists``, ``open``, ``rehash``,
``all_hashes``, ``is_empty``, ``check`` and ``describe``.

Local files are stored once per SHA-256 under ``<root>/ab/cd/<sha256>``. An upload streams to a
temporary file in the same directory tree while it is hashed (memory does not grow with
file size), is fsynced, then renamed into place atomically: a crash mid-upload leaves at
most a stray temporary file, never a partial file under a real hash.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1024 * 1024


class TooLarge(Exception):
    """The stream went past the size limit; nothing was stored."""


class StoreError(Exception):
    """The store cannot be used as configured (bad URL, missing bucket, refused credentials)."""


class StoreUnavailable(StoreError):
    """The store did not answer (down, unreachable, timed out): try again later (HTTP 503)."""


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    head: bytes  # the first bytes, for content sniffing


class LocalStore:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        os.makedirs(os.path.join(self.root, "tmp"), exist_ok=True)

    def path_for(self, sha256: str) -> str:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
        return os.path.join(self.root, sha256[:2], sha256[2:4], sha256)

    def put(self, stream: BinaryIO, max_bytes: int | None = None) -> Stored:
        """Store a stream; returns its hash and size. Raises TooLarge past ``max_bytes``."""
        digest, size, head = hashlib.sha256(), 0, b""
        fd, tmp_path = tempfile.mkstemp(dir=os.path.join(self.root, "tmp"))
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise TooLarge(f"larger than {max_bytes} bytes")
                    if len(head) < 8192:
                        head += chunk[:8192 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path_for(sha)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            if os.path.exists(final):
                os.unlink(tmp_path)
            else:
                os.replace(tmp_path, final)
            return Stored(sha, size, head)
        except BaseException:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self.path_for(sha256))

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path_for(sha256), "rb")

    def rehash(self, sha256: str) -> str | None:
        """The SHA-256 of the stored bytes now (None if the file is missing)."""
        try:
            with self.open(sha256) as handle:
                digest = hashlib.sha256()
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    digest.update(chunk)
                return digest.hexdigest()
        except FileNotFoundError:
            return None

    def all_hashes(self) -> Iterator[str]:
        for dirpath, _, files in os.walk(self.root):
            if os.path.basename(dirpath) == "tmp":
                continue
            yield from (name for name in files if len(name) == 64)

    def is_empty(self) -> bool:
        return next(iter(self.all_hashes()), None) is None

    def check(self) -> None:
        """Raise StoreError unless a file can be written here now (health checks, start-up)."""
        try:
            with tempfile.NamedTemporaryFile(dir=os.path.join(self.root, "tmp"), prefix="health-"):
                pass
        except OSError as exc:
            raise StoreError(f"evidence store {self.root} is not writable: {exc.strerror}") from None

    def describe(self) -> str:
        return self.root


def open_store(url: str) -> LocalStore:
    """The store ``EVIDENCE_STORE`` names: ``s3://bucket/prefix`` or a local directory (``file://`` optional).
    Raises StoreError with a clear message for a malformed URL; nothing is contacted yet (see ``check``)."""
    url = (url or "").strip()
    if not url:
        raise StoreError("EVIDENCE_STORE is empty: give a directory or s3://bucket/prefix")
    if url.startswith("s3://"):
        from .s3 import S3Store
        return S3Store.from_url(url)
    if url.startswith("file://"):
        url = url[len("file://"):]
    elif "://" in url:
        raise StoreError(f"EVIDENCE_STORE {url!r}: unsupported scheme; use a directory or s3://bucket/prefix")
    return LocalStore(url)
