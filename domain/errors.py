"""Errors the domain raises; the web layer maps each to an HTTP status and JSON body."""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    """Also what anything outside the caller's scope raises: existence must not leak."""
    status = 404
    code = "not_found"

    def __init__(self, message: str = "not found", **kwargs):
        super().__init__(message, **kwargs)


class AccessEnded(NotFound):
    """An auditor's own grant on the thing asked for has ended: said as such, not as "not found" (it tells the
    auditor only what their grant already told them)."""
    code = "access_ended"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Unauthorised(DomainError):
    status = 401
    code = "unauthorised"
