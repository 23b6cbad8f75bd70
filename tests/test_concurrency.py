"""No 500 under concurrent writes: 16 parallel mixed writes at a real multi-process gunicorn
(4 workers × 2 threads, tests/fixtures/server.py) on the suite's database, SQLite or PostgreSQL. Every answer
is 2xx, 3xx or 4xx as the race decides, every write has its audit event, and the chain verifies."""
from __future__ import annotations

import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from peewee import fn

from models import AuditEvent, Engagement, LoginAttempt
from services.audit import audit_log
from services.demo import files as demo_files
from tests.conftest import PASSWORD

PARALLEL = 16
NEW_ENGAGEMENT = {"provider": "BPO A", "frameworks": ["CPS234"], "place": "NSW", "start_date": "2026-01-01"}
COUNTED = ("engagement.create", "auth.login", "auth.login_failed", "evidence.upload", "evidence.review")


def _audit_counts() -> Counter:
    return Counter(a for (a,) in AuditEvent.select(AuditEvent.action).where(AuditEvent.action.in_(COUNTED)).tuples())


class Shot:
    """One prepared write: ``prepare()`` (sign-in page, CSRF token) runs before the start line, ``fire()`` at it."""

    def __init__(self, kind: str, fire, prepare=None):
        self.kind, self._fire, self._prepare, self.session = kind, fire, prepare, requests.Session()
        self.context: dict = {}

    def prepare(self) -> None:
        if self._prepare:
            self._prepare(self)

    def fire(self) -> tuple[str, int, str]:
        response = self._fire(self)
        return self.kind, response.status_code, response.text[:300]


def _login_page(shot: Shot, base: str) -> None:
    page = shot.session.get(f"{base}/login", timeout=30).text
    shot.context["csrf"] = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _shots(base: str, world, submitted: list[int]) -> list[Shot]:
    admin, reviewer, contributor = world.admin, world.reviewer, world.contributor

    def create(name: str):
        return lambda s: s.session.post(f"{base}/api/v1/engagements", json={**NEW_ENGAGEMENT, "name": name},
                                        headers=world.auth(admin), timeout=60)

    def sign_in(user, password: str):
        return lambda s: s.session.post(f"{base}/login", allow_redirects=False, timeout=60, data={
            "email": user.email, "password": password, "csrf_token": s.context["csrf"]})

    def upload(i: int):
        req = world.request(skip=i)
        return lambda s: s.session.post(
            f"{base}/api/v1/engagements/{world.engagement.id}/evidence", headers=world.auth(contributor), timeout=60,
            data={"request_id": str(req.id), "effective_date": world.today},
            files={"file": (f"review-{i}.pdf", demo_files.pdf(f"Concurrent upload {i}"), "application/pdf")})

    def review(evidence_id: int):
        return lambda s: s.session.post(f"{base}/api/v1/evidence/{evidence_id}/review", timeout=60,
                                        json={"decision": "accept"}, headers=world.auth(reviewer))

    def prepared_login(user, password: str, kind: str) -> Shot:
        return Shot(kind, sign_in(user, password), prepare=lambda s: _login_page(s, base))

    racing = ("Racing engagement", "RACING engagement", "Racing engagement")  # one name, whatever the case
    return ([Shot("create-race", create(name)) for name in racing]
            + [Shot("create", create("Another engagement"))]
            + [prepared_login(u, PASSWORD, "login") for u in (admin, reviewer, contributor)]
            + [prepared_login(u, "not the password", "login-bad") for u in (admin, reviewer, contributor)]
            + [Shot("upload", upload(i)) for i in range(3)]
            + [Shot("review", review(submitted[0]))]
            + [Shot("review-race", review(submitted[1])) for _ in range(2)])


def test_sixteen_parallel_mixed_writes_answer_without_500_and_are_all_audited(gunicorn_server, evidence_world):
    import datetime as dt
    world = evidence_world
    world.today = dt.date.today().isoformat()
    submitted = []
    for i in range(2):  # two items to review, uploaded beforehand
        response = world.upload(world.request(skip=0), data=demo_files.pdf(f"To review {i}"))
        assert response.status_code == 201, response.get_json()
        submitted.append(response.get_json()["id"])
    for user in (world.admin, world.reviewer, world.contributor):
        world.auth(user)  # tokens made before the start line
    shots = _shots(gunicorn_server.url, world, submitted)
    assert len(shots) == PARALLEL
    for shot in shots:
        shot.prepare()
    before, attempts_before = _audit_counts(), LoginAttempt.select().count()
    start = threading.Barrier(PARALLEL)

    def go(shot: Shot):
        start.wait()
        return shot.fire()

    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(go, shots))

    errors = [a for a in answers if a[1] >= 500]
    assert not errors, f"server errors under concurrent writes: {errors}\n{gunicorn_server.log()[-3000:]}"
    by_kind: dict[str, Counter] = {}
    for kind, status, _ in answers:
        by_kind.setdefault(kind, Counter())[status] += 1
    assert by_kind == {
        "create-race": Counter({201: 1, 409: 2}), "create": Counter({201: 1}),
        "login": Counter({302: 3}), "login-bad": Counter({401: 3}),
        "upload": Counter({201: 3}), "review": Counter({200: 1}), "review-race": Counter({200: 1, 409: 1}),
    }, answers
    assert Engagement.select().where(fn.LOWER(Engagement.name) == "racing engagement").count() == 1
    added = _audit_counts() - before
    assert added == Counter({"engagement.create": 2, "auth.login": 3, "auth.login_failed": 3,
                             "evidence.upload": 3, "evidence.review": 2})
    assert LoginAttempt.select().count() - attempts_before == 6  # each attempt counted, with its event
    assert audit_log.verify_chain() == []


def test_names_that_differ_only_in_case_race_to_one_engagement(app, make_user):
    """The rule "unique whatever the case" is a check before the insert, which no unique index expresses:
    parallel writers are serialised on it (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock)."""
    from domain.errors import Conflict
    from models import db
    from services.register.engagements import create_accepted_engagement
    admin = make_user("client_admin")
    make_user("provider_admin")  # the provider exists: only the engagement names race
    names = ["Race to one", "RACE TO ONE", "race to one", "Race To One"]
    start = threading.Barrier(len(names))

    def create(name: str) -> str:
        start.wait()
        try:
            with app.app_context():
                create_accepted_engagement(admin, {**NEW_ENGAGEMENT, "name": name})
            return "created"
        except Conflict:
            return "conflict"
        finally:
            db.close()

    with ThreadPoolExecutor(len(names)) as pool:
        outcomes = Counter(pool.map(create, names))
    assert outcomes == Counter({"created": 1, "conflict": 3})
    assert Engagement.select().where(fn.LOWER(Engagement.name) == "race to one").count() == 1
