"""Signed webhooks (SPEC §10): an organisation's admin subscribes an HTTPS endpoint to events; each event
writes one outbox row per subscribed endpoint **in the transaction of the change** (``emit``), and the
scheduler pass delivers them (``deliver_pending``), never a web request.

Delivery follows the Standard Webhooks specification: the body is JSON ``{"type", "timestamp", "data"}``, the
headers ``webhook-id`` (the same on every retry of one delivery, so a receiver can drop duplicates),
``webhook-timestamp`` and ``webhook-signature`` (``v1,`` + HMAC-SHA256, made by the ``standardwebhooks``
library). At least once: a 2xx marks a delivery done; anything else is retried on the schedule the
specification suggests (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: a day and a bit), each attempt logged.

Server-side request forgery: an endpoint must be ``https://`` on a name that resolves only to public
addresses; the name is resolved again at each send, the addresses checked again, and the request goes to
the checked address (with the name as ``Host`` and for TLS), so a name re-pointed at a private address after
subscription is refused too. ``WEBHOOK_ALLOW_PRIVATE`` lifts both rules (the tests' receivers are on
loopback).

Payloads say what happened and link to it, with identifiers and a title only: the organisation is a party
to the engagement and reads all of it, and regulatory clocks, which notify the client only, reach the
client's endpoints only.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import hashlib
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3
from standardwebhooks import Webhook

from domain.errors import Conflict, NotFound, ValidationError
from models import Engagement, User, WebhookAttempt, WebhookDelivery, WebhookEndpoint, db, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.messages.mail import link

from .crypto import decrypt, encrypt, settings

log = logging.getLogger("attest.webhooks")

EVENTS = ("evidence.submitted", "evidence.reviewed", "request.overdue", "clock.warning", "clock.breached",
          "finding.raised", "finding.changed", "kpi.missed", "pack.ready", "meeting.scheduled")
TEST_EVENT = "webhook.test"
BOTH = ("client", "provider")
MAX_ENDPOINTS = 20
MAX_URL = 2000
BATCH = 50
CHUNK = 200  # outbox rows per INSERT of emit_many
SENDERS = 8  # threads sending one batch's requests
RETRY_AFTER = (dt.timedelta(seconds=5), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2),
               dt.timedelta(hours=5), dt.timedelta(hours=10), dt.timedelta(hours=10))
MAX_ATTEMPTS = len(RETRY_AFTER) + 1
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 10.0
ROTATION_OVERLAP = dt.timedelta(hours=24)  # a rotated secret still signs this long
RETENTION = dt.timedelta(days=30)  # a delivery (and its attempts) is kept this long after its final state
PURGE_BATCH = 500
LEASE = dt.timedelta(seconds=BATCH * (CONNECT_TIMEOUT + READ_TIMEOUT) + 60)


class RefusedAddress(ValueError):
    """The endpoint's name resolves to an address webhooks may not reach (or to none)."""


# ------------------------------------------------------------------------------------------ addresses

