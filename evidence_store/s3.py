"""The evidence store on an S3-compatible object store (``EVIDENCE_STORE=s3://bucket/prefix``), via boto3.

Objects live under ``<prefix>/ab/cd/<sha256>``, like the local store's files. An upload is hashed while
it streams: a file that fits in one part (8 MiB) is sent once, straight under its hash; a larger one
goes up as a multipart upload to ``<prefix>/tmp/<uuid>`` (at most two parts in flight, so memory is
bounded by about 32 MiB whatever the file's size), is then copied server-side to its hash, and the
temporary key removed. A crash or a dropped client aborts the multipart upload: no object ever sits
under a hash it does not have. Identical content is stored once.

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
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO
from urllib.parse import urlparse

import boto3
import botocore.exceptions as bex
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from . import CHUNK, SWEEP_AGE, Stored, StoreError, StoreUnavailable, TooLarge

PART = 8 * 1024 * 1024
SNIFF = 1024 * 1024  # bytes kept from each end of an upload for content-type detection
IN_FLIGHT = 2  # parts being sent at once, besides the one filling: memory is about (IN_FLIGHT + 2) parts
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
UNREACHABLE = (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError,
               bex.ConnectionClosedError)
REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"}
COPY = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024,
                      max_concurrency=IN_FLIGHT)


_sessions: dict[int, boto3.session.Session] = {}
_sessions_lock = threading.Lock()


def _code(exc: bex.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Store:
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
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
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

    def put(self, stream: BinaryIO, max_bytes: int | None = None) -> Stored:
        """Store a stream; returns its hash and size. Raises TooLarge past ``max_bytes``."""
        staged = self.staging(max_bytes)
        try:
            while chunk := stream.read(CHUNK):
                staged.write(chunk)
            stored = staged.finish()
            staged.promote()
            return stored
        finally:
            staged.discard()  # nothing left once promoted; an abort otherwise

    def _place(self, temporary: str, sha256: str) -> None:
        """Move a completed temporary object under its hash (server-side copy), unless already there."""
        final = self.key_for(sha256)
        if not self.exists(sha256):
            self.client.copy({"Bucket": self.bucket, "Key": temporary}, self.bucket, final, Config=COPY)
        self.client.delete_object(Bucket=self.bucket, Key=temporary)

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
        """The stored bytes as a stream (read in chunks; close it). FileNotFoundError if absent."""
        with self._errors():
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256))["Body"]
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
                    if len(name) == 64 and _hex(name) and item["Key"] == self.key_for(name):
                        yield name

    def is_empty(self) -> bool:
        return next(iter(self.all_hashes()), None) is None

    def temporary_files(self) -> list[str]:
        """Keys of temporary objects and of unfinished multipart uploads (crashed or running uploads)."""
        with self._errors():
            listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key("tmp") + "/")
            uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self._key("tmp") + "/")
        return [o["Key"] for o in listed.get("Contents", [])] + [u["Key"] for u in uploads.get("Uploads", [])]

    def sweep(self, max_age: float = SWEEP_AGE, now: float | None = None) -> list[str]:
        """Remove temporary objects and abort multipart uploads older than ``max_age`` seconds (processes on
        other machines share the bucket, so age is the only sign an upload was abandoned)."""
        cutoff = (time.time() if now is None else now) - max_age
        removed = []
        with self._errors():
            tmp = self._key("tmp") + "/"
            for item in self.client.list_objects_v2(Bucket=self.bucket, Prefix=tmp).get("Contents", []):
                if item["LastModified"].timestamp() < cutoff:
                    self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    removed.append(item["Key"])
            for upload in self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=tmp).get("Uploads", []):
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

    ``finish()`` completes the upload (durable) and writes a small local *sniff file* for content-type
    detection: the file's first and last MiB at their offsets in a sparse file of the right size, which is
    what libmagic and a ZIP reader (its central directory is at the end) look at; ``path`` names it.
    ``promote()`` places the object under its hash (server-side copy, then the temporary key removed),
    called just before the evidence row commits; ``discard()`` aborts or deletes whatever is temporary."""

    def __init__(self, store: S3Store, max_bytes: int | None = None):
        self.store, self.max_bytes = store, max_bytes
        self._digest, self._buffer, self._first, self._tail = hashlib.sha256(), bytearray(), bytearray(), bytearray()
        self._upload: _Multipart | None = None
        self._promoted = False
        self.size, self.head, self.sha256, self.path = 0, b"", "", ""

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.discard()
            raise TooLarge(f"larger than {self.max_bytes} bytes")
        if len(self.head) < 8192:
            self.head += bytes(chunk[:8192 - len(self.head)])
        if len(self._first) < SNIFF:
            self._first += chunk[:SNIFF - len(self._first)]
        self._tail += chunk
        if len(self._tail) > SNIFF:
            del self._tail[:len(self._tail) - SNIFF]
        self._digest.update(chunk)
        self._buffer += chunk
        if len(self._buffer) >= PART:
            self._upload = self._upload or _Multipart(self.store)
            with memoryview(self._buffer) as view:
                part = bytes(view[:PART])  # one copy, handed to the sending thread
            del self._buffer[:PART]
            self._upload.send(part)

    def finish(self) -> Stored:
        self.sha256 = self._digest.hexdigest()
        if self._upload is not None:
            if self._buffer:
                self._upload.send(bytes(self._buffer))
                self._buffer = bytearray()
            self._upload.complete()
        self._write_sniff_file()
        return Stored(self.sha256, self.size, self.head)

    def _write_sniff_file(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="attest-sniff-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._first)
            if self.size > len(self._first):  # the tail may overlap the head: the same bytes either way
                handle.seek(self.size - len(self._tail))
                handle.write(self._tail)
        self._first, self._tail = bytearray(), bytearray()

    def promote(self) -> str:
        """Place the finished upload under its content address (an identical object already there is kept)."""
        if not self._promoted:
            with self.store._errors():
                if self._upload is not None:
                    self.store._place(self._upload.key, self.sha256)
                elif not self.store.exists(self.sha256):
                    self.store.client.put_object(Bucket=self.store.bucket, Key=self.store.key_for(self.sha256),
                                                 Body=bytes(self._buffer))
            self._promoted, self._buffer = True, bytearray()
            self._remove_sniff_file()
        return self.store.key_for(self.sha256)

    def discard(self) -> None:
        if not self._promoted and self._upload is not None:
            self._upload.abort()
            self._upload = None
        self._buffer = bytearray()
        self._remove_sniff_file()

    def _remove_sniff_file(self) -> None:
        if self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _hex(name: str) -> bool:
    return all(c in "0123456789abcdef" for c in name)


class _Multipart:
    """One multipart upload to a temporary key, its parts sent from a small thread pool (bounded)."""

    def __init__(self, store: S3Store):
        self.store, self.key = store, store._key("tmp", uuid.uuid4().hex)
        with store._errors():
            self.upload_id = store.client.create_multipart_upload(Bucket=store.bucket, Key=self.key)["UploadId"]
        self.pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="s3-part")
        self.slots = threading.BoundedSemaphore(IN_FLIGHT)
        self.parts: list[Future] = []

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

    def complete(self) -> None:
        parts = [future.result() for future in self.parts]
        self.pool.shutdown()
        self.store.client.complete_multipart_upload(Bucket=self.store.bucket, Key=self.key,
                                                    UploadId=self.upload_id, MultipartUpload={"Parts": parts})
        self.upload_id = None

    def abort(self) -> None:
        """Best effort: the temporary upload or object goes; a store that is down keeps a stray tmp/ key."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):
            if self.upload_id:
                self.store.client.abort_multipart_upload(Bucket=self.store.bucket, Key=self.key,
                                                         UploadId=self.upload_id)
            else:
                self.store.client.delete_object(Bucket=self.store.bucket, Key=self.key)
