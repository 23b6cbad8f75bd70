"""Test fixtures. The suite runs on SQLite by default and on PostgreSQL with
DATABASE_URL=postgresql://...; every session starts by dropping every table, so a run
never depends on what an earlier one left behind."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

import models
from models.schema import migrate_database

# Every module in tests/fixtures/ is a plugin: servers started on loopback and per-capability fixtures.
pytest_plugins = sorted(f"fixtures.{p.stem}" for p in (Path(__file__).parent / "fixtures").glob("[!_]*.py"))

LIBRARY_MODELS = [models.LibraryVersion, models.Framework, models.Obligation, models.Control,
                  models.ControlObligation, models.EvidenceRequirement, models.ClockRule]
PASSWORD = "Correct-Horse-Battery-9"


def drop_everything() -> None:
    """Remove every table: PostgreSQL keeps state between runs, and no run may depend on it."""
    options = {"cascade": True} if models.is_postgres() else {}
    models.db.drop_tables(list(reversed(models.ALL_MODELS)), safe=True, **options)
    models.db.execute_sql("DROP TABLE IF EXISTS migratehistory")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "attest-test.db")


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from app import create_app
    application = create_app({
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "EVIDENCE_STORE": str(tmp_path_factory.mktemp("evidence")),
    })
    models.db.connect(reuse_if_open=True)
    drop_everything()
    migrate_database()
    yield application
    models.db.close()


@pytest.fixture(scope="session")
def database(app):
    """A migrated database for the whole session (tables emptied by the fixtures below)."""
    return models.db


def truncate(model_list) -> None:
    tables = [m._meta.table_name for m in model_list]
    models.db.connect(reuse_if_open=True)
    if models.is_postgres():
        models.db.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    else:
        models.db.execute_sql("PRAGMA foreign_keys = OFF")
        for table in tables:
            with sqlite_triggers_off(table):  # audit_event refuses DELETE (migration 004)
                models.db.execute_sql(f'DELETE FROM "{table}"')
        models.db.execute_sql("PRAGMA foreign_keys = ON")


@contextlib.contextmanager
def sqlite_triggers_off(table: str):
    """SQLite: drop the table's triggers for the block, then recreate them from their own SQL."""
    triggers = models.db.execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                                     (table,)).fetchall()
    for name, _ in triggers:
        models.db.execute_sql(f'DROP TRIGGER "{name}"')
    try:
        yield
    finally:
        for _, sql in triggers:
            models.db.execute_sql(sql)


@pytest.fixture
def clean_db(database):
    """Every table empty, the library included."""
    truncate(models.ALL_MODELS)
    yield database


@pytest.fixture
def library(database):
    """Every non-library table empty and the shipped control library loaded (reloaded only when changed)."""
    from domain.library import read_library
    from services.register.library_sync import DEFAULT_DIRECTORY, load_library
    truncate([m for m in models.ALL_MODELS if m not in LIBRARY_MODELS])
    latest = models.LibraryVersion.select().order_by(models.LibraryVersion.number.desc()).first()
    if latest is None or latest.digest != read_library(DEFAULT_DIRECTORY).digest or latest.number != 1:
        truncate(LIBRARY_MODELS)
        load_library()
    yield database


@pytest.fixture
def client(app, library):
    return app.test_client()


@pytest.fixture
def make_user(library):
    """make_user(role, org="Demo Bank", email=None) -> User, with password PASSWORD."""
    from services.people.accounts import create_user
    counter = {"n": 0}

    def make(role: str, org: str | None = None, email: str | None = None):
        counter["n"] += 1
        org = org or {"client_admin": "Bank A", "risk_reviewer": "Bank A", "provider_admin": "BPO A",
                      "provider_contributor": "BPO A", "auditor": "Audit Firm A"}[role]
        return create_user(email or f"{role}{counter['n']}@{org.replace(' ', '').lower()}.example", role, org,
                           PASSWORD)
    return make


def login(client, user, password: str = PASSWORD):
    """Sign a test client in through the real form (with its CSRF token)."""
    import re
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})


def bearer(user) -> dict:
    from services.people.accounts import create_token
    return {"Authorization": f"Bearer {create_token(user)}"}


def accept_invitation(client, engagement_id: int, provider_admin) -> None:
    """The invited provider's admin accepts an engagement a client created through the API or a form (until
    then the provider sees nothing of it)."""
    from models import EngagementInvitation
    invitation = EngagementInvitation.get(EngagementInvitation.engagement == engagement_id)
    response = client.post(f"/api/v1/engagement-invitations/{invitation.id}/decision", json={"decision": "accept"},
                           headers=bearer(provider_admin))
    assert response.status_code == 200, response.get_json()


# ---------------------------------------------------------------- browser (Playwright) fixtures

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def live_server(app):
    """The app served on 127.0.0.1 (a free port) from a background thread, against the test database."""
    import threading

    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright; skipped only where it is absent and CI is unset."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing and CI is set: browser tests must run in CI")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, live_server, library):
    """A fresh browser context (no cookies) on the live server; fails the test on any console error."""
    context = chromium.new_context(base_url=live_server, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    yield page
    context.close()
    assert not errors, f"browser console errors (CSP violations?): {errors}"


def csv_text(body: str) -> str:
    """A CSV export's text after its UTF-8 byte order mark, which every export starts with (Excel needs it to read
    UTF-8); fails when the mark is missing."""
    assert body.startswith("\ufeff"), "a CSV export starts with the UTF-8 BOM"
    return body[1:]