def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _parse(url: object) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable endpoint URL; ValidationError otherwise."""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL or any(c.isspace() for c in url.strip()):
        raise ValidationError(f"url must be an https:// address of at most {MAX_URL} characters", field="url")
    parts = urlsplit(url.strip())
    schemes = ("https", "http") if settings.allow_private else ("https",)
    try:
        port = parts.port
    except ValueError:
        raise ValidationError("url has an invalid port", field="url") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ValidationError("url must be an https:// address", field="url")
    if parts.username or parts.password:
        raise ValidationError("url must not carry a user name or password; sign with the secret instead",
                              field="url")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, each checked; RefusedAddress when none, or any is not public
    (unless WEBHOOK_ALLOW_PRIVATE)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RefusedAddress(f"{host} does not resolve ({exc})") from None
    # IPv4 first: a host without an IPv6 route would otherwise fail on a name that has both
    addresses = sorted(dict.fromkeys(info[4][0] for info in infos), key=lambda a: ":" in a)
    if not addresses:
        raise RefusedAddress(f"{host} does not resolve")
    if not settings.allow_private:
        refused = [a for a in addresses if not _public(a)]
        if refused:
            raise RefusedAddress(f"{host} resolves to {refused[0]}, a private, loopback or link-local address")
    return addresses


# ------------------------------------------------------------------------------------------ subscriptions

def clean_events(events: object) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ValidationError(f"events must be a non-empty list of: {', '.join(EVENTS)}", field="events")
    unknown = sorted({e for e in events if e not in EVENTS})
    if unknown:
        raise ValidationError(f"unknown events {unknown}; choose from: {', '.join(EVENTS)}", field="events")
    return [e for e in EVENTS if e in events]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create(admin: User, url: object, events: object, *, ip: str = "") -> tuple[WebhookEndpoint, str]:
    """Subscribe an endpoint of the admin's organisation; returns it and its signing secret (shown once).
    A refused address is recorded in the audit trail and changes nothing else."""
    scope.require_user_admin(admin)
    chosen = clean_events(events)
    scheme, host, port = _parse(url)
    try:
        resolve(host, port)
    except RefusedAddress as exc:
        with transaction():
            audit_log.record("webhook.refused", actor=admin, object_type="organisation",
                             object_id=admin.organisation_id, ip=ip, details={"url": str(url)[:300], "why": str(exc)})
        raise ValidationError(f"url refused: {exc}", field="url") from None
    secret = new_secret()
    with transaction():
        live = scope.webhooks_for(admin)
        if live.where(WebhookEndpoint.url == url.strip()).exists():
            raise Conflict("this organisation already has a webhook for that url; delete it first", field="url")
        if live.count() >= MAX_ENDPOINTS:
            raise Conflict(f"at most {MAX_ENDPOINTS} webhooks per organisation; delete one first")
        endpoint = WebhookEndpoint.create(organisation=admin.organisation_id, url=url.strip(), events=" ".join(chosen),
                                          secret_encrypted=encrypt(secret), created_by=admin.id, created_at=utcnow())
        audit_log.record("webhook.create", actor=admin, object_type="webhook", object_id=endpoint.id, ip=ip,
                         details={"url": endpoint.url, "events": chosen})
    return endpoint, secret


def _endpoint(admin: User, endpoint_id: int | str, ip: str) -> WebhookEndpoint:
    """The admin's organisation's live webhook; another organisation's answers exactly like a missing one,
    and the attempt is recorded (a missing one is not)."""
    try:
        return scope.webhook_for(admin, endpoint_id)
    except NotFound:
        key = str(endpoint_id)
        theirs = key.isdigit() and len(key) < 19 and WebhookEndpoint.select().where(
            WebhookEndpoint.id == int(key), WebhookEndpoint.organisation != admin.organisation_id).exists()
        if theirs:
            with transaction():
                audit_log.record("webhook.refused", actor=admin, object_type="webhook", object_id=key, ip=ip,
                                 details={"why": "another organisation's webhook"})
        raise


def delete(admin: User, endpoint_id: int | str, *, ip: str = "") -> WebhookEndpoint:
    """Unsubscribe; its log stays readable to nobody but is kept, its pending deliveries are dropped."""
    endpoint = _endpoint(admin, endpoint_id, ip)  # outside the write: a refusal's record must stay
    with transaction():
        now = utcnow()
        WebhookEndpoint.update(deleted_at=now).where(WebhookEndpoint.id == endpoint.id).execute()
        (WebhookDelivery.update(failed_at=now, last_error="the webhook was deleted")
         .where(WebhookDelivery.endpoint == endpoint.id, WebhookDelivery.delivered_at.is_null(),
                WebhookDelivery.failed_at.is_null()).execute())
        audit_log.record("webhook.delete", actor=admin, object_type="webhook", object_id=endpoint.id, ip=ip,
                         details={"url": endpoint.url})
    return WebhookEndpoint.get_by_id(endpoint.id)


def rotate_secret(admin: User, endpoint_id: int | str, *, ip: str = "") -> tuple[WebhookEndpoint, str]:
    """A new signing secret, returned once. The one it replaces keeps signing alongside it (two signatures in
    ``webhook-signature``) for ``ROTATION_OVERLAP``, so the receiver can switch without refusing a delivery;
    then it is dropped (a second rotation within that time drops it at once). Two rotations at the same time:
    the second is a 409, so no secret shown to an admin is lost."""
    endpoint = _endpoint(admin, endpoint_id, ip)
    secret, now = new_secret(), utcnow()
    with transaction():
        changed = (WebhookEndpoint.update(secret_encrypted=encrypt(secret),
                                          previous_secret_encrypted=endpoint.secret_encrypted,
                                          previous_secret_until=now + ROTATION_OVERLAP)
                   .where(WebhookEndpoint.id == endpoint.id, WebhookEndpoint.deleted_at.is_null(),
                          WebhookEndpoint.secret_encrypted == endpoint.secret_encrypted).execute())
        if not changed:
            raise Conflict("the secret was rotated (or the webhook deleted) meanwhile; reload and try again")
        audit_log.record("webhook.rotate_secret", actor=admin, object_type="webhook", object_id=endpoint.id, ip=ip,
                         details={"url": endpoint.url, "previous_signs_until": (now + ROTATION_OVERLAP).isoformat(
                             timespec="seconds") + "Z"})
    return WebhookEndpoint.get_by_id(endpoint.id), secret


def list_endpoints(admin: User):
    return scope.webhooks_for(admin).order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())


def deliveries(admin: User, endpoint_id: int | str, *, ip: str = ""):
    endpoint = _endpoint(admin, endpoint_id, ip)
    return (WebhookDelivery.select().where(WebhookDelivery.endpoint == endpoint.id)
            .order_by(WebhookDelivery.id.desc()))


def attempts_of(delivery_ids: Iterable[int]) -> dict[int, list[WebhookAttempt]]:
    """Each delivery's attempts, oldest first, in one query."""
    out: dict[int, list[WebhookAttempt]] = {}
    ids = list(delivery_ids)
    if ids:
        for attempt in (WebhookAttempt.select().where(WebhookAttempt.delivery.in_(ids))
                        .order_by(WebhookAttempt.at, WebhookAttempt.id)):
            out.setdefault(attempt.delivery_id, []).append(attempt)
    return out


