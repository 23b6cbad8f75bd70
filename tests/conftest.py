"""Test fixtures. The suite runs on SQLite by default and on PostgreSQL with
DATABASE_URL=postgresql://...; every session starts by dropping every table, so a run
never depends on what an earlier one left behind."""
from __future__ import annotations

import os

import pytest

import models
from models.schema import drop_everything, migrate_database

LIBRARY_MODELS = [models.LibraryVersion, models.Framework, models.Obligation, models.Control,
                  models.ControlObligation, models.EvidenceRequirement, models.ClockRule]
PASSWORD = "Correct-Horse-Battery-9"


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
            models.db.execute_sql(f'DELETE FROM "{table}"')
        models.db.execute_sql("PRAGMA foreign_keys = ON")


@pytest.fixture
def clean_db(database):
    """Every table empty, the library included."""
    truncate(models.ALL_MODELS)
    yield database


@pytest.fixture
def library(database):
    """Every non-library table empty and the shipped control library loaded (reloaded only when changed)."""
    from domain.library import read_library
    from services.library_sync import DEFAULT_DIRECTORY, load_library
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
    from services.accounts import create_user
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
    from services.accounts import create_token
    return {"Authorization": f"Bearer {create_token(user)}"}
