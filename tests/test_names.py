"""One validator for every display name (SPEC §7): NFC, no invisible or format
characters, no styled or mixed-script look-alikes."""
from __future__ import annotations

import pytest
from conftest import PASSWORD, bearer

from domain.errors import ValidationError
from domain.names import clean_name
from models import Organisation
from services.people.accounts import create_user

INVISIBLE = ["\u200b", "\u2060", "\ufeff", "\u200f", "\u00ad", "\u202e", "\u2066", "\u180e", "\U000e0041", "\x07"]


@pytest.mark.parametrize("ch", INVISIBLE)
def test_invisible_and_format_characters_are_refused(ch):
    with pytest.raises(ValidationError, match="invisible or control"):
        clean_name(f"Other CC{ch}")


@pytest.mark.parametrize("name", ["B\u0430nk of Sydney", "Ex\u03bftic BPO", "Bank-\u0410lpha", "\u0441\u0430t Care"])
def test_mixed_script_look_alikes_are_refused(name):
    with pytest.raises(ValidationError, match="mixes letters of different scripts"):
        clean_name(name)


@pytest.mark.parametrize("name", ["\uff2fther CC", "\U0001d40ether CC", "\u24c4ther CC"])
def test_styled_look_alikes_are_refused(name):
    with pytest.raises(ValidationError, match="look-alike"):
        clean_name(name)


SBERBANK = "\u0421\u0431\u0435\u0440\u0431\u0430\u043d\u043a Australia"  # Cyrillic word, Latin word
TOKYO = "\u6771\u4eac\u30b3\u30fc\u30eb\u30bb\u30f3\u30bf\u30fc"  # Han and katakana in one word
GREEK = "\u0395\u03bb\u03bb\u03ac\u03b4\u03b1 BPO"


@pytest.mark.parametrize("raw, stored", [
    ("  Other   CC ", "Other CC"), ("Caf\u0065\u0301 Services", "Caf\u00e9 Services"), ("A\u00a0B", "A B"),
    (SBERBANK, SBERBANK), (TOKYO, TOKYO), ("O\u2019Brien & Co.", "O\u2019Brien & Co."), (GREEK, GREEK),
])
def test_real_names_pass_normalised(raw, stored):
    assert clean_name(raw) == stored


def test_a_zero_width_space_no_longer_makes_a_second_provider(client, make_user):
    admin = make_user("client_admin")
    headers = bearer(admin)
    base = {"frameworks": ["CPS234"], "place": "NSW", "start_date": "2026-01-01"}
    assert client.post("/api/v1/engagements", json={**base, "name": "One", "provider": "Other CC"},
                       headers=headers).status_code == 201
    twin = client.post("/api/v1/engagements", json={**base, "name": "Two", "provider": "Other CC\u200b"},
                       headers=headers)
    assert twin.status_code == 422 and twin.get_json()["error"]["field"] == "provider"
    spaced = client.post("/api/v1/engagements", json={**base, "name": "Three", "provider": " Other  CC"},
                         headers=headers)
    assert spaced.status_code == 201 and spaced.get_json()["provider"] == "Other CC"
    assert Organisation.select().where(Organisation.kind == "provider").count() == 1
    for name in ("Fo\u200bur", "F\u043eur"):
        assert client.post("/api/v1/engagements", json={**base, "name": name, "provider": "Other CC"},
                           headers=headers).status_code == 422


def test_user_and_organisation_names_use_the_same_rule(library):
    with pytest.raises(ValidationError):
        create_user("a@x.example", "client_admin", "Bank\u200b A", PASSWORD)
    with pytest.raises(ValidationError):
        create_user("a@x.example", "client_admin", "Bank A", PASSWORD, full_name="\u0410nn Lee")
    assert create_user("a@x.example", "client_admin", "Bank A", PASSWORD, full_name=" Ann  Lee ").full_name == "Ann Lee"
