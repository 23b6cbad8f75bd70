"""Comments on a request and its versions: ask and answer without a rejection. The other side is notified once
(in-app, and by e-mail through the outbox), every comment is an audit event, bad input changes nothing, an
auditor reads but does not write, and another tenant sees nothing."""
from __future__ import annotations

import re

import pytest

from models import AuditEvent, Notification, OutboxMessage, RequestComment
from services.messages import notifications
from tests.conftest import login

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def world(evidence_world):
    w = evidence_world
    w.req = w.request()
    response = w.upload(w.req)
    assert response.status_code == 201, response.get_json()
    w.version = response.get_json()["id"]
    return w


def post(w, body, user=None, req=None):
    return w.client.post(f"/api/v1/requests/{(req or w.req).id}/comments", json=body,
                         headers=w.auth(user or w.contributor))


def notified(user) -> list[Notification]:
    return list(Notification.select().where(Notification.user == user.id, Notification.kind == "comment_posted"))


def test_a_provider_asks_and_the_client_team_is_notified_once(world):
    response = post(world, {"body": "The April extract is attached as version 1; page 2 follows.",
                            "evidence_id": world.version})
    assert response.status_code == 201, response.get_json()
    comment = response.get_json()
    assert comment["side"] == "provider" and comment["evidence_id"] == world.version
    assert comment["author"] == world.contributor.email
    assert [n.link for n in notified(world.reviewer)] == [f"/requests/{world.req.id}#comments"]
    assert len(notified(world.admin)) == 1
    assert notified(world.contributor) == []  # the author is not told of their own comment
    event = AuditEvent.get(AuditEvent.action == "request.comment")
    assert event.actor_email == world.contributor.email and event.object_id == str(world.req.id)

    notifications.queue_immediate()
    notifications.queue_immediate()  # a second pass queues nothing more
    to_reviewer = OutboxMessage.select().where(OutboxMessage.to == world.reviewer.email)
    assert to_reviewer.count() == 1


def test_the_client_answers_and_the_provider_reads_the_thread_in_order(world):
    assert post(world, {"body": "Please add page 2."}, user=world.reviewer).status_code == 201
    assert post(world, {"body": "Added in version 2 tomorrow."}).status_code == 201
    assert len(notified(world.contributor)) == 1  # the provider heard of the client's comment
    thread = world.client.get(f"/api/v1/requests/{world.req.id}/comments", headers=world.auth(world.contributor))
    assert thread.status_code == 200
    items = thread.get_json()["items"]
    assert [(c["side"], c["body"]) for c in items] == [("client", "Please add page 2."),
                                                         ("provider", "Added in version 2 tomorrow.")]


@pytest.mark.parametrize("body", [
    {"body": ""}, {"body": "   "}, {}, {"body": 42}, {"body": ["x"]}, {"body": "x" * 4001},
    {"body": "bell \x07"}, {"body": "bidi \u202e override"}, {"body": "ok", "evidence_id": "abc"},
    {"body": "ok", "evidence_id": "１"}, {"body": "ok", "evidence_id": 999999},
])
def test_bad_input_is_refused_and_nothing_is_stored(world, body):
    response = post(world, body)
    assert response.status_code == 422, response.get_json()
    assert RequestComment.select().count() == 0
    assert Notification.select().where(Notification.kind == "comment_posted").count() == 0


def test_a_version_of_another_request_cannot_be_named(world):
    other = world.request(skip=1)
    upload = world.upload(other)
    assert upload.status_code == 201
    response = post(world, {"body": "about the other file", "evidence_id": upload.get_json()["id"]})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "evidence_id"
    assert RequestComment.select().count() == 0


def test_an_auditor_reads_but_does_not_write_and_another_tenant_sees_nothing(world, make_user):
    stranger = make_user("provider_contributor", org="BPO B")
    assert post(world, {"body": "hello"}, user=stranger).status_code == 404
    listed = world.client.get(f"/api/v1/requests/{world.req.id}/comments", headers=world.auth(stranger))
    assert listed.status_code == 404
    auditor = make_user("auditor")
    assert post(world, {"body": "an auditor's note"}, user=auditor).status_code == 404
    assert RequestComment.select().count() == 0


def test_the_request_page_shows_the_thread_and_posts_through_its_form(world):
    login(world.client, world.reviewer)
    page = world.client.get(f"/requests/{world.req.id}").get_data(as_text=True)
    assert "Comments (0)" in page
    token = CSRF.search(page).group(1)
    response = world.client.post(f"/requests/{world.req.id}/comments",
                                 data={"csrf_token": token, "body": "Which system produced this extract?",
                                       "evidence_id": str(world.version)})
    assert response.status_code == 302
    page = world.client.get(f"/requests/{world.req.id}").get_data(as_text=True)
    assert "Comments (1)" in page and "Which system produced this extract?" in page and "on version 1" in page
    assert len(notified(world.contributor)) == 1

    refused = world.client.post(f"/requests/{world.req.id}/comments",
                                data={"csrf_token": token, "body": "bell \x07 ring"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Not posted." in html and "control characters" in html
    assert RequestComment.select().count() == 1
