"""The Statement of Applicability: is a control in scope for an engagement, and why."""
from __future__ import annotations

from dataclasses import dataclass

REQUIRES_REASON = {
    "card_payments": "Agents take no card payments on this engagement (card_payments is off), "
                     "so PCI DSS call-handling controls do not apply.",
    "offshore": "No agents, sites or systems are offshore (offshore is off), so cross-border "
                "disclosure and offshoring controls (APP 8, s16C, CPS 230 59(b)) do not apply.",
}


# What each framework-level ``requires`` (controls/README.md) asks of the engagement, in words for the refusal.
FRAMEWORK_REQUIRES_SETTING = {
    "card_payments": "agents take card payments (card_payments)",
    "soci_reporting": "SOCI Act cyber-incident reporting is switched on (soci_reporting, in the clock settings)",
    "ransomware_reporting": "ransomware payment reporting is switched on (ransomware_reporting, in the clock "
                            "settings)",
}


def frameworks_refused(requires: dict[str, str], settings_on: set[str] | frozenset[str]) -> str | None:
    """Why these frameworks (code -> the setting it applies under, '' for none) cannot all be in an engagement's
    scope with only ``settings_on`` switched on, or None when they can. A framework that applies only under an
    engagement setting (the card brands' rules, the optional regimes) is in scope only while that is on, so a
    grant, pack or Statement of Applicability never covers a regime the engagement does not have."""
    off = sorted((code, setting) for code, setting in requires.items() if setting and setting not in settings_on)
    if not off:
        return None
    return "; ".join(f"{code} applies only where {FRAMEWORK_REQUIRES_SETTING[setting]}" for code, setting in off)


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
    "CARD-BRANDS": ("CARD-BRANDS",),
    "SOCI": ("SOCI",),
    "CSA-2024": ("CSA-2024", "Cyber Security Act"),
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