def send_test(admin: User, endpoint_id: int | str, *, ip: str = "") -> WebhookDelivery:
    """Queue a ``webhook.test`` event to one endpoint (delivered by the next pass, like any other)."""
    endpoint = _endpoint(admin, endpoint_id, ip)
    with transaction():
        now = utcnow()
        body = _body(TEST_EVENT, now, {"title": "Test event from Attest", "url": link("/integrations/webhooks")})
        delivery = WebhookDelivery.create(endpoint=endpoint.id, message_id=f"msg_{uuid.uuid4().hex}",
                                          event=TEST_EVENT, payload=body, created_at=now, next_attempt_at=now)
        audit_log.record("webhook.test", actor=admin, object_type="webhook", object_id=endpoint.id, ip=ip,
                         details={"delivery": delivery.id})
    return delivery


# ------------------------------------------------------------------------------------------ the outbox

def _body(event: str, now: dt.datetime, data: dict) -> str:
    return json.dumps({"type": event, "timestamp": now.isoformat(timespec="seconds") + "Z", "data": data},
                      separators=(",", ":"), sort_keys=True)


def message_id(event: str, object_type: str, object_id: int, occasion: str) -> str:
    """Stable per occurrence: the same event emitted twice (a retried pass) is one delivery."""
    digest = hashlib.sha256(f"{event}|{object_type}|{object_id}|{occasion}".encode()).hexdigest()
    return f"msg_{digest[:40]}"


@dataclass(frozen=True)
class Occurrence:
    """One event about one object of an engagement (see ``emit``)."""
    engagement: Engagement
    object_type: str
    object_id: int
    title: str
    path: str
    occasion: str = ""
    sides: tuple[str, ...] = BOTH
    extra: dict | None = None


