"""Organisations are found by name whatever its case, and a clash of kinds gives nothing away."""
import pytest

from domain.errors import ValidationError
from models import Organisation
from services.people import accounts
from tests.conftest import PASSWORD


@pytest.mark.parametrize("typed", ["demo contact centre", "DEMO CONTACT CENTRE", "  Demo contact Centre "])
def test_an_existing_organisation_is_found_whatever_the_case(library, typed):
    existing = Organisation.create(name="Demo Contact Centre", kind="provider")
    assert accounts.find_or_create_organisation(typed, "provider") == existing
    assert Organisation.select().count() == 1


def test_the_exact_name_wins_over_a_case_twin(library):
    Organisation.create(name="Bpo a", kind="provider")
    exact = Organisation.create(name="BPO A", kind="provider")
    assert accounts.find_or_create_organisation("BPO A", "provider") == exact


def test_a_new_user_joins_the_organisation_typed_in_another_case(library):
    first = accounts.create_user("a@bank.example", "client_admin", "Demo Bank", PASSWORD)
    second = accounts.create_user("b@bank.example", "risk_reviewer", "demo bank", PASSWORD)
    assert second.organisation_id == first.organisation_id
    assert Organisation.select().count() == 1


@pytest.mark.parametrize("kind, field", [("provider", "provider"), ("audit_firm", "org"), ("client", "org")])
def test_a_name_taken_by_another_kind_is_refused_without_saying_which_kind(library, kind, field):
    other = "client" if kind != "client" else "provider"
    Organisation.create(name="Secret Holdings", kind=other)
    with pytest.raises(ValidationError) as caught:
        accounts.find_or_create_organisation("secret holdings", kind)
    assert caught.value.field == field
    message = caught.value.message
    assert "secret holdings" in message and "choose another name" in message
    assert other not in message and other.replace("_", " ") not in message
    assert Organisation.select().count() == 1
