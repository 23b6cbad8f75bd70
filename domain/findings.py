"""The finding state machine (SPEC §2 Finding): open → plan_submitted → in_progress → closed.

A finding raised by mistake (a double submit, the wrong engagement) is voided by the client with a reason,
from any state but closed: it is kept, shown void, and no longer counted or chased.

The provider answers with its corrective action plan; the client accepts it (work in progress) or
sends it back, and verifies closure with evidence. A move that skips a state is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

# (from, to) -> which side may make the move
TRANSITIONS: dict[tuple[str, str], str] = {
    ("open", "plan_submitted"): "provider",     # the provider answers with its plan
    ("plan_submitted", "open"): "client",       # the plan is sent back
    ("plan_submitted", "in_progress"): "client",  # the plan is accepted
    ("in_progress", "closed"): "client",        # closure verified, with evidence
    ("open", "void"): "client",                 # raised by mistake: kept, with the reason
    ("plan_submitted", "void"): "client",
    ("in_progress", "void"): "client",
}
STATES = ("open", "plan_submitted", "in_progress", "closed", "void")
FINAL_STATES = ("closed", "void")  # nothing more to do: not counted as open, not chased


class FindingError(ValueError):
    def __init__(self, message: str, field: str | None = "status"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Move:
    old: str
    new: str
    side: str


def check_move(old: str, new: str, side: str, *, action_plan: str = "", closure_evidence: bool = False,
               reason: str = "") -> Move:
    """The move ``old`` → ``new`` by ``side`` (client | provider), or FindingError saying why not."""
    if new not in STATES:
        raise FindingError(f"unknown status {new!r}; use one of {', '.join(STATES)}")
    allowed = TRANSITIONS.get((old, new))
    if allowed is None:
        nexts = sorted(n for (o, n) in TRANSITIONS if o == old)
        hint = f"; from {old} it can go to {', '.join(nexts)}" if nexts else f"; a {old} finding is final"
        raise FindingError(f"a finding cannot go from {old} to {new}{hint}")
    if allowed != side:
        raise FindingError(f"only the {allowed} may move a finding from {old} to {new}")
    if new == "plan_submitted" and not action_plan.strip():
        raise FindingError("a corrective action plan is required", field="action_plan")
    if (old, new) == ("plan_submitted", "open") and not reason.strip():
        raise FindingError("returning a plan needs the reason, for the provider to act on", field="reason")
    if new == "void" and not reason.strip():
        raise FindingError("voiding a finding needs the reason it was raised by mistake", field="reason")
    if new == "closed" and not closure_evidence:
        raise FindingError("closing a finding needs the evidence that verifies it (closure_evidence_id)",
                           field="closure_evidence_id")
    return Move(old, new, side)
