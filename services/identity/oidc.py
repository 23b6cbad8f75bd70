"""OpenID Connect sign-in: the authorization code flow with PKCE (S256), ``state`` and ``nonce``, through
authlib's OAuth 2 client; the ID token's signature and claims checked with joserfc (no JOSE written here).

The issuer's discovery document and its keys (JWKS) are cached for an hour; a token signed with a key id
the cache does not know makes one fresh fetch of the keys (the IdP rotated them), at most once a minute
per issuer, so a forged ``kid`` cannot make Attest hammer the IdP.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

from models import SsoConfig, SsoFlow, User

from . import sso

HTTP_TIMEOUT = 10
CACHE_SECONDS = 3600
REFRESH_AT_MOST_EVERY = 60
LEEWAY_SECONDS = 60
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
SCOPE = "openid email profile"
_cache: dict[str, tuple[float, object]] = {}
_lock = threading.Lock()


class IdpUnreachable(sso.SsoRefused):
    status = 502
    code = "idp_unreachable"


def _fetch_json(url: str) -> dict:
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise IdpUnreachable(f"the identity provider could not be reached ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise IdpUnreachable("the identity provider answered with something that is not a JSON object")
    return data


def _cached(key: str, load, *, max_age: float = CACHE_SECONDS):
    with _lock:
        hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < max_age:
        return hit[1]
    value = load()
    with _lock:
        _cache[key] = (time.monotonic(), value)
    return value


def discovery(issuer: str) -> dict:
    """The issuer's ``/.well-known/openid-configuration``, whose ``issuer`` must be exactly the one set."""
    def load() -> dict:
        doc = _fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if doc.get("issuer") != issuer:
            raise IdpUnreachable("the discovery document names another issuer")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(name), str):
                raise IdpUnreachable(f"the discovery document has no {name}")
        return doc
    return _cached(f"discovery:{issuer}", load)


def keys(jwks_uri: str, *, refresh: bool = False) -> KeySet:
    def load() -> KeySet:
        try:
            return KeySet.import_key_set(_fetch_json(jwks_uri))
        except (JoseError, ValueError, TypeError, KeyError):
            raise IdpUnreachable("the identity provider's keys (JWKS) cannot be read") from None
    return _cached(f"jwks:{jwks_uri}", load, max_age=REFRESH_AT_MOST_EVERY if refresh else CACHE_SECONDS)


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def begin(config: SsoConfig, *, redirect_uri: str, next_path: str = "", login_hint: str = "",
          test_only: bool = False, ip: str = "") -> tuple[str, str]:
    """The IdP URL to send the browser to, and the ``state`` to bind to the browser's session."""
    doc = discovery(config.issuer)
    state, nonce, verifier = sso.new_secret(), sso.new_secret(), sso.new_secret() + sso.new_secret()
    client = OAuth2Session(config.client_id, redirect_uri=redirect_uri, scope=SCOPE, code_challenge_method="S256")
    extra = {"login_hint": login_hint} if login_hint else {}
    url, _ = client.create_authorization_url(doc["authorization_endpoint"], state=state, nonce=nonce,
                                             code_verifier=verifier, **extra)
    sso.start_flow(config, key=sso.flow_key(state), nonce=nonce, code_verifier=verifier, next_path=next_path,
                   test_only=test_only, ip=ip)
    return url, state


@dataclass(frozen=True)
class Outcome:
    flow: SsoFlow
    user: User | None  # None for a test sign-in
    test: dict | None = None


def finish(*, state: str, code: str, error: str, redirect_uri: str, secret_key: str, ip: str = "",
           iss: str | None = None) -> Outcome:
    """The callback: spend the flow ``state`` names, exchange the code (with the PKCE verifier), check the
    ID token, sign the user in. Every refusal is audited (services.identity.sso.refuse)."""
    flow = sso.spend_flow(sso.flow_key(state or ""), method="oidc", ip=ip)
    config = flow.config
    if iss is not None and iss != config.issuer:  # RFC 9207: the answer of another IdP (mix-up)
        sso.refuse(config, "wrong_issuer", method="oidc", ip=ip, detail=iss[:200],
                   message="The answer came from another identity provider: sign-in refused.")
    if error or not code:
        sso.refuse(config, "idp_error", method="oidc", ip=ip, detail=str(error)[:100],
                   message="The identity provider did not sign you in.")
    doc = discovery(config.issuer)
    client = OAuth2Session(config.client_id, sso.decrypt_secret(config, secret_key), redirect_uri=redirect_uri,
                           scope=SCOPE, token_endpoint_auth_method="client_secret_basic")
    try:
        token = client.fetch_token(doc["token_endpoint"], grant_type="authorization_code", code=code,
                                   code_verifier=flow.code_verifier, timeout=HTTP_TIMEOUT)
    except (OAuth2Error, requests.RequestException, ValueError) as exc:
        sso.refuse(config, "token_exchange", method="oidc", ip=ip, detail=f"{type(exc).__name__}: {exc}"[:300],
                   message="The identity provider refused to exchange the sign-in code.")
    return accept_id_token(flow, token.get("id_token") or "", ip=ip)


def accept_id_token(flow: SsoFlow, id_token: str, *, ip: str = "") -> Outcome:
    """Check the ID token against the flow it answers (signature by the issuer's keys; ``iss``, ``aud``,
    ``exp``, ``iat``, ``nonce``; ``azp`` when several audiences) and complete the sign-in."""
    config = flow.config
    claims = _verified_claims(config, flow, id_token, ip=ip)
    groups = claims.get(config.group_claim, []) if config.group_claim else []
    groups = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
    if claims.get("email_verified") is False:
        sso.refuse(config, "email_unverified", method="oidc", ip=ip, email=str(claims.get("email", "")),
                   message="The identity provider says this e-mail address is not verified.")
    if flow.test_only:
        return Outcome(flow, None, sso.record_test(config, email=str(claims.get("email", "")), groups=groups,
                                                   method="oidc", ip=ip))
    user = sso.complete_sign_in(config, email=claims.get("email"), groups=groups, method="oidc", ip=ip,
                                subject=str(claims.get("sub", "")))
    return Outcome(flow, user)


def _verified_claims(config: SsoConfig, flow: SsoFlow, id_token: str, *, ip: str) -> dict:
    doc = discovery(config.issuer)
    try:
        try:
            token = jwt.decode(id_token, keys(doc["jwks_uri"]), algorithms=ALGORITHMS)
        except (JoseError, ValueError, KeyError):  # perhaps a rotated key: fetch the keys again (rate-limited)
            token = jwt.decode(id_token, keys(doc["jwks_uri"], refresh=True), algorithms=ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS, iss={"essential": True, "value": config.issuer},
            aud={"essential": True, "value": config.client_id}, sub={"essential": True},
            exp={"essential": True}, iat={"essential": True}, nonce={"essential": True, "value": flow.nonce})
        registry.validate(token.claims)
    except ExpiredTokenError:
        sso.refuse(config, "id_token_expired", method="oidc", ip=ip, message="The sign-in has expired: try again.")
    except (JoseError, ValueError, TypeError) as exc:
        sso.refuse(config, "id_token_invalid", method="oidc", ip=ip, detail=f"{type(exc).__name__}: {exc}",
                   message="The identity provider's answer could not be verified: sign-in refused.")
    claims = token.claims
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != config.client_id:
        sso.refuse(config, "id_token_invalid", method="oidc", ip=ip, detail="azp is not this client",
                   message="The identity provider's answer could not be verified: sign-in refused.")
    return claims
