"""The control library's vocabulary: the allowed values, the parsed specs (``Library`` and its parts), the
problems a check reports, and the small rules other code asks of a library (reference order, trigger match,
framework names hidden from a reader). Pure: no files, no database."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

FRAMEWORK_DIR = "frameworks"
COMMON_DIR = "common"
CLOCK_RULES_FILE = "clock_rules.yaml"
REVIEW_FILE = "REVIEW.md"  # one reviewed reason per `full` mapping (see controls/README.md)

COVERAGES = ("full", "partial")
VERIFICATIONS = ("verified", "secondary", "unverified")
REQUIRES = ("card_payments", "offshore")
# The engagement setting a whole framework applies under (its header's ``requires``): the card brands' rules
# where agents take card payments, the optional regimes where the engagement switches them on.
FRAMEWORK_REQUIRES = ("card_payments", "soci_reporting", "ransomware_reporting")
CLOCK_UNITS = ("hours", "business_days", "calendar_days", "asap")
# Which days a business-day rule counts: the engagement's place, the client's head office, or the days both
# work (the conservative intersection). A rule that names none counts by the engagement's choice.
CLOCK_CALENDARS = ("place", "head_office", "intersection")
# aware_at: the finder's own awareness (contract tier); client_aware_at: the regulated entity's (regulatory
# tier); outside_tolerance_at: CPS 230 para 42; concluded_at: an eligible NDB assessment; agreement_date:
# started by its subject (e.g. a sub-contractor arrangement), never by an incident.
CLOCK_STARTS = ("aware_at", "client_aware_at", "occurred_at", "outside_tolerance_at", "concluded_at", "agreement_date")
CHANGE_KINDS = ("significant_change", "new_subcontractor", "offshoring")
INCIDENT_CATEGORIES = ("security_incident", "personal_information_breach", "control_weakness",
                       "operational_disruption", "card_data_compromise")
INCIDENT_FLAGS = ("material", "personal_information", "card_data", "outside_tolerance",
                  "cannot_remediate_timely", "notified_other_regulator", "soci_significant", "soci_relevant",
                  "ransom_paid")
AWARE_PARTIES = ("client", "provider")

_DIGITS = re.compile(r"(\d+)")


PRODUCERS = ("provider", "client")  # who uploads a requirement's evidence (SPEC §2); provider by default


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class LibraryError(Exception):
    """The library is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class ObligationSpec:
    framework: str
    ref: str
    title: str
    parent_ref: str | None = None
    alt_ref: str | None = None
    alt_ref_verification: str = ""  # how far alt_ref is confirmed; a number is shown only when "verified"
    frequency: str = ""
    verification: str = ""
    provable: bool = True
    note: str = ""
    file: str = ""
    line: int = 0

    @property
    def sort_key(self) -> str:
        return ref_sort_key(self.ref)

    @property
    def shown_alt_ref(self) -> str | None:
        """The other number as a reader may rely on it: only a confirmed one (``alt_ref_verification`` verified)."""
        return shown_alt_ref(self.alt_ref, self.alt_ref_verification)


@dataclass
class FrameworkSpec:
    code: str
    title: str
    version: str
    description: str = ""
    requires: str = ""  # the engagement setting it applies under ('' = always; FRAMEWORK_REQUIRES)
    obligations: dict[str, ObligationSpec] = field(default_factory=dict)
    file: str = ""
    line: int = 0


@dataclass
class MappingSpec:
    framework: str
    ref: str
    coverage: str
    line: int = 0
    note: str = ""  # why a mapping is only partial, or what it leaves out
    reason: str = ""  # a full mapping's reviewed one-line reason, from REVIEW.md


@dataclass
class RequirementSpec:
    key: str
    name: str
    types: list[str]
    validity_days: int
    produced_by: str = "provider"
    file: str = ""
    line: int = 0


@dataclass
class ControlSpec:
    code: str
    title: str
    frequency: str
    description: str = ""
    domain: str = ""
    requires: str = ""
    triggers: list[str] = field(default_factory=list)  # change kinds that also open a request
    mappings: list[MappingSpec] = field(default_factory=list)
    requirements: list[RequirementSpec] = field(default_factory=list)
    file: str = ""
    line: int = 0

    @property
    def frameworks(self) -> set[str]:
        return {m.framework for m in self.mappings}


@dataclass
class ClockRuleSpec:
    rule_id: str
    title: str
    framework: str
    obligation: str
    trigger: dict
    start: str
    duration: int | None
    unit: str
    notify: str
    internal_target_hours: int | None = None
    note: str = ""
    verification: str = ""
    calendar: str = ""  # business_days rules: the calendar the rule counts by ('' = the engagement's choice)
    file: str = ""
    line: int = 0


