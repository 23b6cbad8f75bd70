"""The evidence state machine and the request states it drives (domain/evidence.py), without a database."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from domain import evidence as rules
from domain.errors import Conflict, DomainError, ValidationError
from domain.schedule import TRANSITIONS as REQUEST_TRANSITIONS
from models.evidence import EVIDENCE_STATES
from models.register import REQUEST_STATES


def test_the_tables_cover_every_state_and_only_known_ones():
    assert set(rules.TRANSITIONS) == set(EVIDENCE_STATES)
    assert all(targets <= set(EVIDENCE_STATES) for targets in rules.TRANSITIONS.values())
    assert set(REQUEST_TRANSITIONS) == set(REQUEST_STATES)


@pytest.mark.parametrize("old, new", [("submitted", "accepted"), ("submitted", "rejected"),
                                      ("submitted", "withdrawn"), ("accepted", "superseded"),
                                      ("accepted", "expired")])
def test_allowed_evidence_moves(old, new):
    rules.check_move(old, new)


@pytest.mark.parametrize("old, new", [("accepted", "rejected"), ("rejected", "accepted"), ("withdrawn", "submitted"),
                                      ("superseded", "accepted"), ("accepted", "withdrawn"), ("expired", "accepted")])
def test_a_decided_item_cannot_be_decided_again(old, new):
    with pytest.raises(Conflict):
        rules.check_move(old, new)


def test_the_request_after_a_decision():
    assert rules.request_after_decision(["submitted", "rejected"], "rejected") == "submitted"
    assert rules.request_after_decision(["accepted"], "rejected") == "accepted"
    assert rules.request_after_decision(["withdrawn", "rejected"], "overdue") == "overdue"
    assert rules.request_after_decision([], "open") == "open"
    for state in ("upcoming", "open", "overdue", "rejected", "accepted"):
        assert rules.request_move_allowed(state, rules.request_after_upload(state))
    assert rules.request_after_upload("submitted") is None


def test_effective_date_and_validity():
    today = dt.date(2026, 3, 1)
    rules.check_effective_date(today, today)
    with pytest.raises(ValidationError):
        rules.check_effective_date(today + dt.timedelta(days=1), today)
    assert rules.valid_until(dt.date(2026, 1, 31), 30) == dt.date(2026, 3, 2)


def test_safe_filename_keeps_plain_names_and_refuses_the_rest():
    assert rules.safe_filename("Rapport d'audit – Q3 2026.pdf") == "Rapport d'audit – Q3 2026.pdf"
    assert rules.safe_filename("Zuga\u0308nge.pdf") == "Zug\u00e4nge.pdf"  # NFC
    assert rules.safe_filename(".htaccess") == "htaccess"
    assert rules.safe_filename("") == "evidence"
    assert rules.safe_filename("y" * rules.MAX_FILENAME) == "y" * rules.MAX_FILENAME
    for bad, message in [("../../x/../report.pdf", "path separator"), ("C:\\Users\\me\\scan.png", "path separator"),
                         ("in\u202evoice.pdf", "U+202E"), ("zero\u200dwidth.pdf", "U+200D"),
                         ("a\r\nb\tc.csv", "control character"), ("..", "not a file name"),
                         ("x" * 1000, "1,000 characters long")]:
        with pytest.raises(ValidationError, match=re.escape(message)) as raised:
            rules.safe_filename(bad)
        assert raised.value.field == "file"
    with pytest.raises(DomainError) as raised:
        rules.safe_filename("a\x00.pdf")
    assert raised.value.status == 400


def test_the_loader_reads_and_checks_produced_by(tmp_path):
    from domain.library import LibraryError, read_library
    from tests.test_library import BASE, write_library
    client_held = BASE["common/test.yaml"].replace("        validity_days: 92\n",
                                                   "        validity_days: 92\n        produced_by: client\n")
    library = read_library(write_library(tmp_path / "ok", {**BASE, "common/test.yaml": client_held}))
    assert library.controls["T-01"].requirements[0].produced_by == "client"
    default = read_library(write_library(tmp_path / "default", BASE))
    assert default.controls["T-01"].requirements[0].produced_by == "provider"
    wrong = client_held.replace("produced_by: client", "produced_by: auditor")
    with pytest.raises(LibraryError) as info:
        read_library(write_library(tmp_path / "bad", {**BASE, "common/test.yaml": wrong}))
    line = wrong.splitlines().index("        produced_by: auditor") + 1
    assert f"common/test.yaml:{line}: produced_by of evidence requirement of control T-01 must be provider or " \
           "client, not 'auditor'" in str(info.value)


def test_office_and_opendocument_files_are_told_apart_by_their_parts(tmp_path):
    import zipfile

    from services.demo import files as demo_files
    from services.evidence import media_types
    samples = {"docx": demo_files.docx("hello"), "xlsx": demo_files.xlsx([["a"]])}
    odt = tmp_path / "report.odt"
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", "<office:document-content/>")
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("notes.txt", "hello")
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
    assert media_types.sniff(str(tmp_path / "docx")) == media_types.OOXML["word/"]
    assert media_types.sniff(str(tmp_path / "xlsx")) == media_types.OOXML["xl/"]
    assert media_types.sniff(str(odt)) == "application/vnd.oasis.opendocument.text"
    assert media_types.sniff(str(plain)) == "application/zip"
    assert media_types.resolve("text/plain", ["text/csv", "application/pdf"]) == "text/csv"
    assert media_types.resolve("text/plain", ["application/pdf"]) is None
