"""The audit trail is append-only and tamper-evident."""
from models import AuditEvent
from services.audit import audit_log


def test_chain_links_each_event_to_the_one_before(library):
    first = audit_log.record("auth.login", actor_email="a@x.example", ip="10.0.0.1")
    second = audit_log.record("evidence.download", actor_email="b@x.example", details={"file": "x.pdf"})
    assert first.prev_hash == audit_log.GENESIS
    assert second.prev_hash == first.hash
    assert audit_log.verify_chain() == []


def test_altered_event_is_detected(library, tamper):
    audit_log.record("auth.login", actor_email="a@x.example")
    event = audit_log.record("grant.create", actor_email="a@x.example", details={"frameworks": ["CPS234"]})
    audit_log.record("auth.login", actor_email="c@x.example")
    with tamper():
        AuditEvent.update(details='{"frameworks": ["ALL"]}').where(AuditEvent.id == event.id).execute()
    problems = audit_log.verify_chain()
    assert len(problems) == 1 and f"event {event.id}" in problems[0] and "altered" in problems[0]


def test_deleted_event_is_detected(library, tamper):
    events = [audit_log.record("auth.login", actor_email=f"{i}@x.example") for i in range(3)]
    with tamper():
        AuditEvent.delete().where(AuditEvent.id == events[1].id).execute()
    problems = audit_log.verify_chain()
    assert any(f"event {events[2].id}" in p and "deleted" in p for p in problems)


def test_the_chain_cannot_fork(library):
    """Two writers that read the same tail: the unique prev_hash makes the second retry on the new tail."""
    import peewee as pw
    import pytest

    from models import transaction
    first = audit_log.record("a", actor_email="x@x.example")
    with pytest.raises(pw.IntegrityError), transaction():
        AuditEvent.create(action="b", prev_hash=first.prev_hash, hash="f" * 64)
    assert audit_log.verify_chain() == []


def test_the_hash_covers_every_column():
    hashed = set(audit_log.HASHED_COLUMNS) | {"hash"}
    assert {f.column_name for f in AuditEvent._meta.sorted_fields} == hashed


def test_a_changed_actor_id_is_detected(library, make_user, tamper):
    alice, mallory = make_user("client_admin"), make_user("client_admin")
    event = audit_log.record("grant.create", actor=alice, details={"frameworks": ["CPS234"]})
    assert event.actor_id == alice.id and audit_log.verify_chain() == []
    with tamper():
        AuditEvent.update(actor=mallory).where(AuditEvent.id == event.id).execute()
    problems = audit_log.verify_chain()
    assert problems == [f"event {event.id}: content does not match its hash (altered)"]


def test_renumbered_event_is_detected(library, tamper):
    events = [audit_log.record("auth.login", actor_email=f"{i}@x.example") for i in range(2)]
    with tamper():
        AuditEvent.update(id=events[1].id + 10).where(AuditEvent.id == events[1].id).execute()
    assert any("altered" in p for p in audit_log.verify_chain())


def test_the_database_refuses_update_and_delete_of_audit_events(library):
    import peewee as pw
    import pytest

    from models import transaction
    event = audit_log.record("auth.login", actor_email="a@x.example")
    for change in (AuditEvent.update(action="auth.logout"), AuditEvent.delete()):
        with pytest.raises(pw.DatabaseError, match="append-only"), transaction():
            change.where(AuditEvent.id == event.id).execute()
    assert AuditEvent.get_by_id(event.id).action == "auth.login"
    assert audit_log.verify_chain() == []


def test_an_event_commits_or_rolls_back_with_its_change(library):
    import pytest

    from models import transaction
    with pytest.raises(RuntimeError), transaction():
        audit_log.record("engagement.create", actor_email="a@x.example")
        raise RuntimeError("the change failed after its event was recorded")
    assert AuditEvent.select().count() == 0
    with transaction():
        audit_log.record("engagement.create", actor_email="a@x.example")
    assert AuditEvent.select().count() == 1 and audit_log.verify_chain() == []


def test_bulk_append_chains_each_event(library):
    first = audit_log.record("auth.login", actor_email="a@x.example")
    events = audit_log.append([audit_log.event_row("auth.login", actor_email=f"{i}@x.example") for i in range(5)])
    assert events[0].prev_hash == first.hash and [e.id for e in events] == list(range(first.id + 1, first.id + 6))
    assert audit_log.verify_chain() == []
