"""The incident's own state machine: ``recorded → void``.

An incident recorded by mistake (a double submit, the wrong engagement, a test) is voided by the client with a
reason. It is kept and shown void; its clocks that still wait or run close as not required (``domain.clocks``:
pending/running → not_required; met and breached ones keep their history) and the findings raised from it that
are still open are voided with it (``domain.findings``). A void incident is final.
"""
from __future__ import annotations

import datetime as dt

TRANSITIONS: dict[str, set[str]] = {
    "recorded": {"void"},
    "void": set(),
}


class IncidentError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def state_of(voided_at: dt.datetime | None) -> str:
    return "void" if voided_at is not None else "recorded"


def check_void(voided_at: dt.datetime | None, reason: str) -> None:
    """The incident may be voided now, with ``reason``; IncidentError saying why not."""
    state = state_of(voided_at)
    if "void" not in TRANSITIONS[state]:
        raise IncidentError("this incident is already void", field="status")
    if not reason.strip():
        raise IncidentError("voiding an incident needs the reason it was recorded by mistake", field="reason")
