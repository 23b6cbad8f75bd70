"""A user's own API tokens: named, the secret shown once, last use recorded, revocable."""
from __future__ import annotations

from domain.errors import Conflict, NotFound
from domain.names import clean_name
from models import ApiToken, User, transaction, utcnow
from services import scope
from services.audit import audit_log

from . import accounts

MAX_ACTIVE = 50


def list_tokens(user: User):
    return scope.tokens_for(user).order_by(ApiToken.revoked_at.is_null(False), ApiToken.created_at.desc(),
                                           ApiToken.id.desc())


def _active(user: User):
    return scope.tokens_for(user).where(ApiToken.revoked_at.is_null())


def create(user: User, name: object, *, ip: str = "", actor_email: str | None = None) -> tuple[ApiToken, str]:
    """A new named token of the user and its secret (shown this once)."""
    name = clean_name(name, "name", limit=100)
    with transaction():
        if _active(user).where(ApiToken.name == name).exists():
            raise Conflict(f"you already have an active token named {name!r}; pick another name", field="name")
        if _active(user).count() >= MAX_ACTIVE:
            raise Conflict(f"at most {MAX_ACTIVE} active tokens; revoke one first")
        row, secret = accounts.issue_token(user, name)
        audit_log.record("token.create", actor=None if actor_email else user, actor_email=actor_email,
                         object_type="token", object_id=row.id, ip=ip, details={"email": user.email, "name": name})
    return row, secret


def revoke(user: User, token_id: int | str, *, ip: str = "") -> ApiToken:
    """Revoke one of the user's own tokens (anyone else's is NotFound); revoking twice changes nothing."""
    with transaction():
        token = scope.token_for(user, token_id)
        if token.revoked_at is None:
            ApiToken.update(revoked_at=utcnow()).where(ApiToken.id == token.id).execute()
            audit_log.record("token.revoke", actor=user, object_type="token", object_id=token.id, ip=ip,
                             details={"email": user.email, "name": token.name})
    return ApiToken.get_by_id(token.id)


def revoke_by_email(email: str, name: str | None = None) -> int:
    """The command line's ``revoke-token --email E [--name N]``: the user's active tokens (of that name)."""
    with transaction():
        user = User.get_or_none(User.email == (email or "").strip().lower())
        if user is None:
            raise NotFound(f"no user {email}")
        query = _active(user)
        if name is not None:
            query = query.where(ApiToken.name == name)
        ids = [t.id for t in query]
        if not ids:
            raise NotFound(f"{user.email} has no active token" + (f" named {name!r}" if name is not None else ""))
        ApiToken.update(revoked_at=utcnow()).where(ApiToken.id.in_(ids)).execute()
        audit_log.record("token.revoke", actor_email="cli", object_type="user", object_id=user.id,
                         details={"email": user.email, "name": name, "tokens": ids})
    return len(ids)
