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


# How the frameworks are named in prose, besides their codes (for spotting names outside an auditor's grant).
FRAMEWORK_NAMES: dict[str, tuple[str, ...]] = {
    "ISO27001-2022": ("27001",),
    "ISO22301-2019": ("22301",),
    "CPS234": ("CPS 234", "CPS234"),
    "CPS230": ("CPS 230", "CPS230"),
    "PRIVACY-AU": ("PRIVACY", "APP 8", "APP8", "S16C", "NDB"),
    "PCIDSS-4.0.1": ("PCI",),
    "CONTRACT": ("CONTRACT",),
}
NEUTRAL_REQUIRES_REASON = {
    "card_payments": "Agents take no card payments on this engagement (card_payments is off).",
    "offshore": "No agents, sites or systems are offshore (offshore is off).",
}


def names_framework(text: str, code: str) -> bool:
    """Does ``text`` name the framework ``code`` (by code or by its usual name)?"""
    upper = text.upper()
    return any(name.upper() in upper for name in (code, *FRAMEWORK_NAMES.get(code, ())))


def justification_within(text: str, applicable: bool, control: ControlFacts, granted: frozenset[str],
                         engagement_frameworks: frozenset[str]) -> str:
    """The justification as an auditor granted ``granted`` may read it: the stored text when it names no
    framework of the engagement outside the grant, else one written from the granted frameworks alone."""
    hidden = engagement_frameworks - granted
    if not any(names_framework(text, code) for code in hidden):
        return text
    if applicable:
        return "Required by " + ", ".join(sorted(control.frameworks & granted)) + " in this engagement's scope."
    if control.requires in NEUTRAL_REQUIRES_REASON:
        return NEUTRAL_REQUIRES_REASON[control.requires]
    return "Not applicable on this engagement."
