"""Bad JSON never reaches a view (SPEC §7), in one place for every API route.

- Bodies of API requests other than multipart uploads are capped at ``JSON_LIMIT`` (1 MiB): a larger
  Content-Length is refused with 413 before anything is read, and a chunked body is read through a
  stream that stops with 413 at the limit (the request class below gives Werkzeug the limit, so every
  reader of the body — ``get_json``, ``form``, ``get_data`` — is bounded). Multipart uploads keep
  ``MAX_CONTENT_LENGTH`` (``MAX_UPLOAD_MB``), enforced by the upload route while it streams.
- JSON is parsed by ``SafeJSONProvider``: nesting deeper than the parser can follow (100,000 ``[``) is a
  400, not a RecursionError; a string with a lone surrogate (``"\\ud800"``), which no database or UTF-8
  encoder accepts, is a 422 naming where it is; a NUL character is a 422 too; invalid UTF-8 is a 400.
- ``NaN``, ``Infinity`` and ``-Infinity`` (which Python's parser accepts though JSON has no such thing) and
  numbers too large for a double (``1e999``) are a 422: no field of the API takes a non-finite number.
"""
from __future__ import annotations

import json
import math
from typing import Any

from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

from domain.errors import DomainError, ValidationError

JSON_LIMIT = 1024 * 1024
MAX_DEPTH = 64  # far beyond any body the API accepts; deeper is refused even when the parser could follow it


class ApiRequest(Request):
    """API bodies other than multipart are bounded by JSON_LIMIT.

    Werkzeug is given one byte more than the limit: with a Content-Length beyond it, it refuses (413) before
    reading anything; a chunked body it reads through a stream that stops there, and silently truncates, so
    ``get_data`` turns a body that reached the extra byte into the 413 (never a truncated body)."""

    def body_is_bounded(self) -> bool:
        return (self._max_content_length is None and self.path.startswith("/api/")
                and self.mimetype != "multipart/form-data")

    @property
    def max_content_length(self) -> int | None:
        if self.body_is_bounded():
            return JSON_LIMIT + 1
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:  # a view may choose its own limit (Flask 3.1)
        self._max_content_length = value

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        data = super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        if self.body_is_bounded() and len(data) > JSON_LIMIT:
            raise RequestEntityTooLarge()
        return data.decode(errors="replace") if as_text else data


def body_limit_message() -> str | None:
    """The 413 message when the JSON limit (not the upload limit) was the one passed."""
    if isinstance(request, ApiRequest) and request.body_is_bounded():
        return f"request body larger than the {JSON_LIMIT // (1024 * 1024)} MB limit for JSON"
    return None


class SafeJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if isinstance(s, bytes):
            try:
                s = s.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DomainError(f"the JSON body is not valid UTF-8 (byte {exc.start})") from None
        try:
            data = json.loads(s, parse_constant=_non_finite, parse_float=_finite_float, **kwargs)
        except RecursionError:
            raise DomainError(f"the JSON body is nested too deeply (at most {MAX_DEPTH} levels)") from None
        check_json_value(data)
        return data


def _non_finite(name: str) -> float:
    raise ValidationError(f"{name} is not a number the API accepts (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValidationError(f"{text[:40]} is too large a number")
    return value


def check_json_value(data: Any) -> None:
    """Refuse lone surrogates (422, with the path of the value) and nesting deeper than MAX_DEPTH (400).

    Iterative, so that a value the parser accepted cannot exhaust the stack here either."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DomainError(f"the JSON body is nested too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(value, str):
            _check_text(value, path or "body")
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"{path}.{key!a}" if path else ascii(key))
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:  # PostgreSQL refuses text with NUL: refused here for every route, 422 like other bad text
        raise ValidationError(f"{path} contains a NUL character, which is not allowed", field=path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{path} contains a lone surrogate (\\ud800–\\udfff without its pair), "
                              "which is not valid Unicode text", field=path) from None


def init_app(app: Flask) -> None:
    app.request_class = ApiRequest
    app.json = SafeJSONProvider(app)
