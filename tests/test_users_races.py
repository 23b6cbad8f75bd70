"""Two admins demoting or deactivating each other at once leave one admin (the organisation's admins are locked
in the transaction), and an admin who never signed in does not count as the one who remains. The race is made
deterministic: the first change holds its transaction open until the second is waiting for it (PostgreSQL:
seen in pg_locks) or has finished (the old, unlocked code), then commits."""
from __future__ import annotations

import threading
import time

import pytest

from domain.errors import Conflict
from models import User, db, is_postgres, transaction
from services.people import users

ACTIONS = {
    "demote": lambda actor, target: users.change_role(actor, target.id, "risk_reviewer"),
    "deactivate": lambda actor, target: users.deactivate(actor, target.id),
}


def _second_is_waiting(done: threading.Event) -> bool:
    if done.is_set():
        return True
    if is_postgres():
        return bool(db.execute_sql("SELECT count(*) FROM pg_locks WHERE NOT granted AND database = "
                                   "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()[0])
    return False


def _race(first, second) -> list:
    """``first`` in a transaction held open until ``second`` (another thread, its own connection) is blocked
    or done; returns what each raised (None when it went through)."""
    outcome: list = [None, None]
    started, done = threading.Event(), threading.Event()

    def run_second():
        started.wait(10)
        try:
            second()
        except Conflict as error:
            outcome[1] = error
        finally:
            db.close()
            done.set()

    thread = threading.Thread(target=run_second)
    thread.start()
    try:
        with transaction():
            first()
            started.set()
            deadline = time.monotonic() + (10 if is_postgres() else 0.5)  # SQLite: its writer lock, no view of it
            while not _second_is_waiting(done) and time.monotonic() < deadline:
                done.wait(0.01)
    except Conflict as error:
        outcome[0] = error
    thread.join(20)
    return outcome


@pytest.mark.parametrize("one, other", [("demote", "demote"), ("deactivate", "deactivate"),
                                        ("demote", "deactivate")])
def test_two_admins_removing_each_other_at_once_leave_an_admin(make_user, one, other):
    a, b = make_user("client_admin", org="Bank R"), make_user("client_admin", org="Bank R")
    outcome = _race(lambda: ACTIONS[one](a, b), lambda: ACTIONS[other](b, a))
    admins = User.select().where(User.organisation == a.organisation_id, User.role == "client_admin",
                                 User.active == True).count()  # noqa: E712
    assert admins == 1, outcome
    assert outcome[0] is None and isinstance(outcome[1], Conflict)
    assert "last active admin" in outcome[1].message


def test_an_admin_who_never_signed_in_is_not_the_admin_who_remains(make_user):
    admin = make_user("provider_admin", org="BPO R")
    invited = users.invite(admin, {"email": "new.admin@bpor.example", "role": "provider_admin"}).user
    assert users.status_of(invited) == "invited"
    for change in (lambda: users.change_role(admin, admin.id, "provider_contributor"),
                   lambda: users.deactivate(admin, admin.id)):
        with pytest.raises(Conflict, match="last active admin"):
            change()
    assert User.get_by_id(admin.id).role == "provider_admin" and User.get_by_id(admin.id).active