def emit(event: str, engagement: Engagement, *, object_type: str, object_id: int, title: str, path: str,
         occasion: str = "", sides: tuple[str, ...] = BOTH, extra: dict | None = None,
         now: dt.datetime | None = None) -> int:
    """Write the outbox rows of one event, inside the caller's transaction: one per live endpoint of the
    engagement's parties (``sides``) subscribed to ``event``. Returns how many; writing twice is a no-op.

    One statement whatever the number of endpoints: the subscribers are selected by the INSERT itself
    (``INSERT … SELECT``), so a web request pays neither a look-up round trip nor a savepoint."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    item = Occurrence(engagement, object_type, object_id, title, path, occasion, sides, extra)
    organisations = sorted(set(_parties(item)))
    if not organisations:
        return 0
    values = _row(event, item, now or utcnow(), utcnow())
    values.pop("endpoint")
    with _write():
        return db.execute_sql(_fan_out_sql(db.obj.param, tuple(values), len(organisations)),
                              [*_params(values), *organisations, f"% {event} %"]).rowcount


def _subscribers(event: str, organisations: set[int]) -> dict[int, list[int]]:
    """organisation -> its live endpoints subscribed to ``event`` (one query)."""
    out: dict[int, list[int]] = {}
    if organisations:
        for endpoint_id, organisation_id, events in (
                WebhookEndpoint.select(WebhookEndpoint.id, WebhookEndpoint.organisation, WebhookEndpoint.events)
                .where(WebhookEndpoint.organisation.in_(sorted(organisations)), WebhookEndpoint.deleted_at.is_null())
                .tuples()):
            if event in events.split():
                out.setdefault(organisation_id, []).append(endpoint_id)
    return out


def _parties(item: Occurrence) -> list[int]:
    return [org for side, org in (("client", item.engagement.client_id), ("provider", item.engagement.provider_id))
            if side in item.sides]


def emit_many(event: str, items: list[Occurrence], *, now: dt.datetime | None = None) -> int:
    """``emit`` for many objects at once (a pass that moved thousands of requests): one look-up of the
    subscribed endpoints and multi-row inserts of ``CHUNK`` rows, whatever the number of objects."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    subscribers = _subscribers(event, {org for item in items for org in _parties(item)})
    if not subscribers:
        return 0
    now, queued = now or utcnow(), utcnow()  # the outbox runs on the clock, whatever instant the event is dated
    rows = []
    for item in items:
        endpoints = [e for org in _parties(item) for e in subscribers.get(org, [])]
        if endpoints:
            row = _row(event, item, now, queued)
            rows += [{**row, "endpoint": e} for e in endpoints]
    written = 0
    with _write():
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i:i + CHUNK]
            written += db.execute_sql(_values_sql(db.obj.param, tuple(chunk[0]), len(chunk)),
                                      [p for row in chunk for p in _params(row)]).rowcount
    return written


def _row(event: str, item: Occurrence, now: dt.datetime, queued: dt.datetime) -> dict:
    """One event's outbox row (its endpoint left to the caller): the payload is serialised once per event,
    whatever the number of endpoints it goes to."""
    data = {"engagement": {"id": item.engagement.id, "name": item.engagement.name},
            "object": {"type": item.object_type, "id": item.object_id}, "title": item.title,
            "url": link(item.path), **(item.extra or {})}
    return {"endpoint": None, "message_id": message_id(event, item.object_type, item.object_id, item.occasion),
            "event": event, "payload": _body(event, now, data), "created_at": queued, "next_attempt_at": queued,
            "attempts": 0, "last_error": ""}


def _write():
    """The caller's transaction when there is one (no savepoint: the statement is atomic by itself), else
    one of its own."""
    return contextlib.nullcontext() if db.in_transaction() else transaction()


def _params(row: dict) -> list:
    return [WebhookDelivery._meta.fields[name].db_value(value) for name, value in row.items()]


def _columns(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{WebhookDelivery._meta.fields[n].column_name}"' for n in names)


@functools.lru_cache(maxsize=64)
def _fan_out_sql(mark: str, names: tuple[str, ...], organisations: int) -> str:
    """INSERT one row per live endpoint of the organisations subscribed to the event (``events`` is a
    space-separated list of names, matched with LIKE ``% name %``: no event name holds ``_`` or ``%``).
    ``mark`` is the driver's parameter mark, part of the cache key."""
    endpoint = WebhookEndpoint._meta
    columns = f'"{WebhookDelivery.endpoint.column_name}", {_columns(names)}'
    return (f'INSERT INTO "{WebhookDelivery._meta.table_name}" ({columns}) '  # noqa: S608 - names only
            f'SELECT e."id", {", ".join([mark] * len(names))} FROM "{endpoint.table_name}" e '
            f'WHERE e."{WebhookEndpoint.organisation.column_name}" IN ({", ".join([mark] * organisations)}) '
            f'AND e."{WebhookEndpoint.deleted_at.column_name}" IS NULL AND (\' \' || e."events" || \' \') LIKE {mark} '
            f'ORDER BY e."id" ON CONFLICT DO NOTHING')


@functools.lru_cache(maxsize=64)
def _values_sql(mark: str, names: tuple[str, ...], rows: int) -> str:
    group = "(" + ", ".join([mark] * len(names)) + ")"
    return (f'INSERT INTO "{WebhookDelivery._meta.table_name}" ({_columns(names)}) '  # noqa: S608 - names only
            f'VALUES {", ".join([group] * rows)} ON CONFLICT DO NOTHING')


# ------------------------------------------------------------------------------------------ delivery

@dataclass
class DeliveryResult:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    statuses: list[int] = field(default_factory=list)

    def describe(self) -> str:
        return f"delivered={self.delivered} retried={self.retried} failed={self.failed}"


def _claimable(now: dt.datetime):
    return (WebhookDelivery.delivered_at.is_null() & WebhookDelivery.failed_at.is_null()
            & (WebhookDelivery.next_attempt_at <= now)
            & (WebhookDelivery.claimed_until.is_null() | (WebhookDelivery.claimed_until < now)))


def claim(limit: int = BATCH, now: dt.datetime | None = None) -> list[WebhookDelivery]:
    """Take up to ``limit`` due deliveries for ``LEASE``, committed before anything is sent; a delivery is
    held by one sender at a time (the conditional UPDATE re-checks it is still free)."""
    now, token = now or utcnow(), uuid.uuid4().hex
    with transaction():
        ids = [i for (i,) in WebhookDelivery.select(WebhookDelivery.id).where(_claimable(now))
               .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit).tuples()]
        if not ids:
            return []
        (WebhookDelivery.update(claim_token=token, claimed_until=now + LEASE, attempts=WebhookDelivery.attempts + 1)
         .where(WebhookDelivery.id.in_(ids), _claimable(now)).execute())
    return list(WebhookDelivery.select(WebhookDelivery, WebhookEndpoint).join(WebhookEndpoint)
                .where(WebhookDelivery.claim_token == token).order_by(WebhookDelivery.id))


