"""Phrases that name a framework (codes, names, paragraph references, regulators, assessors, brands) are
replaced for a reader who may not see that framework, from the library's phrase lists."""
import re

import pytest

from domain.redaction import MARKER, hidden_patterns, library_phrases, redact
from models import Framework
from services import scope
from tests.conftest import bearer
from tests.fixtures.rights import make_grant

EVERY = ("CPS234", "CPS230", "PRIVACY-AU", "PCIDSS-4.0.1", "ISO27001-2022", "ISO22301-2019", "CONTRACT",
         "CARD-BRANDS", "SOCI", "CSA-2024")
OPTIONAL_REGIMES = ("SOCI", "CSA-2024")  # in scope only once their clock settings are on


def hidden_but(*granted: str) -> set[str]:
    return set(EVERY) - set(granted)


@pytest.mark.parametrize("text,granted,left", [
    ("Meets CPS 234 32-34 and CPS 230 21.", ("CPS230",), "Meets [another framework] and CPS 230 21."),
    ("Cross-border steps (APP 8.2), the OAIC and the NDB scheme, s26WH and ss 26WH-26WL.",
     ("ISO27001-2022", "PCIDSS-4.0.1"), "Cross-border steps ([another framework]), the [another framework] and "
     "the [another framework], [another framework] and [another framework]."),
    ("PCI 7.2.5.1 targets, the PCI DSS scope, Visa and Mastercard, a QSA's AOC.", ("CPS234",),
     "[another framework] targets, the [another framework] scope, [another framework] and [another framework], "
     "a [another framework]'s [another framework]."),
    ("ISO 27001 and ISO 22301 certificates (Annex A 5.19, A.5.19).", ("PRIVACY-AU",),
     "[another framework] and [another framework] certificates ([another framework], [another framework])."),
    # APRA regulates both prudential standards: hidden only when neither is granted
    ("Notify APRA.", ("CPS230",), "Notify APRA."),
    ("Notify APRA.", ("PCIDSS-4.0.1",), f"Notify {MARKER}."),
    # nothing of a granted framework changes, nor words that merely contain a phrase
    ("APPROVED by the ROCKET team under APP 8.", ("PRIVACY-AU",), "APPROVED by the ROCKET team under APP 8."),
])
def test_phrases_of_hidden_frameworks_only_are_replaced(text, granted, left):
    assert redact(text, hidden_but(*granted)) == left


def test_nothing_hidden_changes_nothing():
    text = "CPS 234 35, APP 8.2, PCI 7.2.5.1, ISO 27001 A.5.19"
    assert redact(text, set()) == text


def test_every_framework_of_the_library_has_phrases(app):
    """A framework added to the library without its phrase list would leak its words to every auditor."""
    phrases = library_phrases()
    for framework in Framework.select().where(Framework.retired_in.is_null()):
        assert phrases.get(framework.code), framework.code
        for pattern in phrases[framework.code]:
            re.compile(pattern)
    assert hidden_patterns({"CPS234"}, phrases) and "APRA" not in hidden_patterns({"CPS234"}, phrases)


@pytest.fixture
def audited(make_user):
    from services.register.engagements import create_accepted_engagement
    admin, auditor = make_user("client_admin"), make_user("auditor")
    engagement = create_accepted_engagement(admin, {"name": "Every framework", "provider": "BPO A", "place": "NSW",
                                                    "frameworks": [c for c in EVERY if c not in OPTIONAL_REGIMES],
                                                    "start_date": "2026-01-01",
                                                    "card_payments": True})
    make_grant(auditor, engagement, ["ISO27001-2022", "PCIDSS-4.0.1"])
    return admin, auditor, engagement


PRIVACY_AND_APRA = re.compile(r"APP ?8\.2|OAIC|\bNDB\b|s ?26WH|CPS 234 3\d|APRA")


def test_an_auditor_reads_controls_without_other_frameworks_words(client, audited):
    admin, auditor, engagement = audited
    assert scope.hidden_frameworks(auditor) == frozenset(hidden_but("ISO27001-2022", "PCIDSS-4.0.1"))
    assert scope.hidden_frameworks(admin) == frozenset()
    urls = ["/api/v1/controls?per_page=200", f"/api/v1/engagements/{engagement.id}/requests?per_page=200",
            f"/api/v1/engagements/{engagement.id}/applicability?per_page=200"]
    for url in urls:
        client_sees = client.get(url, headers=bearer(admin)).get_data(as_text=True)
        auditor_sees = client.get(url, headers=bearer(auditor)).get_data(as_text=True)
        assert not PRIVACY_AND_APRA.search(auditor_sees), (url, PRIVACY_AND_APRA.search(auditor_sees))
        if url.startswith("/api/v1/controls"):
            assert PRIVACY_AND_APRA.search(client_sees)  # the client reads the library as it is
            assert "PCI" in auditor_sees and MARKER in auditor_sees


def test_an_auditors_exports_name_no_other_framework(app, audited):
    import io

    from openpyxl import load_workbook

    from tests.conftest import login
    _, auditor, engagement = audited
    browser = app.test_client()
    assert login(browser, auditor).status_code == 302
    for fmt in ("csv", "xlsx"):
        response = browser.get(f"/engagements/{engagement.id}/soa.{fmt}")
        assert response.status_code == 200, fmt
        if fmt == "csv":
            text = response.get_data(as_text=True)
        else:
            book = load_workbook(io.BytesIO(response.data))
            text = "\n".join(str(c.value) for sheet in book for row in sheet.iter_rows() for c in row)
        found = PRIVACY_AND_APRA.search(text)
        assert not found, (fmt, text[max(0, found.start() - 80):found.end() + 40])