@dataclass
class Library:
    directory: str
    digest: str
    frameworks: dict[str, FrameworkSpec] = field(default_factory=dict)
    controls: dict[str, ControlSpec] = field(default_factory=dict)
    clock_rules: dict[str, ClockRuleSpec] = field(default_factory=dict)

    def obligation(self, framework: str, ref: str) -> ObligationSpec | None:
        spec = self.frameworks.get(framework)
        return spec.obligations.get(ref) if spec else None

    def counts(self) -> dict[str, Any]:
        return {
            "frameworks": len(self.frameworks),
            "obligations": {code: len(f.obligations) for code, f in sorted(self.frameworks.items())},
            "controls": len(self.controls),
            "mappings": sum(len(c.mappings) for c in self.controls.values()),
            "requirements": sum(len(c.requirements) for c in self.controls.values()),
            "clock_rules": len(self.clock_rules),
            "controls_serving_3plus_frameworks": sum(1 for c in self.controls.values() if len(c.frameworks) >= 3),
        }


# An obligation's free-text frequency that states a fixed interval, and that interval's longest length in days
# (the same bound Frequency.longest_days gives a control): "3 months and after significant change" -> 92.
_STATED_INTERVALS = ((re.compile(r"^(on hire \+ )?(12 months|annual|at least annual|yearly)\b"), 366),
                     (re.compile(r"^6 months\b"), 184), (re.compile(r"^(3 months|quarterly)\b"), 92),
                     (re.compile(r"^90 days\b"), 90), (re.compile(r"^(1 month|monthly)\b"), 31))


def stated_interval_days(frequency: str) -> int | None:
    """The longest days of the fixed interval an obligation's ``frequency`` text starts with, else None
    ("risk-based", "event", "continuous" and "daily" or "weekly" activities evidenced monthly state none)."""
    text = frequency.strip().lower()
    return next((days for pattern, days in _STATED_INTERVALS if pattern.match(text)), None)


def shown_alt_ref(alt_ref: str | None, verification: str | None) -> str | None:
    """``alt_ref`` when a primary source confirms it (or no confirmation is stated), else None: a reported but
    unconfirmed number (the CPS 230 2026 renumbering) is kept as data and shown as unverified, never as fact."""
    return alt_ref if alt_ref and verification in (None, "", "verified") else None


def ref_sort_key(ref: str) -> str:
    """Natural sort key: ``A.5.9`` before ``A.5.10``, ``9.1`` before ``10.1``."""
    return _DIGITS.sub(lambda m: m.group(1).zfill(5), ref)[:80]


def without_names(text: str, names: list[str] | set[str]) -> str:
    """``text`` with each of ``names`` (framework codes, clock rule ids) taken out, with the list punctuation
    around it: library prose as a reader who may not see those frameworks reads it (an auditor's grant).
    "starts (CPS234-35, CPS230-INCIDENT)" without CPS234-35 reads "starts (CPS230-INCIDENT)"; a
    parenthesis that only named a hidden rule's clock ("notified per their rules (PCI-BRAND clock)") goes."""
    out = text
    for name in sorted(names, key=len, reverse=True):
        out = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", "\x00", out)
    out = re.sub(r"\(\s*\x00\s+clocks?\s*\)", "(\x00)", out)
    out = re.sub(r"\x00(\s*,\s*|\s+and\s+|\s+or\s+)", "", out)
    out = re.sub(r"(\s*,\s*|\s+and\s+|\s+or\s+)\x00", "", out)
    out = re.sub(r"\s*\(\s*\x00\s*\)|\x00", "", out)
    return re.sub(r"\(\s*\)", "", re.sub(r"  +", " ", out)).strip()


def trigger_matches(trigger: dict, category: str, flags: set[str] | list[str], aware_party: str | None) -> bool:
    """Does an incident start a clock with this ``trigger``? (see controls/README.md).

    (category in ``categories`` OR any of ``any_flags`` set) AND all ``flags`` set AND at least one
    of ``at_least_one_flag`` set AND ``aware_party`` matches. A ``manual`` trigger never starts
    automatically.
    """
    if trigger.get("manual"):
        return False
    flags = set(flags)
    categories, any_flags = trigger.get("categories") or [], trigger.get("any_flags") or []
    if (categories or any_flags) and category not in categories and not flags & set(any_flags):
        return False
    if not set(trigger.get("flags") or []) <= flags:
        return False
    if trigger.get("at_least_one_flag") and not flags & set(trigger["at_least_one_flag"]):
        return False
    party = trigger.get("aware_party")
    return party is None or party == aware_party
