"""An engagement's provider takes part by consent: the client names a provider organisation, which is invited,
and the engagement opens to the provider only once one of its admins accepts.

The invitation's life is a transition table: ``pending`` is the only state that moves.
"""
from __future__ import annotations

from .errors import Conflict, ValidationError

STATES = ("pending", "accepted", "declined")
DECISIONS = {"pending": {"accept": "accepted", "decline": "declined"}}
# The organisation an invited engagement points at until its provider accepts: it has no users, so nothing
# (scope, notifications, owners, webhooks) reaches a provider before its consent. Its name holds a character
# that ``domain.names.clean_name`` refuses, so no typed name can ever match it.
PLACEHOLDER_NAME = "\u2063provider not yet accepted"


def decide(state: str, decision: object) -> str:
    """The invitation's next state; ValidationError for an unknown decision, Conflict when already decided."""
    if decision not in ("accept", "decline"):
        raise ValidationError("decision must be \"accept\" or \"decline\"", field="decision")
    moves = DECISIONS.get(state)
    if moves is None:
        raise Conflict(f"the invitation is already {state}")
    return moves[str(decision)]


def same_name(invited: str, organisation: str) -> bool:
    """Whether an invitation addressed to ``invited`` is for the organisation named ``organisation``
    (organisation names are unique whatever their case)."""
    return invited.casefold() == organisation.casefold()


def invited_label(provider_name: str, state: str) -> str:
    """How pages name a provider that has not accepted: the name the client gave, and where the invitation
    stands."""
    return f"{provider_name} ({'invited, not yet accepted' if state == 'pending' else 'declined the invitation'})"
