"""The Statement of Applicability: is a control in scope for an engagement, and why."""
from __future__ import annotations

from dataclasses import dataclass

REQUIRES_REASON = {
    "card_payments": "Agents take no card payments on this engagement (card_payments is off), "
                     "so PCI DSS call-handling controls do not apply.",
    "offshore": "No agents, sites or systems are offshore (offshore is off), so cross-border "
                "disclosure and offshoring controls (APP 8, s16C, CPS 230 59(b)) do not apply.",
}


@dataclass(frozen=True)
class ControlFacts:
    code: str
    frameworks: frozenset[str]  # the frameworks its obligations belong to
    requires: str = ""  # "" | card_payments | offshore


@dataclass(frozen=True)
class EngagementScope:
    frameworks: frozenset[str]
    card_payments: bool
    offshore: bool


def decide(control: ControlFacts, scope: EngagementScope) -> tuple[bool, str]:
    """(applicable, justification) for one control on one engagement."""
    in_scope = sorted(control.frameworks & scope.frameworks)
    if not in_scope:
        outside = ", ".join(sorted(control.frameworks)) or "no framework"
        return False, f"Maps only to frameworks outside this engagement's scope ({outside})."
    if control.requires == "card_payments" and not scope.card_payments:
        return False, REQUIRES_REASON["card_payments"]
    if control.requires == "offshore" and not scope.offshore:
        return False, REQUIRES_REASON["offshore"]
    return True, "Required by " + ", ".join(in_scope) + " in this engagement's scope."
