"""Content-addressed evidence storage: the local file system (this module) or S3 (``evidence_store.s3``).

``open_store(url)`` picks the backend from ``EVIDENCE_STORE``: a directory path (the embedded default) or
``s3://bucket/prefix``. Both offer the same interface (``ContentStore``, which holds what they share): ``put``,
``exists``, ``open``, ``rehash``, ``all_hashes``, ``is_empty``, ``check`` and ``describe``.

Local files are stored once per SHA-256 under ``<root>/ab/cd/<sha256>``. An upload streams to a
temporary file in the same directory tree while it is hashed (memory does not grow with
file size), is fsynced, then renamed into place atomically: a crash mid-upload leaves at
most a stray temporary file, never a partial file under a real hash.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1024 * 1024
TEMP_SUFFIX = ".part"
SWEEP_AGE = 15 * 60  # a temporary file this old is abandoned, whoever made it


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


def is_sha256(text: str) -> bool:
    """A SHA-256 hex digest: the only names a store makes paths or keys of."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def checked_sha256(text: str) -> str:
    """``text`` if it is a SHA-256 hex digest; ValueError if not."""
    if not is_sha256(text):
        raise ValueError("not a SHA-256 hex digest")
    return text


class ContentStore(ABC):
    """What both backends do the same way, on top of what each does its own way (``staging``, ``all_hashes``)."""

    @abstractmethod
    def staging(self, max_bytes: int | None = None): ...

    @abstractmethod
    def all_hashes(self) -> Iterator[str]: ...

    def put(self, stream: BinaryIO, max_bytes: int | None = None) -> Stored:
        """Store a stream; returns its hash and size. Raises TooLarge past ``max_bytes``; on any failure the
        upload is discarded (nothing stays under a hash, nothing temporary is left)."""
        staged = self.staging(max_bytes)
        try:
            while chunk := stream.read(CHUNK):
                staged.write(chunk)
            stored = staged.finish()
            staged.promote()
            return stored
        except BaseException:
            staged.discard()
            raise

    def is_empty(self) -> bool:
        return next(iter(self.all_hashes()), None) is None


class Staging:
    """One upload being written: bytes go straight to a temporary file of the store while they are hashed
    and counted (no second copy, memory flat). ``finish()`` makes the bytes durable (fsync); ``promote()``
    then renames the file to its content address, atomically, and is called only when the evidence row is
    about to be committed; ``discard()`` removes the temporary file (any error, a crash leaves it for
    ``sweep``). The file name carries the writer's process id so a sweep can tell live uploads from dead."""

    def __init__(self, store: "LocalStore", max_bytes: int | None = None):
        self.store, self.max_bytes = store, max_bytes
        fd, self.path = tempfile.mkstemp(dir=store.tmp_dir, prefix=f"{os.getpid()}-", suffix=TEMP_SUFFIX)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.sha256 = ""

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.discard()
            raise TooLarge(f"larger than {self.max_bytes} bytes")
        if len(self.head) < 8192:
            self.head += bytes(chunk[:8192 - len(self.head)])
        self._digest.update(chunk)
        self._file.write(chunk)

    def finish(self) -> Stored:
        """All bytes are in: fsync the temporary file and return its hash and size."""
        os.fsync(self._file.fileno())
        self._file.close()
        self.sha256 = self._digest.hexdigest()
        return Stored(self.sha256, self.size, self.head)

    def promote(self) -> str:
        """Move the finished file to its content address (an identical file already there is kept)."""
        final = self.store.path_for(self.sha256)
        directory = os.path.dirname(final)
        os.makedirs(directory, exist_ok=True)
        if os.path.exists(final):
            os.unlink(self.path)
        else:
            os.replace(self.path, final)
            _fsync_directory(directory)
        return final

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _fsync_directory(path: str) -> None:
    """Make a rename durable: fsync the directory that holds the new name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    """Is the process running? A zombie is not: a killed worker whose parent died stays one until PID 1 reaps
    it, which in a container may be never, and kill(pid, 0) still succeeds on it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]  # the field after "(command name)"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): trust kill()
    return state not in (b"Z", b"X")


class LocalStore(ContentStore):
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.tmp_dir = os.path.join(self.root, "tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)

    def staging(self, max_bytes: int | None = None) -> Staging:
        """A new upload's temporary file (see ``Staging``)."""
        return Staging(self, max_bytes)

    def temporary_files(self) -> list[str]:
        return [os.path.join(self.tmp_dir, name) for name in os.listdir(self.tmp_dir)]

    def sweep(self, max_age: float = SWEEP_AGE, now: float | None = None) -> list[str]:
        """Remove temporary files left by crashed uploads: those whose writer process is gone, and any older
        than ``max_age`` seconds. Several processes share a store, so a young file of a live process stays."""
        now = time.time() if now is None else now
        removed = []
        for path in self.temporary_files():
            pid_text = os.path.basename(path).split("-", 1)[0]
            try:
                age = now - os.stat(path).st_mtime
            except FileNotFoundError:
                continue
            dead = pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text))
            if dead or age > max_age:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed.append(path)
        return removed

    def path_for(self, sha256: str) -> str:
        checked_sha256(sha256)
        return os.path.join(self.root, sha256[:2], sha256[2:4], sha256)

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

    def check(self) -> None:
        """Raise StoreError unless a file can be written here now (health checks, start-up)."""
        try:
            with tempfile.NamedTemporaryFile(dir=os.path.join(self.root, "tmp"), prefix="health-"):
                pass
        except OSError as exc:
            raise StoreError(f"evidence store {self.root} is not writable: {exc.strerror}") from None

    def describe(self) -> str:
        return self.root


def open_store(url: str) -> ContentStore:
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


_stores: dict[tuple[int, str], ContentStore] = {}
_configured: list[str] = []


def configure(url: str) -> ContentStore:
    """Set the store the services use (the app calls this with EVIDENCE_STORE at start-up)."""
    _configured[:] = [url]
    return get_store(url)


def get_store(url: str | None = None) -> ContentStore:
    """The store at ``url`` (default: the configured one), one instance per URL and process (a forked
    worker must not share its parent's S3 connections)."""
    url = url or (_configured[0] if _configured else None)
    if url is None:
        raise RuntimeError("no evidence store configured (EVIDENCE_STORE)")
    key = (os.getpid(), url)
    if key not in _stores:
        _stores[key] = open_store(url)
    return _stores[key]
