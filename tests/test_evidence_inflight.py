"""In-flight changes to an upload: the token revoked or the user deactivated while the body is still arriving —
the upload is refused (401) and stores nothing, instead of committing under a credential that has ended."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from models import ApiToken, Evidence, User, transaction, utcnow
from services.demo import files as demo_files
from tests.test_evidence_bad_input import unchanged  # noqa: F401 (a fixture)


class ChangesMidBody(io.BytesIO):
    """A request body that runs ``change`` once half of it has been read by the server."""

    def __init__(self, data: bytes, change) -> None:
        super().__init__(data)
        self.half, self.change = len(data) // 2, change

    def _after(self, result):
        if self.change and self.tell() >= self.half:
            self.change, change = None, self.change
            change()
        return result

    def read(self, size: int | None = -1) -> bytes:
        return self._after(super().read(size))

    def read1(self, size: int = -1) -> bytes:
        return self._after(super().read1(size))

    def readinto(self, buffer) -> int:
        return self._after(super().readinto(buffer))

    def readline(self, size: int | None = -1) -> bytes:
        return self._after(super().readline(size))


def _revoke_tokens(user) -> None:
    with transaction():
        ApiToken.update(revoked_at=utcnow()).where(ApiToken.user == user.id).execute()


def _deactivate(user) -> None:
    with transaction():
        User.update(active=False).where(User.id == user.id).execute()


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("change", [_revoke_tokens, _deactivate])
def test_an_upload_whose_credential_ends_mid_body_is_401_and_stores_nothing(evidence_world, change):
    w = evidence_world
    headers = w.auth(w.contributor)
    req = w.request()
    boundary, body = encode_multipart({
        "request_id": str(req.id), "effective_date": dt.date.today().isoformat(),
        "file": FileStorage(io.BytesIO(demo_files.pdf("Access review") + b"%" + b"0" * 200_000), "review.pdf",
                            content_type="application/pdf")})
    stream = ChangesMidBody(body, lambda: change(w.contributor))
    response = w.client.post(f"/api/v1/engagements/{w.engagement.id}/evidence", input_stream=stream,
                             headers={**headers, "Content-Length": str(len(body))},
                             content_type=f"multipart/form-data; boundary={boundary}")
    assert stream.change is None  # the change happened while the body was read
    assert response.status_code == 401, response.get_data(as_text=True)
    assert "nothing was stored" in response.get_json()["error"]["message"]
    assert Evidence.select().where(Evidence.request == req.id).count() == 0


def test_an_upload_whose_credential_holds_is_stored(evidence_world):
    w = evidence_world
    req = w.request()
    boundary, body = encode_multipart({
        "request_id": str(req.id), "effective_date": dt.date.today().isoformat(),
        "file": FileStorage(io.BytesIO(demo_files.pdf("Access review")), "review.pdf",
                            content_type="application/pdf")})
    response = w.client.post(f"/api/v1/engagements/{w.engagement.id}/evidence",
                             input_stream=ChangesMidBody(body, lambda: None),
                             headers={**w.auth(w.contributor), "Content-Length": str(len(body))},
                             content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 201, response.get_data(as_text=True)