@dataclass
class Outcome:
    status: int | None = None
    error: str = ""
    address: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _Pools:
    """urllib3 pools per (scheme, checked address, port, host name), reused within one sending run."""

    def __init__(self) -> None:
        self.pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
        self.lock = threading.Lock()

    def get(self, scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, address, port, host)
        with self.lock:
            return self.pools.get(key) or self._new(key)

    def _new(self, key: tuple) -> urllib3.HTTPConnectionPool:
        scheme, address, port, host = key
        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
        if scheme == "https":
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                address, port, timeout=timeout, retries=False, server_hostname=host, assert_hostname=host,
                cert_reqs="CERT_REQUIRED", ca_certs=settings.ca_bundle or None, maxsize=SENDERS)
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=SENDERS)
        self.pools[key] = pool
        return pool

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The endpoint's secret, and the one it replaced while that still signs (``ROTATION_OVERLAP``)."""
    secrets_ = [decrypt(endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        secrets_.append(decrypt(endpoint.previous_secret_encrypted))
    return secrets_


def headers_for(delivery: WebhookDelivery, secrets_: list[str], now: dt.datetime) -> dict[str, str]:
    """Standard Webhooks headers; ``webhook-signature`` holds one ``v1,…`` per secret, space-separated, as the
    specification allows, so a receiver verifies with either while a rotation is under way."""
    signatures = " ".join(Webhook(secret).sign(delivery.message_id, now, delivery.payload) for secret in secrets_)
    return {"content-type": "application/json", "user-agent": "Attest-Webhooks/1",
            "webhook-id": delivery.message_id, "webhook-timestamp": str(int(now.replace(tzinfo=dt.UTC).timestamp())),
            "webhook-signature": signatures}


def send_one(delivery: WebhookDelivery, pools: _Pools) -> Outcome:
    """One attempt: resolve and check the address again, then POST to that very address."""
    endpoint = delivery.endpoint
    started = time.monotonic()
    outcome = Outcome()
    try:
        scheme, host, port = _parse(endpoint.url)
        address = resolve(host, port)[0]
        outcome.address = address
        parts = urlsplit(endpoint.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        now = utcnow()
        headers = headers_for(delivery, signing_secrets(endpoint, now), now)
        headers["host"] = host if parts.port is None else f"{host}:{port}"
        response = pools.get(scheme, address, port, host).urlopen(
            "POST", target, body=delivery.payload.encode(), headers=headers, redirect=False,
            preload_content=False, assert_same_host=False)
        try:
            outcome.status = response.status
            if not outcome.ok:
                outcome.error = f"HTTP {response.status}: " + response.read(300, decode_content=False).decode(
                    "utf-8", "replace")
        finally:
            response.release_conn()
    except (RefusedAddress, ValidationError) as exc:
        outcome.error = f"refused: {exc}"
    except RuntimeError as exc:
        outcome.error = str(exc)
    except urllib3.exceptions.SSLError as exc:  # an untrusted or wrong certificate: retried like any failure
        outcome.error = f"TLS: {exc}"[:500]
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:500]
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


def _moved(delivery: WebhookDelivery, outcome: Outcome, now: dt.datetime, result: DeliveryResult) -> dict:
    """The delivery after this attempt: done, tried again later, or given up."""
    changes: dict = {"claimed_until": None, "claim_token": None, "last_status": outcome.status,
                     "last_error": outcome.error[:2000]}
    if outcome.ok:
        changes["delivered_at"] = now
        result.delivered += 1
    elif delivery.attempts >= MAX_ATTEMPTS:
        changes["failed_at"] = now
        result.failed += 1
        log.warning("webhook delivery %s to endpoint %s: giving up after %s attempts: %s", delivery.id,
                    delivery.endpoint_id, delivery.attempts, outcome.error)
    else:
        changes["next_attempt_at"] = now + RETRY_AFTER[delivery.attempts - 1]
        result.retried += 1
    return changes


def _record(attempted: list[tuple[WebhookDelivery, Outcome]], result: DeliveryResult) -> None:
    """Log a batch's attempts and move its deliveries on, in one transaction (a sender that dies before it
    commits leaves them claimed: sent again after the lease, with the same webhook-id)."""
    now = utcnow()
    with transaction():
        WebhookAttempt.insert_many([
            {"delivery": d.id, "at": now, "status_code": o.status, "error": o.error[:2000],
             "duration_ms": o.duration_ms, "address": o.address} for d, o in attempted]).execute()
        for delivery, outcome in attempted:
            (WebhookDelivery.update(_moved(delivery, outcome, now, result))
             .where(WebhookDelivery.id == delivery.id, WebhookDelivery.claim_token == delivery.claim_token).execute())


def _attempt(delivery: WebhookDelivery, pools: _Pools) -> Outcome:
    if delivery.endpoint.deleted_at is not None:
        delivery.attempts = MAX_ATTEMPTS  # nothing to retry
        return Outcome(error="the webhook was deleted")
    return send_one(delivery, pools)


def deliver_pending(*, batches: int = 20, batch: int = BATCH) -> DeliveryResult:
    """What is due, in at most ``batches`` claimed batches. A batch's requests go out on ``SENDERS`` threads
    (no database work there), so one slow endpoint holds one thread for its timeout, not the batch; the
    outcomes are recorded together. The next pass carries on where this one stopped."""
    result, pools = DeliveryResult(), _Pools()
    try:
        with ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook-sender") as executor:
            for _ in range(batches):
                claimed = claim(batch)
                if claimed:
                    outcomes = list(executor.map(lambda d: _attempt(d, pools), claimed))
                    _record(list(zip(claimed, outcomes, strict=True)), result)
                if len(claimed) < batch:
                    break
    finally:
        pools.close()
    return result


# ------------------------------------------------------------------------------------------ housekeeping

def purge(now: dt.datetime) -> Iterator[int]:
    """The scheduler's step: rotated secrets past their overlap are dropped (audited), and deliveries whose
    final state (delivered, or given up) is older than ``RETENTION`` are deleted with their attempts,
    ``PURGE_BATCH`` per transaction; yields each batch's count. Pending deliveries are never touched."""
    _drop_previous_secrets(now)
    cutoff = now - RETENTION
    for final in (WebhookDelivery.delivered_at < cutoff,
                  WebhookDelivery.delivered_at.is_null() & (WebhookDelivery.failed_at < cutoff)):
        while True:
            with transaction():
                ids = [i for (i,) in WebhookDelivery.select(WebhookDelivery.id).where(final)
                       .limit(PURGE_BATCH).tuples()]
                if ids:
                    WebhookAttempt.delete().where(WebhookAttempt.delivery.in_(ids)).execute()
                    WebhookDelivery.delete().where(WebhookDelivery.id.in_(ids)).execute()
            if ids:
                yield len(ids)
            if len(ids) < PURGE_BATCH:
                break


def _drop_previous_secrets(now: dt.datetime) -> None:
    expired = WebhookEndpoint.previous_secret_until <= now
    with transaction():
        for endpoint_id, organisation_id in (WebhookEndpoint.select(WebhookEndpoint.id, WebhookEndpoint.organisation)
                                             .where(expired).tuples()):
            audit_log.record("webhook.previous_secret_dropped", actor_email="scheduler", object_type="webhook",
                             object_id=endpoint_id, details={"organisation": organisation_id})
        WebhookEndpoint.update(previous_secret_encrypted=None, previous_secret_until=None).where(expired).execute()
