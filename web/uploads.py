"""Streaming multipart uploads, shared by the API route and the upload page (one copy on disk).

Werkzeug's own form parser spools every file part over 500 KiB to a temporary file, and ``save()`` then
copies it again. ``parse_upload`` reads the request body itself with ``werkzeug.sansio.multipart`` and
writes each ``file`` part straight into a temporary file of the evidence store while hashing it
(``evidence_store.Staging``), so memory stays flat and the bytes are written once; the service later
renames the file to its content address. ``MAX_UPLOAD_MB`` is enforced while streaming, on all the files of
one upload together, chunked bodies included (413, temporary files removed).

Views that take uploads are marked ``@streamed_upload``: nothing may read ``request.form`` before them
(Flask-WTF's CSRF check and the NUL guard would make Werkzeug parse and spool the body), so the CSRF token
of a session-authenticated upload is checked here instead, from the ``X-CSRFToken`` header or a
``csrf_token`` field that comes before the file, before a single file byte is stored.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.datastructures import MultiDict
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from wtforms.validators import ValidationError as CSRFInvalid

import evidence_store
from domain.errors import DomainError, ValidationError
from domain.evidence import safe_filename
from services.evidence.evidence import TooLarge, Upload
from web.security import csrf

READ_SIZE = 1024 * 1024
MAX_FIELD = 64 * 1024  # one text field
MAX_FIELDS_TOTAL = 1024 * 1024
MAX_PARTS = 100
CSRF_HEADERS = ("X-CSRFToken", "X-CSRF-Token")


def streamed_upload(view: Callable) -> Callable:
    """Mark a view that parses its own multipart body with ``parse_upload`` (CSRF is checked there)."""
    view.streams_upload = True
    return csrf.exempt(view)


@dataclass
class UploadForm:
    fields: MultiDict = field(default_factory=MultiDict)
    files: list[Upload] = field(default_factory=list)

    def discard(self) -> None:
        for item in self.files:
            item.staged.discard()


def max_upload_bytes() -> int:
    return int(current_app.config["MAX_UPLOAD_MB"]) * 1024 * 1024


def parse_upload(*, require_csrf: bool, max_files: int | None = None, file_field: str = "file") -> UploadForm:
    """Parse the request's multipart body: text fields into ``fields``, each ``file_field`` part into the
    evidence store's temporary files (finished and fsynced), all of them together within MAX_UPLOAD_MB. Every
    error discards what was staged.

    400: not multipart, malformed, a NUL or invalid UTF-8 in a field or file name, a missing or bad CSRF
    token (``require_csrf``); 413: a file over MAX_UPLOAD_MB or a body over MAX_CONTENT_LENGTH; 422: more
    file parts than ``max_files`` or a file in another field.
    """
    boundary = request.mimetype_params.get("boundary", "") if request.mimetype == "multipart/form-data" else ""
    if not boundary:
        raise DomainError("expected a multipart/form-data body with a boundary", field=file_field)
    form = UploadForm()
    try:
        _Parser(form, boundary.encode("latin-1"), require_csrf, max_files, file_field).run()
    except BaseException:
        form.discard()
        raise
    return form


class _Parser:
    def __init__(self, form: UploadForm, boundary: bytes, require_csrf: bool, max_files: int | None,
                 file_field: str):
        self.form, self.require_csrf, self.max_files, self.file_field = form, require_csrf, max_files, file_field
        self.decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
        self.store = evidence_store.get_store()
        self.max_bytes = max_upload_bytes()
        self.csrf_checked = not require_csrf
        self.field_name: str | None = None
        self.field_value = bytearray()
        self.fields_total = 0
        self.staging: evidence_store.Staging | None = None

    def run(self) -> None:
        stream = request.stream
        while True:
            try:
                event = self.decoder.next_event()
            except ValueError:
                raise DomainError("malformed multipart body") from None
            if isinstance(event, NeedData):
                if self.decoder.complete:
                    raise DomainError("the multipart body ended early")
                chunk = stream.read(READ_SIZE)
                self.decoder.receive_data(chunk or None)
            elif isinstance(event, Data):
                self.data(event.data, event.more_data)
            elif isinstance(event, File):
                self.start_file(event.name, event.filename)
            elif isinstance(event, Field):
                if "\x00" in event.name:
                    raise DomainError("a form field name contains a NUL character")
                self.field_name, self.field_value = event.name, bytearray()
            elif isinstance(event, Epilogue):
                self.check_csrf()
                return

    def data(self, data: bytes, more: bool) -> None:
        if self.staging is not None:
            try:
                self.staging.write(data)
            except evidence_store.TooLarge:
                what = "the file is" if len(self.form.files) == 1 else "the files together are"
                raise TooLarge(f"{what} larger than the {current_app.config['MAX_UPLOAD_MB']} MB limit",
                               field=self.file_field) from None
            if not more:
                self.staging.finish()
                self.staging = None
            return
        self.field_value += data
        self.fields_total += len(data)
        if len(self.field_value) > MAX_FIELD or self.fields_total > MAX_FIELDS_TOTAL:
            raise TooLarge(f"form field {self.field_name!r} is too long", field=self.field_name)
        if not more:
            self.form.fields.add(self.field_name, _text(bytes(self.field_value), self.field_name))

    def start_file(self, name: str, filename: str) -> None:
        self.check_csrf()
        if name != self.file_field:
            raise ValidationError(f"unexpected file field {name!r}: send files as {self.file_field!r}", field=name)
        if self.max_files is not None and len(self.form.files) >= self.max_files:
            raise ValidationError(f"send at most {self.max_files} file(s) per request", field=name)
        if "\x00" in (filename or ""):
            raise DomainError("the file name contains a NUL character", field=name)
        safe_filename(filename or "")  # a bad name is refused before any byte of its file is stored
        # MAX_UPLOAD_MB bounds the whole upload: each file may take what the files before it left
        self.staging = self.store.staging(self.max_bytes - sum(item.staged.size for item in self.form.files))
        self.form.files.append(Upload(filename or "", self.staging))
        self.field_name = None

    def check_csrf(self) -> None:
        """Once, before the first file byte (or at the end of a body without files)."""
        if self.csrf_checked:
            return
        token = next((request.headers[h] for h in CSRF_HEADERS if request.headers.get(h)), None) \
            or self.form.fields.get("csrf_token")
        try:
            validate_csrf(token)
        except CSRFInvalid as exc:
            raise CSRFError(exc.args[0] if exc.args else "The CSRF token is missing.") from None
        self.csrf_checked = True


def _text(raw: bytes, what: str) -> str:
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DomainError(f"{what} is not valid UTF-8") from None
    if "\x00" in value:
        raise DomainError(f"{what} contains a NUL character")
    return value


def init_app(app: Flask) -> None:
    """Point the services at EVIDENCE_STORE and sweep temporary files that crashed uploads left behind."""
    store = evidence_store.configure(app.config["EVIDENCE_STORE"])
    store.sweep()
