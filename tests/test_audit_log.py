"""The audit trail is append-only and tamper-evident."""
from models import AuditEvent
from services import audit_log


def test_chain_links_each_event_to_the_one_before(library):
    first = audit_log.record("auth.login", actor_email="a@x.example", ip="10.0.0.1")
    second = audit_log.record("evidence.download", actor_email="b@x.example", details={"file": "x.pdf"})
    assert first.prev_hash == audit_log.GENESIS
    assert second.prev_hash == first.hash
    assert audit_log.verify_chain() == []


def test_altered_event_is_detected(library):
    audit_log.record("auth.login", actor_email="a@x.example")
    event = audit_log.record("grant.create", actor_email="a@x.example", details={"frameworks": ["CPS234"]})
    audit_log.record("auth.login", actor_email="c@x.example")
    AuditEvent.update(details='{"frameworks": ["ALL"]}').where(AuditEvent.id == event.id).execute()
    problems = audit_log.verify_chain()
    assert len(problems) == 1 and f"event {event.id}" in problems[0] and "altered" in problems[0]


def test_deleted_event_is_detected(library):
    events = [audit_log.record("auth.login", actor_email=f"{i}@x.example") for i in range(3)]
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
