"""The evidence store on an S3-compatible object store (``EVIDENCE_STORE=s3://bucket/prefix``), via boto3.

Every stored file is found under ``<prefix>/ab/cd/<sha256>``, like the local store's files. An upload is
hashed while it streams: a file that fits in one part (8 MiB) is sent once, straight under its hash. A larger
one goes up as a multipart upload to ``<prefix>/blob/<uuid>`` (at most two parts in flight, so memory is
bounded by about 32 MiB whatever the file's size), left *uncompleted* until the evidence row is about to
commit; then the upload is completed and an empty object under the hash names it (metadata ``blob``), written
with ``If-None-Match: *`` so that of two identical uploads exactly one is placed. No server-side copy: on
SeaweedFS a copy re-writes every chunk, about 40 % of a 1 GiB upload's time. A crash, a dropped client or a
rejected file aborts the multipart upload, which never became an object; no hash ever names bytes it does
not have. Identical content is stored once. Objects stored under their hash by earlier versions (the bytes
themselves, no ``blob`` metadata) are read as before.

Configuration: ``S3_ENDPOINT_URL`` (an S3-compatible server such as SeaweedFS or MinIO; unset means
AWS), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` (default us-east-1).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO
from urllib.parse import urlparse

import boto3
import botocore.exceptions as bex
from botocore.config import Config

from . import CHUNK, SWEEP_AGE, ContentStore, Stored, StoreError, StoreUnavailable, TooLarge, checked_sha256, is_sha256

PART = 8 * 1024 * 1024
SNIFF = 1024 * 1024  # bytes kept from each end of an upload for content-type detection
IN_FLIGHT = 2  # parts being sent at once, besides the one filling: memory is about (IN_FLIGHT + 2) parts
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
UNREACHABLE = (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError,
               bex.ConnectionClosedError)
REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"}
POINTER = "blob"  # metadata of the empty object under a hash that names a large upload's blob


_sessions: dict[int, boto3.session.Session] = {}
_sessions_lock = threading.Lock()


def _code(exc: bex.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Store(ContentStore):
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None):
        self.bucket, self.prefix, self.endpoint_url = bucket, prefix.strip("/"), endpoint_url
        # One boto3 session per process (building one loads the service models: slow); clients are made
        # under a lock, since sessions are not thread-safe (the clients themselves are).
        with _sessions_lock:
            session = _sessions.setdefault(os.getpid(), boto3.session.Session())
            self.client = session.client(
                "s3", endpoint_url=endpoint_url, aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or None,
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
                region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                config=Config(s3={"addressing_style": "path"}, connect_timeout=3, read_timeout=60,
                              retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=IN_FLIGHT + 8))

    @classmethod
    def from_url(cls, url: str) -> S3Store:
        parsed = urlparse(url)
        bucket = parsed.netloc
        if parsed.query or parsed.fragment or "@" in bucket or ":" in bucket:
            raise StoreError(f"EVIDENCE_STORE {url!r}: give only s3://bucket/prefix (the endpoint and "
                             "credentials come from S3_ENDPOINT_URL and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
        if not BUCKET_NAME.fullmatch(bucket or "") or ".." in bucket:
            raise StoreError(f"EVIDENCE_STORE {url!r}: {bucket!r} is not a valid S3 bucket name "
                             "(3-63 lower-case letters, digits, dots or hyphens); use s3://bucket/prefix")
        endpoint = (os.environ.get("S3_ENDPOINT_URL") or "").strip() or None
        if endpoint:
            ep = urlparse(endpoint)
            if ep.scheme not in ("http", "https") or not ep.hostname:
                raise StoreError(f"S3_ENDPOINT_URL {endpoint!r} is not an http(s)://host[:port] address")
        return cls(bucket, parsed.path, endpoint)

    # ------------------------------------------------------------------ helpers

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def key_for(self, sha256: str) -> str:
        checked_sha256(sha256)
        return self._key(sha256[:2], sha256[2:4], sha256)

    @contextlib.contextmanager
    def _errors(self):
        """botocore's errors as the store's own: unreachable -> StoreUnavailable, refused -> StoreError."""
        try:
            yield
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"the S3 evidence store {self.describe()} is unreachable: {exc}") from None
        except bex.NoCredentialsError:
            raise StoreError("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
        except bex.ClientError as exc:
            code, status = _code(exc), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in REFUSED or status == 403:
                raise StoreError(f"the S3 evidence store {self.describe()} refused the credentials "
                                 f"(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY): {code}") from None
            if code == "NoSuchBucket":
                raise StoreError(f"the S3 bucket {self.bucket!r} does not exist at {self.describe()}") from None
            if status >= 500:
                raise StoreUnavailable(f"the S3 evidence store {self.describe()} failed: {code}") from None
            raise

    # ------------------------------------------------------------------ the store interface

    def staging(self, max_bytes: int | None = None) -> S3Staging:
        """A new upload (see ``S3Staging``): the same protocol as the local store's ``Staging``."""
        return S3Staging(self, max_bytes)

    def _place(self, upload: _Multipart, sha256: str) -> None:
        """Name a finished multipart upload by its hash: complete it, then write the hash's pointer object,
        unless identical content is already there (the upload is then aborted: stored once)."""
        if self.exists(sha256):
            upload.abort()
            return
        upload.complete()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key_for(sha256), Body=b"",
                                   Metadata={POINTER: upload.key}, IfNoneMatch="*")
        except bex.ClientError as exc:
            if _code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
            self.client.delete_object(Bucket=self.bucket, Key=upload.key)  # the same bytes won a race to the hash

    def exists(self, sha256: str) -> bool:
        with self._errors():
            try:
                self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
                return True
            except bex.ClientError as exc:
                if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes as a stream (read in chunks; close it). FileNotFoundError if absent. A pointer
        under the hash (a large upload's empty object naming its blob) is followed to the blob."""
        with self._errors():
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256))
                blob = answer.get("Metadata", {}).get(POINTER)
                if blob and answer.get("ContentLength") == 0:
                    answer["Body"].close()
                    answer = self.client.get_object(Bucket=self.bucket, Key=blob)
                return answer["Body"]
            except bex.ClientError as exc:
                if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                    raise FileNotFoundError(sha256) from None
                raise

    def rehash(self, sha256: str) -> str | None:
        """The SHA-256 of the stored bytes now (None if the object is missing)."""
        try:
            body = self.open(sha256)
        except FileNotFoundError:
            return None
        digest = hashlib.sha256()
        with self._errors(), contextlib.closing(body):
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def all_hashes(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
                for item in page.get("Contents", ()):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if is_sha256(name) and item["Key"] == self.key_for(name):
                        yield name

    def _uploads(self) -> Iterator[dict]:
        """Unfinished multipart uploads: running or crashed uploads (``tmp/`` from versions that copied)."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        for prefix in ("blob", "tmp"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix) + "/"):
                yield from page.get("Uploads", ())

    def _temporary_objects(self) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key("tmp") + "/"):
            yield from page.get("Contents", ())

    def temporary_files(self) -> list[str]:
        """Keys of temporary objects and of unfinished multipart uploads (crashed or running uploads)."""
        with self._errors():
            return [o["Key"] for o in self._temporary_objects()] + [u["Key"] for u in self._uploads()]

    def sweep(self, max_age: float = SWEEP_AGE, now: float | None = None) -> list[str]:
        """Remove temporary objects and abort multipart uploads older than ``max_age`` seconds (processes on
        other machines share the bucket, so age is the only sign an upload was abandoned)."""
        cutoff = (time.time() if now is None else now) - max_age
        removed = []
        with self._errors():
            for item in list(self._temporary_objects()):
                if item["LastModified"].timestamp() < cutoff:
                    self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    removed.append(item["Key"])
            for upload in list(self._uploads()):
                if upload["Initiated"].timestamp() < cutoff:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                       UploadId=upload["UploadId"])
                    removed.append(upload["Key"])
        return removed

    def check(self) -> None:
        """Raise StoreError/StoreUnavailable unless an object can be written here now."""
        key = self._key("tmp", f"health-{uuid.uuid4().hex}")
        with self._errors():
            try:
                self.client.head_bucket(Bucket=self.bucket)  # first: some servers create buckets on upload
            except bex.ClientError as exc:
                if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
                    raise StoreError(f"the S3 bucket {self.bucket!r} does not exist at {self.describe()}") from None
                raise
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=key)


class S3Staging:
    """One upload being written to S3, hashed as it streams. Parts of 8 MiB go up as a multipart upload to a
    temporary key as soon as they fill (a file under one part stays in memory until ``promote``).

    ``finish()`` waits until every part is stored (durable; the upload stays uncompleted) and writes a small
    local *sniff file* for content-type detection: the file's first and last MiB at their offsets in a sparse
    file of the right size, which is what libmagic and a ZIP reader (its central directory is at the end) look
    at; ``path`` names it. ``promote()`` completes the upload and names it by its hash (no copy), called just
    before the evidence row commits; ``discard()`` aborts whatever is unfinished."""

    def __init__(self, store: S3Store, max_bytes: int | None = None):
        self.store, self.max_bytes = store, max_bytes
        self._digest, self._first = hashlib.sha256(), bytearray()
        self._pending, self._tail = _Chunks(), _Chunks()  # not yet sent; the latest >= SNIFF bytes
        self._upload: _Multipart | None = None
        self._promoted = False
        self.size, self.head, self.sha256, self.path = 0, b"", "", ""

    def write(self, chunk: bytes) -> None:
        """Hash and queue ``chunk``; a full part goes to a sending thread. Chunks are kept as they came
        (read-only views, no copy) until a part is cut from them: one copy of each byte on its way out."""
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.discard()
            raise TooLarge(f"larger than {self.max_bytes} bytes")
        view = memoryview(chunk if isinstance(chunk, bytes) else bytes(chunk))
        if len(self.head) < 8192:
            self.head += bytes(view[:8192 - len(self.head)])
        if len(self._first) < SNIFF:
            self._first += view[:SNIFF - len(self._first)]
        self._tail.add(view)
        self._tail.keep_last(SNIFF)
        self._digest.update(view)
        self._pending.add(view)
        while self._pending.size >= PART:
            self._upload = self._upload or _Multipart(self.store)
            self._upload.send(self._pending.take(PART))

    def finish(self) -> Stored:
        self.sha256 = self._digest.hexdigest()
        if self._upload is not None:
            if self._pending.size:
                self._upload.send(self._pending.take(self._pending.size))
            self._upload.wait()
        self._write_sniff_file()
        return Stored(self.sha256, self.size, self.head)

    def _write_sniff_file(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="attest-sniff-")
        tail = self._tail.take(self._tail.size)[-SNIFF:]
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._first)
            if self.size > len(self._first):  # the tail may overlap the head: the same bytes either way
                handle.seek(self.size - len(tail))
                handle.write(tail)
        self._first, self._tail = bytearray(), _Chunks()

    def promote(self) -> str:
        """Place the finished upload under its content address (an identical object already there is kept)."""
        if not self._promoted:
            with self.store._errors():
                if self._upload is not None:
                    self.store._place(self._upload, self.sha256)
                elif not self.store.exists(self.sha256):
                    self.store.client.put_object(Bucket=self.store.bucket, Key=self.store.key_for(self.sha256),
                                                 Body=self._pending.take(self._pending.size))
            self._promoted, self._pending = True, _Chunks()
            self._remove_sniff_file()
        return self.store.key_for(self.sha256)

    def discard(self) -> None:
        if not self._promoted and self._upload is not None:
            self._upload.abort()
            self._upload = None
        self._pending = _Chunks()
        self._remove_sniff_file()

    def _remove_sniff_file(self) -> None:
        if self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


class _Chunks:
    """A queue of read-only byte views and their total size; ``take`` joins the first n bytes (one copy)."""

    def __init__(self) -> None:
        self.views: deque[memoryview] = deque()
        self.size = 0

    def add(self, view: memoryview) -> None:
        if len(view):
            self.views.append(view)
            self.size += len(view)

    def keep_last(self, n: int) -> None:
        """Drop whole views from the front while the rest still holds at least ``n`` bytes."""
        while self.views and self.size - len(self.views[0]) >= n:
            self.size -= len(self.views.popleft())

    def take(self, n: int) -> bytes:
        out, need = [], n
        while need:
            view = self.views.popleft()
            if len(view) > need:
                self.views.appendleft(view[need:])
                view = view[:need]
            out.append(view)
            need -= len(view)
        self.size -= n
        return b"".join(out)


class _Multipart:
    """One multipart upload to a new ``blob/<uuid>`` key, its parts sent from a small thread pool (bounded)."""

    def __init__(self, store: S3Store):
        self.store, self.key = store, store._key("blob", uuid.uuid4().hex)
        with store._errors():
            self.upload_id = store.client.create_multipart_upload(Bucket=store.bucket, Key=self.key)["UploadId"]
        self.pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="s3-part")
        self.slots = threading.BoundedSemaphore(IN_FLIGHT)
        self.parts: list[Future] = []
        self.done: list[dict] = []

    def send(self, data: bytes) -> None:
        for done in self.parts:
            if done.done() and done.exception():
                raise done.exception()
        self.slots.acquire()
        number = len(self.parts) + 1
        future = self.pool.submit(self._part, number, data)
        future.add_done_callback(lambda _: self.slots.release())
        self.parts.append(future)

    def _part(self, number: int, data: bytes) -> dict:
        with self.store._errors():
            answer = self.store.client.upload_part(Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id,
                                                   PartNumber=number, Body=data)
        return {"ETag": answer["ETag"], "PartNumber": number}

    def wait(self) -> None:
        """Every part stored (the first failure raised); the upload itself is left open."""
        self.done = [future.result() for future in self.parts]
        self.pool.shutdown()

    def complete(self) -> None:
        self.store.client.complete_multipart_upload(Bucket=self.store.bucket, Key=self.key,
                                                    UploadId=self.upload_id, MultipartUpload={"Parts": self.done})
        self.upload_id = None

    def abort(self) -> None:
        """Best effort: the unfinished upload (or its completed blob) goes; a store that is down keeps it for sweep."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):
            if self.upload_id:
                self.store.client.abort_multipart_upload(Bucket=self.store.bucket, Key=self.key,
                                                         UploadId=self.upload_id)
            else:
                self.store.client.delete_object(Bucket=self.store.bucket, Key=self.key)
