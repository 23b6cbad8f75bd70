"""The control library: the shipped YAML files, the validator and the versioned loader."""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from domain.library import LibraryError, library_digest, read_library, trigger_matches, without_names
from domain.recurrence import parse_frequency
from models import ClockRule, Control, ControlObligation, EvidenceRequirement, Framework, LibraryVersion, Obligation
from services.register.library_sync import DEFAULT_DIRECTORY, load_library

LIBRARY_MODELS = (LibraryVersion, Framework, Obligation, Control, ControlObligation, EvidenceRequirement, ClockRule)


@pytest.fixture(scope="module")
def shipped():
    return read_library(DEFAULT_DIRECTORY)


# =========================================================================== the shipped library

ANNEX_A = ([f"A.5.{i}" for i in range(1, 38)] + [f"A.6.{i}" for i in range(1, 9)]
           + [f"A.7.{i}" for i in range(1, 15)] + [f"A.8.{i}" for i in range(1, 35)])
ISO27001_CLAUSES = ["4.1", "4.2", "4.3", "4.4", "5.1", "5.2", "5.3", "6.1", "6.1.2", "6.1.3", "6.2", "6.3",
                    "7.1", "7.2", "7.3", "7.4", "7.5", "8.1", "8.2", "8.3", "9.1", "9.2", "9.3", "10.1", "10.2"]
ISO22301_CLAUSES = ["4.1", "4.2", "4.2.2", "4.3", "4.4", "5.1", "5.2", "5.3", "6.1", "6.2", "6.3", "7.1", "7.2",
                    "7.3", "7.4", "7.5", "8.1", "8.2.2", "8.2.3", "8.3", "8.4", "8.5", "8.6", "9.1", "9.2", "9.3",
                    "10.1", "10.2"]
PRIVACY_REFS = ["APP1.2", "APP1.4", "APP8.1", "APP8.2", "s16C", "APP11.1", "APP11.2", "APP11.3", "s26WH",
                "s26WJ", "s26WK", "s26WL", "s26WM", "s26WQ", "s26X"]
PCI_REFS = ["3.3.1", "3.3.1.1", "3.3.1.2", "3.3.1.3", "11.4.7", "12.4.1",
            "FAQ1210", "1.2.7", "6.3.3", "7.2.4", "7.2.5.1", "8.2.6", "8.3.9", "10.4.1",
            "10.4.1.1", "10.4.2.1", "10.5.1", "11.3.1", "11.3.1.2", "11.3.1.3", "11.3.2", "11.3.2.1", "11.4.1",
            "11.4.2", "11.4.3", "11.4.4", "11.4.5", "11.4.6", "11.5.2", "12.1.2", "12.3.1", "12.3.3", "12.3.4",
            "12.4.2", "12.4.2.1", "12.5.2", "12.5.2.1", "12.6.2", "12.6.3", "12.6.3.1", "12.8.1", "12.8.2",
            "12.8.3", "12.8.4", "12.8.5", "12.9.1", "12.9.2", "12.10.1", "12.10.2", "12.10.4.1", "12.10.7",
            "10.7.2", "10.7.3"]
CONTRACT_REFS = ["C-NOTICE", "C-SUBCON", "C-AUDIT", "C-RESIDENCY", "C-BCP", "C-EXIT", "C-STEPIN", "C-SLA",
                 "C-FLOWDOWN", "C-TERM"]


def refs(library, code):
    return set(library.frameworks[code].obligations)


def test_shipped_library_has_the_seven_frameworks_and_three_that_apply_under_a_setting(shipped):
    assert set(shipped.frameworks) == {"ISO27001-2022", "CPS234", "CPS230", "PRIVACY-AU", "PCIDSS-4.0.1",
                                       "ISO22301-2019", "CONTRACT", "CARD-BRANDS", "SOCI", "CSA-2024"}
    requires = {code: f.requires for code, f in shipped.frameworks.items() if f.requires}
    assert requires == {"CARD-BRANDS": "card_payments", "SOCI": "soci_reporting",
                        "CSA-2024": "ransomware_reporting"}


def test_the_card_brands_rules_are_their_own_source_and_anchor_the_brand_clocks(shipped):
    """obligations.md §4 and §8 T12: Visa's "immediately" and its follow-ups, Mastercard's 24 and 72 hours, all
    from secondary sources only; PCI DSS 12.10.1 stays the response plan's content and no clock hangs on it."""
    brands = shipped.frameworks["CARD-BRANDS"].obligations
    assert set(brands) == {"VISA-NOTICE", "VISA-REPORT", "VISA-ACCOUNTS", "MC-NOTICE", "MC-PFI"}
    assert {ob.verification for ob in brands.values()} == {"secondary"}
    assert "immediately" in brands["VISA-NOTICE"].title and "hour" not in brands["VISA-NOTICE"].title
    anchors = {rid: (r.framework, r.obligation) for rid, r in shipped.clock_rules.items() if rid.startswith("PCI-")}
    assert anchors == {"PCI-BRAND": ("CARD-BRANDS", "VISA-NOTICE"), "PCI-VISA-REPORT": ("CARD-BRANDS", "VISA-REPORT"),
                       "PCI-VISA-ACCOUNTS": ("CARD-BRANDS", "VISA-ACCOUNTS")}
    assert not [r for r in shipped.clock_rules.values() if r.framework == "PCIDSS-4.0.1"]
    assert "12.10.1" in refs(shipped, "PCIDSS-4.0.1")
    notice = shipped.controls["IR-08"]
    assert notice.requires == "card_payments"
    assert {(m.ref, m.coverage) for m in notice.mappings} == {(ref, "full") for ref in brands}
    assert [c.code for c in shipped.controls.values()
            if any((m.framework, m.ref) == ("PCIDSS-4.0.1", "12.10.1") for m in c.mappings)] == ["IR-01"]


def test_the_optional_regimes_are_frameworks_of_their_own_not_cps234(shipped):
    """SOCI Act 2018 Part 2B (ss 30BC, 30BD: verified) and the Cyber Security Act 2024 Part 3 (s 27: secondary)
    are other Acts owed to the ASD: a CPS 234 auditor's grant does not cover them."""
    assert {(ref, ob.verification) for ref, ob in shipped.frameworks["SOCI"].obligations.items()} == {
        ("s30BC", "verified"), ("s30BD", "verified")}
    assert {(ref, ob.verification) for ref, ob in shipped.frameworks["CSA-2024"].obligations.items()} == {
        ("s27", "secondary")}
    rules = {rid: (r.framework, r.obligation, r.trigger["engagement"]) for rid, r in shipped.clock_rules.items()
             if r.trigger.get("engagement") in ("soci_reporting", "ransomware_reporting")}
    assert rules == {"SOCI-30BC": ("SOCI", "s30BC", "soci_reporting"), "SOCI-30BD": ("SOCI", "s30BD", "soci_reporting"),
                     "RANSOMWARE-PAYMENT": ("CSA-2024", "s27", "ransomware_reporting")}
    assert not any(ref.startswith(("SOCI", "CSA")) for ref in refs(shipped, "CPS234"))


def test_iso27001_has_all_93_annex_a_controls_and_clauses(shipped):
    iso = refs(shipped, "ISO27001-2022")
    assert sorted(r for r in iso if r.startswith("A.")) == sorted(ANNEX_A)
    assert len(ANNEX_A) == 93
    assert set(ISO27001_CLAUSES) <= iso
    assert shipped.obligation("ISO27001-2022", "A.5.19").title == "Information security in supplier relationships"


def test_cps234_has_every_paragraph_13_to_36(shipped):
    assert refs(shipped, "CPS234") == {str(n) for n in range(13, 37)}  # the ASD reports are SOCI and CSA-2024


def test_cps230_keys_on_2023_numbers_with_2026_alt_refs(shipped):
    """The 2023 number is the stable id; the reported 2026 number is kept, marked unverified: no primary source
    confirms the renumbering (APRA's consultation cites 54, 55, 56(d), 57, 58(a), 58(c), which fits 2023)."""
    obligations = shipped.frameworks["CPS230"].obligations
    alt = {ref: ob.alt_ref for ref, ob in obligations.items()}
    assert alt["33"] == "32" and alt["42"] == "41" and alt["43"] == "42" and alt["51"] == "50"
    assert alt["58"] == "59" and alt["59(a)"] == "60(a)" and alt["59(b)"] == "60(b)" and alt["60"] == "61"
    assert alt["NTSP"] == "57-58"
    added_by_review = {"25", "27(c)", "34(b)", "34(d)", "34(e)", "56(a)", "56(b)", "56(c)"}
    assert all(number for ref, number in alt.items() if ref not in added_by_review), \
        "every CPS 230 obligation listed before the December 2026 review carries its reported 2026 number"
    assert not any(alt[ref] for ref in added_by_review), "no 2026 number is reported for the paragraphs added"
    assert {ob.alt_ref_verification for ob in obligations.values() if ob.alt_ref} == {"unverified"}
    assert not any(ob.shown_alt_ref for ob in obligations.values()), "no unconfirmed 2026 number is shown"


@pytest.mark.parametrize("code, expected", [("PRIVACY-AU", PRIVACY_REFS), ("PCIDSS-4.0.1", PCI_REFS),
                                            ("ISO22301-2019", ISO22301_CLAUSES), ("CONTRACT", CONTRACT_REFS)])
def test_framework_lists_every_obligation_of_the_brief(shipped, code, expected):
    assert set(expected) <= refs(shipped, code)


def test_only_the_commissioner_and_minister_acts_are_unprovable_and_say_why(shipped):
    """s 26WQ (Commissioner's waiver or extension) joined s 26X as not provable in the domain review."""
    unprovable = sorted((o.framework, o.ref) for f in shipped.frameworks.values() for o in f.obligations.values()
                        if not o.provable)
    assert unprovable == [("PRIVACY-AU", "s26WQ"), ("PRIVACY-AU", "s26X")]
    assert "Minister" in shipped.obligation("PRIVACY-AU", "s26X").note
    assert "Commissioner" in shipped.obligation("PRIVACY-AU", "s26WQ").note
    assert not any((m.framework, m.ref) == ("PRIVACY-AU", "s26WQ")
                   for c in shipped.controls.values() for m in c.mappings)


def test_every_provable_obligation_is_mapped_by_a_control(shipped):
    mapped = {(m.framework, m.ref) for c in shipped.controls.values() for m in c.mappings}
    missing = [(o.framework, o.ref) for f in shipped.frameworks.values() for o in f.obligations.values()
               if o.provable and (o.framework, o.ref) not in mapped]
    assert missing == []


def test_common_control_set_size_and_cross_mapping(shipped):
    counts = shipped.counts()
    assert counts["controls"] >= 60
    assert counts["controls_serving_3plus_frameworks"] >= 10
    assert counts["obligations"]["CPS234"] == 24  # paras 13-36 (the ASD reports are SOCI and CSA-2024 now)
    assert (counts["obligations"]["SOCI"], counts["obligations"]["CSA-2024"]) == (2, 1)
    assert all(c.requirements for c in shipped.controls.values())


# The ten cross-mapping examples of obligations.md §10: some control must map all of these.
CROSS_MAPPING_EXAMPLES = [
    {("PCIDSS-4.0.1", "7.2.4"), ("ISO27001-2022", "A.5.18"), ("ISO27001-2022", "A.8.2"), ("CPS234", "21"),
     ("CPS234", "27"), ("PRIVACY-AU", "APP11.1")},
    {("PCIDSS-4.0.1", "11.3.1"), ("PCIDSS-4.0.1", "11.3.2"), ("ISO27001-2022", "A.8.8"), ("CPS234", "27"),
     ("CPS234", "30"), ("PRIVACY-AU", "APP11.1")},
    {("PCIDSS-4.0.1", "11.4.2"), ("PCIDSS-4.0.1", "11.4.3"), ("PCIDSS-4.0.1", "11.4.4"), ("ISO27001-2022", "A.8.8")},
    {("PCIDSS-4.0.1", "11.4.6"), ("PCIDSS-4.0.1", "11.4.5"), ("ISO27001-2022", "A.8.22"), ("CPS234", "27")},
    {("CPS234", "26"), ("PCIDSS-4.0.1", "12.10.2"), ("ISO27001-2022", "A.5.24"), ("ISO27001-2022", "A.5.27"),
     ("CPS230", "33"), ("CPS230", "42")},
    {("CPS230", "43"), ("CPS230", "44"), ("CPS230", "38"), ("ISO22301-2019", "8.5"), ("ISO27001-2022", "A.5.29"),
     ("ISO27001-2022", "A.5.30"), ("CONTRACT", "C-BCP")},
    # CPS 234 34 is internal audit's duty, not the vendor review's: GV-19 maps it, not SP-01.
    {("CPS234", "16"), ("CPS234", "22"), ("CPS234", "28"), ("CPS230", "58"),
     ("PCIDSS-4.0.1", "12.8.4"), ("PCIDSS-4.0.1", "12.8.5"), ("PCIDSS-4.0.1", "12.9.2"),
     ("ISO27001-2022", "A.5.19"), ("ISO27001-2022", "A.5.22")},
    {("PCIDSS-4.0.1", "3.3.1"), ("PCIDSS-4.0.1", "3.3.1.2"), ("PCIDSS-4.0.1", "FAQ1210"),
     ("ISO27001-2022", "A.8.11"), ("ISO27001-2022", "A.8.10"), ("ISO27001-2022", "A.5.34"),
     ("PRIVACY-AU", "APP11.1"), ("PRIVACY-AU", "APP11.2"), ("CPS234", "21")},
    {("PCIDSS-4.0.1", "10.4.1"), ("PCIDSS-4.0.1", "10.4.1.1"), ("ISO27001-2022", "A.8.15"),
     ("ISO27001-2022", "A.8.16"), ("CPS234", "23"), ("CPS230", "32")},
    {("PRIVACY-AU", "APP8.1"), ("PRIVACY-AU", "s16C"), ("CPS230", "53"), ("CPS230", "59(b)"),
     ("ISO27001-2022", "A.5.20"), ("ISO27001-2022", "A.5.31"), ("ISO27001-2022", "A.5.34")},
    {("PCIDSS-4.0.1", "12.6.3"), ("PCIDSS-4.0.1", "12.6.3.1"), ("ISO27001-2022", "7.3"),
     ("ISO27001-2022", "A.6.3"), ("ISO27001-2022", "A.7.7"), ("CPS234", "19"), ("PRIVACY-AU", "APP11.3")},
]


@pytest.mark.parametrize("example", range(len(CROSS_MAPPING_EXAMPLES)))
def test_cross_mapping_example_is_a_control(shipped, example):
    wanted = CROSS_MAPPING_EXAMPLES[example]
    matches = [c.code for c in shipped.controls.values()
               if wanted <= {(m.framework, m.ref) for m in c.mappings}]
    assert matches, f"no control maps all of {sorted(wanted)}"


def _control_fully_mapping(library, framework, ref):
    found = [c for c in library.controls.values()
             if any(m.framework == framework and m.ref == ref and m.coverage == "full" for m in c.mappings)]
    assert found, f"no control fully maps {framework} {ref}"
    return found


@pytest.mark.parametrize("framework, ref, frequency", [
    ("PCIDSS-4.0.1", "11.3.2", "P3M"), ("PCIDSS-4.0.1", "12.4.2", "P3M"), ("PCIDSS-4.0.1", "11.4.6", "P6M"),
    ("PCIDSS-4.0.1", "1.2.7", "P6M"), ("PCIDSS-4.0.1", "8.2.6", "P90D"), ("PCIDSS-4.0.1", "6.3.3", "P1M"),
    ("PCIDSS-4.0.1", "10.4.1", "P1M"), ("PCIDSS-4.0.1", "11.5.2", "P1M"), ("PCIDSS-4.0.1", "12.10.2", "P1Y"),
    ("CPS234", "26", "P1Y"), ("CPS234", "31", "P1Y"), ("CPS230", "45", "P1Y"),
    ("CPS230", "51", "P1Y"), ("CPS234", "35", "event"),
])
def test_control_frequencies_follow_the_recurring_clocks(shipped, framework, ref, frequency):
    assert {c.frequency for c in _control_fully_mapping(shipped, framework, ref)} == {frequency}


def test_cps230_43_exercise_is_annual_but_only_partial(shipped):
    """One contact-centre exercise is not a programme for every critical operation: no control
    fully proves CPS 230 43, and the annual exercise that partly does runs every year."""
    mapping = {c.code: m.coverage for c in shipped.controls.values() for m in c.mappings
               if (m.framework, m.ref) == ("CPS230", "43")}
    assert mapping == {"BC-01": "partial"}
    assert shipped.controls["BC-01"].frequency == "P1Y"


def test_daily_and_weekly_activities_say_so_in_the_description(shipped):
    for framework, ref, word in (("PCIDSS-4.0.1", "10.4.1", "day"), ("PCIDSS-4.0.1", "11.5.2", "weekly")):
        for control in _control_fully_mapping(shipped, framework, ref):
            assert word in control.description.lower()


def test_pci_only_controls_require_card_payments_and_offshore_ones_require_offshore(shipped):
    for control in shipped.controls.values():
        if control.frameworks == {"PCIDSS-4.0.1"}:
            assert control.requires == "card_payments", control.code
    for framework, ref in (("PRIVACY-AU", "APP8.1"), ("CPS230", "59(b)"), ("CONTRACT", "C-RESIDENCY")):
        assert all(c.requires == "offshore" for c in _control_fully_mapping(shipped, framework, ref))
    # s 16C is a liability rule: evidence can only reduce the exposure, so it is mapped partial at most.
    s16c = {c.code: m.coverage for c in shipped.controls.values() for m in c.mappings
            if (m.framework, m.ref) == ("PRIVACY-AU", "s16C")}
    assert s16c and set(s16c.values()) == {"partial"}
    assert all(shipped.controls[code].requires == "offshore" for code in s16c)


def test_every_frequency_parses_and_every_evidence_type_is_a_media_type(shipped):
    for control in shipped.controls.values():
        parse_frequency(control.frequency)
        for requirement in control.requirements:
            assert requirement.validity_days > 0
            assert all(re.match(r"^[a-z]+/[a-z0-9.+-]+$", t) for t in requirement.types), requirement.types


@pytest.mark.parametrize("rule, framework, obligation, duration, unit", [
    ("CONTRACT-NOTICE", "CONTRACT", "C-NOTICE", 24, "hours"),
    ("CPS234-35", "CPS234", "35", 72, "hours"),
    ("CPS234-36", "CPS234", "36", 10, "business_days"),
    ("CPS230-INCIDENT", "CPS230", "33", 72, "hours"),
    ("CPS230-TOLERANCE", "CPS230", "42", 24, "hours"),
    ("CPS230-ARRANGEMENT", "CPS230", "59(a)", 20, "business_days"),
    ("NDB-ASSESS", "PRIVACY-AU", "s26WH", 30, "calendar_days"),
    ("NDB-NOTIFY", "PRIVACY-AU", "s26WK", None, "asap"),
    ("PCI-BRAND", "CARD-BRANDS", "VISA-NOTICE", 24, "hours"),
])
def test_spec_clock_rules_are_shipped(shipped, rule, framework, obligation, duration, unit):
    spec = shipped.clock_rules[rule]
    assert (spec.framework, spec.obligation, spec.duration, spec.unit) == (framework, obligation, duration, unit)
    if unit == "asap":
        assert spec.internal_target_hours and spec.internal_target_hours > 0


@pytest.mark.parametrize("rule, category, flags, party, starts", [
    ("CPS234-35", "security_incident", {"material"}, "client", True),
    ("CPS234-35", "security_incident", set(), "client", False),
    ("CPS234-35", "operational_disruption", {"material"}, "client", False),
    ("CPS234-36", "control_weakness", {"cannot_remediate_timely"}, "client", True),
    ("CPS234-36", "control_weakness", set(), "client", False),
    ("CPS230-INCIDENT", "operational_disruption", {"material"}, "provider", True),
    ("CPS230-TOLERANCE", "security_incident", {"outside_tolerance"}, "client", True),
    ("CPS230-TOLERANCE", "operational_disruption", set(), "client", False),
    ("CPS230-ARRANGEMENT", "operational_disruption", {"material", "outside_tolerance"}, "client", False),
    ("NDB-ASSESS", "personal_information_breach", set(), "client", True),
    ("NDB-ASSESS", "security_incident", {"personal_information"}, "client", True),
    ("NDB-ASSESS", "security_incident", {"material"}, "client", False),
    ("PCI-BRAND", "card_data_compromise", set(), "client", True),
    ("PCI-BRAND", "security_incident", {"card_data"}, "provider", True),
    ("CONTRACT-NOTICE", "security_incident", set(), "provider", True),
    ("CONTRACT-NOTICE", "security_incident", set(), "client", False),
])
def test_clock_rule_triggers(shipped, rule, category, flags, party, starts):
    assert trigger_matches(shipped.clock_rules[rule].trigger, category, flags, party) is starts


# =========================================================================== the validator

FRAMEWORK = """\
# a small framework
framework:
  code: TEST
  title: Test framework
  version: "1"
obligations:
  - {ref: "1", title: First obligation, verification: verified}
  - {ref: "2", title: Second obligation, parent: "1"}
  - ref: "3"
    title: Third, cannot be proved
    provable: false
    note: Only the regulator can do this.
"""

CONTROLS = """\
controls:
  - code: T-01
    title: First control
    frequency: P3M
    maps:
      TEST: {"1": full, "2": partial}
    evidence:
      - key: report
        name: A report
        types: [application/pdf, text/csv]
        validity_days: 92
"""

CLOCKS = """\
clock_rules:
  - rule: T-72
    title: Tell the regulator
    framework: TEST
    obligation: "1"
    trigger: {categories: [security_incident], flags: [material]}
    start: aware_at
    duration: 72
    unit: hours
    notify: Regulator
"""

REVIEW = """\
# Reviewed reasons
- T-01 TEST 1: the report is the record the obligation asks for
"""

FILE_OF = {"framework": "frameworks/test.yaml", "controls": "common/test.yaml", "clocks": "clock_rules.yaml",
           "review": "REVIEW.md"}
BASE = {"frameworks/test.yaml": FRAMEWORK, "common/test.yaml": CONTROLS, "clock_rules.yaml": CLOCKS,
        "REVIEW.md": REVIEW}


def write_library(root, files: dict[str, str]) -> str:
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return str(root)


def line_of(text: str, snippet: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``snippet``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if snippet in line]
    return hits[occurrence - 1]


def problems_of(tmp_path, **replacements) -> tuple[str, dict[str, str]]:
    """Write BASE with ``file=(old, new)`` edits; return the LibraryError text and the files."""
    files = dict(BASE)
    for key, edits in replacements.items():
        rel = FILE_OF[key]
        for old, new in edits:
            assert old in files[rel], old
            files[rel] = files[rel].replace(old, new, 1)
    with pytest.raises(LibraryError) as info:
        read_library(write_library(tmp_path, files))
    return str(info.value), files


def test_small_library_is_valid(tmp_path):
    library = read_library(write_library(tmp_path, BASE))
    assert library.counts()["controls"] == 1
    control = library.controls["T-01"]
    assert (control.file, control.line) == ("common/test.yaml", 2)
    assert library.obligation("TEST", "3").provable is False


# (file key, edits, snippet locating the expected line in the edited file, expected message)
VALIDATOR_CASES = {
    "yaml syntax": ("controls", [("title: First control", "title: [First control")],
                    "frequency: P3M", "YAML syntax error"),
    "unknown framework": ("controls", [("      TEST: {", "      TEST: {\"1\": full}\n      NOPE: {")],
                          "NOPE:", "unknown framework 'NOPE' in control T-01"),
    "unknown obligation ref": ("controls", [('"2": partial', '"2": partial, "9": full')],
                               '"9": full', "unknown obligation ref '9' in TEST (control T-01)"),
    "bad coverage": ("controls", [('"2": partial', '"2": most')], '"2": most',
                     "bad coverage 'most' for TEST 2 in control T-01"),
    "duplicate ref": ("framework", [('  - {ref: "2", title: Second',
                                     '  - {ref: "1", title: Again}\n  - {ref: "2", title: Second')],
                      "title: Again", "duplicate ref '1' in TEST"),
    "duplicate control code": ("controls", [("        validity_days: 92\n",
                                             "        validity_days: 92\n" + CONTROLS.split("controls:\n")[1])],
                               "code: T-01", "duplicate control code 'T-01'"),
    "unmapped obligation": ("controls", [('"1": full, "2": partial', '"1": full')],
                            'ref: "2"', "unmapped obligation TEST 2: no control maps it"),
    "provable false without note": ("framework", [("    note: Only the regulator can do this.\n", "")],
                                    "provable: false", "TEST 3 is provable: false without a note"),
    "control without evidence": ("controls", [(CONTROLS[CONTROLS.index("    evidence:"):], "")],
                                 "code: T-01", "control T-01 has no evidence requirements"),
    "evidence without name": ("controls", [("        name: A report\n", "")],
                              "- key: report", "evidence requirement of control T-01 is missing 'name'"),
    "evidence without types": ("controls", [("        types: [application/pdf, text/csv]\n", "")],
                               "- key: report", "evidence requirement of control T-01 is missing 'types'"),
    "evidence without validity": ("controls", [("        validity_days: 92\n", "")],
                                  "- key: report", "evidence requirement of control T-01 is missing 'validity_days'"),
    "bad media type": ("controls", [("text/csv]", "csv]")], "types:", "bad media type 'csv'"),
    "validity not positive": ("controls", [("validity_days: 92", "validity_days: 0")], "validity_days",
                              "validity_days of evidence requirement of control T-01 must be a whole number > 0"),
    "bad frequency": ("controls", [("frequency: P3M", "frequency: quarterly")], "frequency:",
                      "bad frequency in control T-01"),
    "bad requires": ("controls", [("    frequency: P3M", "    frequency: P3M\n    requires: cards")], "requires:",
                     "bad requires 'cards' in control T-01"),
    "typo key in control": ("controls", [("    evidence:", "    evidnce:")], "evidnce:",
                            "unknown key 'evidnce' in control (did you mean 'evidence'?)"),
    "typo key in file": ("framework", [("obligations:", "obligation:")], "obligation:",
                         "unknown key 'obligation' in file"),
    "unknown parent": ("framework", [('parent: "1"', 'parent: "7"')], 'parent: "7"', "unknown parent ref '7'"),
    "rule unknown framework": ("clocks", [("framework: TEST", "framework: TSET")], "framework: TSET",
                               "unknown framework 'TSET' in clock rule T-72"),
    "rule unknown obligation": ("clocks", [('obligation: "1"', 'obligation: "99"')], "obligation:",
                                "unknown obligation ref '99' in TEST (clock rule T-72)"),
    "rule bad unit": ("clocks", [("unit: hours", "unit: fortnights")], "unit:", "bad unit 'fortnights'"),
    "rule bad duration": ("clocks", [("duration: 72", "duration: -5")], "duration:",
                          "'duration' of clock rule T-72 must be a whole number > 0"),
    "rule missing duration": ("clocks", [("    duration: 72\n", "")], "- rule: T-72",
                              "clock rule T-72 needs a duration (in hours)"),
    "rule asap without target": ("clocks", [("    duration: 72\n    unit: hours", "    unit: asap")], "unit: asap",
                                 "is 'asap' and needs internal_target_hours"),
    "rule unknown category": ("clocks", [("[security_incident]", "[data_spill]")], "trigger:",
                              "unknown category 'data_spill' in trigger of clock rule T-72"),
    "duplicate key": ("controls", [("    frequency: P3M", "    frequency: P3M\n    frequency: P1M")], "frequency:",
                      "duplicate key 'frequency' in control"),
    "rule typo key": ("clocks", [("    notify: Regulator", "    notfy: Regulator")], "notfy:",
                      "unknown key 'notfy' in clock rule (did you mean 'notify'?)"),
    "control without code": ("controls", [("  - code: T-01\n    title", "  - title")], "- title: First",
                             "control is missing 'code'"),
    "full mapping without review line": ("controls", [('"2": partial', '"2": full')], '"2": full',
                                         "full mapping T-01 TEST 2 has no reason in REVIEW.md"),
    "stale review line": ("controls", [('"1": full, "2": partial', '"1": partial, "2": partial')], "- T-01",
                          "stale review line: mapping T-01 TEST 1 is partial, not full"),
    "review line for unknown mapping": ("review", [("- T-01 TEST 1:", "- T-01 TEST 1: x\n- T-09 TEST 1:")],
                                        "- T-09", "stale review line: mapping T-09 TEST 1 does not exist"),
    "malformed review line": ("review", [("- T-01 TEST 1:", "- T-01 TEST 1: x\n- T-01 full because")],
                              "full because", "expected '- CODE FRAMEWORK REF: reason'"),
    "duplicate review line": ("review", [("- T-01 TEST 1:", "- T-01 TEST 1: once\n- T-01 TEST 1:")],
                              "- T-01", "duplicate review line for T-01 TEST 1"),
    "mapping note with unknown key": ("controls", [('"2": partial', '"2": {coverage: partial, nte: why}')],
                                      "nte: why", "unknown key 'nte' in mapping TEST 2 in control T-01"),
    "rule bad calendar": ("clocks", [("    unit: hours", "    unit: hours\n    calendar: lunar")], "calendar:",
                          "bad calendar 'lunar' in clock rule T-72: use one of place, head_office, intersection"),
    "framework bad requires": ("framework", [('  version: "1"', '  version: "1"\n  requires: cards')],
                               "requires: cards",
                               "bad requires 'cards' in framework TEST: use one of card_payments, soci_reporting"),
    "rule calendar on hours": ("clocks", [("    unit: hours", "    unit: hours\n    calendar: intersection")],
                               "calendar:", "clock rule T-72 names a calendar but counts hours"),
    "duplicate rule": ("clocks", [("    notify: Regulator\n",
                                   "    notify: Regulator\n" + CLOCKS.split("clock_rules:\n")[1])],
                       "- rule: T-72", "duplicate clock rule 'T-72'"),
}


@pytest.mark.parametrize("case", sorted(VALIDATOR_CASES))
def test_validator_reports_problem_with_file_and_line(tmp_path, case):
    key, edits, snippet, message = VALIDATOR_CASES[case]
    text, files = problems_of(tmp_path, **{key: edits})
    occurrence = 2 if case.startswith("duplicate") and case != "duplicate ref" else 1
    rel = FILE_OF[key]
    if case == "unmapped obligation":
        rel = FILE_OF["framework"]
    if case == "stale review line":
        rel = FILE_OF["review"]
    line = line_of(files[rel], snippet, occurrence)
    expected = f"{rel}:{line}: "
    matching = [entry for entry in text.splitlines() if entry.startswith(expected) and message in entry]
    assert matching, f"expected '{expected}...{message}' in:\n{text}"


def test_missing_review_file_is_reported(tmp_path):
    files = {rel: text for rel, text in BASE.items() if rel != "REVIEW.md"}
    with pytest.raises(LibraryError) as info:
        read_library(write_library(tmp_path, files))
    assert "REVIEW.md:0: missing: 1 full mappings need their one-line reason here" in str(info.value)


def test_mapping_note_and_review_reason_are_kept(tmp_path):
    controls = CONTROLS.replace('"2": partial', '"2": {coverage: partial, note: only the second half}')
    library = read_library(write_library(tmp_path, {**BASE, "common/test.yaml": controls}))
    notes = {m.ref: (m.coverage, m.note, m.reason) for m in library.controls["T-01"].mappings}
    assert notes == {"1": ("full", "", "the report is the record the obligation asks for"),
                     "2": ("partial", "only the second half", "")}


def test_yaml_syntax_error_line_is_where_the_parser_stopped(tmp_path):
    text, files = problems_of(tmp_path, controls=[("frequency: P3M", "frequency: P3M: oops")])
    assert f"common/test.yaml:{line_of(files['common/test.yaml'], 'P3M: oops')}: YAML syntax error" in text


def test_empty_file_is_reported(tmp_path):
    with pytest.raises(LibraryError) as info:
        read_library(write_library(tmp_path, {**BASE, "common/empty.yaml": "# nothing yet\n"}))
    assert "common/empty.yaml:1: file is empty" in str(info.value)


def test_validator_collects_every_problem_across_files(tmp_path):
    text, _ = problems_of(tmp_path,
                          framework=[('title: First obligation', 'title: First obligation, colour: red')],
                          controls=[("frequency: P3M", "frequency: P0D"), ('"2": partial', '"2": partial, "8": full')],
                          clocks=[("unit: hours", "unit: weeks")])
    lines = text.splitlines()
    assert len(lines) == 4, text
    assert [line.split(":")[0] for line in lines] == ["clock_rules.yaml", "common/test.yaml", "common/test.yaml",
                                                      "frameworks/test.yaml"]


def test_unquoted_decimal_refs_stay_text(tmp_path):
    """YAML would read 12.10 as the float 12.1; the library keeps the ref as written."""
    framework = FRAMEWORK.replace('{ref: "2", title: Second obligation, parent: "1"}',
                                  '{ref: 12.10, title: Second obligation, parent: "1"}')
    controls = CONTROLS.replace('"2": partial', '12.10: partial')
    library = read_library(write_library(tmp_path, {**BASE, "frameworks/test.yaml": framework,
                                                    "common/test.yaml": controls}))
    assert "12.10" in library.frameworks["TEST"].obligations


def test_digest_identifies_identical_content(tmp_path):
    first = write_library(tmp_path / "a", BASE)
    second = write_library(tmp_path / "b", BASE)
    assert library_digest(first) == library_digest(second) == read_library(first).digest
    write_library(tmp_path / "b", {"common/test.yaml": CONTROLS.replace("First control", "Renamed control")})
    assert library_digest(first) != library_digest(second)


# =========================================================================== loading into the database

def row_counts() -> dict[str, int]:
    return {model.__name__: model.select().count() for model in LIBRARY_MODELS}


@pytest.fixture
def library_copy(tmp_path):
    """A writable copy of the shipped library."""
    target = tmp_path / "controls"
    shutil.copytree(DEFAULT_DIRECTORY, target, ignore=shutil.ignore_patterns("README.md"))
    return target


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def drop_review_lines(library, prefix: str) -> None:
    """Take ``- <prefix>...`` lines out of REVIEW.md, as a reviewed change to the data must."""
    path = library / "REVIEW.md"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith(f"- {prefix}")), encoding="utf-8")


def test_load_shipped_library_writes_every_item(clean_db, shipped):
    result = load_library()
    assert (result.version, result.changed) == (1, True)
    counts = shipped.counts()
    assert result.counts == counts
    assert Framework.select().count() == 10  # the seven of SPEC §2 and CARD-BRANDS, SOCI, CSA-2024
    assert Framework.get(Framework.code == "SOCI").requires == "soci_reporting"
    assert Obligation.select().count() == sum(counts["obligations"].values())
    assert Control.select().count() == counts["controls"]
    assert ControlObligation.select().count() == counts["mappings"]
    assert EvidenceRequirement.select().count() == counts["requirements"]
    assert ClockRule.select().count() == counts["clock_rules"]
    assert Obligation.select().join(Framework).where(Framework.code == "ISO27001-2022",
                                                     Obligation.ref.startswith("A.")).count() == 93
    recert = EvidenceRequirement.select().join(Control).where(Control.code == "AC-01").get()
    assert "application/pdf" in json.loads(recert.accepted_types)
    rule = ClockRule.get(ClockRule.rule_id == "CPS234-35")
    assert json.loads(rule.trigger)["at_least_one_flag"] == ["material", "notified_other_regulator"]
    assert rule.duration == 72
    assert ClockRule.get(ClockRule.rule_id == "NDB-NOTIFY").duration is None
    reviewed = (ControlObligation.select().join(Control).switch(ControlObligation).join(Obligation)
                .where(Control.code == "AC-01", Obligation.ref == "7.2.4").get())
    assert reviewed.coverage == "full" and "recertification pack" in reviewed.note  # its REVIEW.md reason
    s26x = Obligation.get(Obligation.ref == "s26X")
    assert s26x.provable is False and s26x.note
    version = LibraryVersion.get(LibraryVersion.number == 1)
    assert version.digest == shipped.digest
    assert json.loads(version.summary)["controls"]["added"] == counts["controls"]


def test_loading_twice_keeps_the_version_and_adds_nothing(clean_db):
    first = load_library()
    before = row_counts()
    second = load_library()
    assert (second.version, second.changed) == (first.version, False)
    assert row_counts() == before


def test_broken_library_loads_nothing(clean_db, library_copy):
    edit(library_copy / "common" / "access.yaml", "frequency: P3M", "frequency: every quarter")
    with pytest.raises(LibraryError) as info:
        load_library(str(library_copy))
    assert "common/access.yaml:" in str(info.value)
    assert set(row_counts().values()) == {0}


def test_broken_library_leaves_the_loaded_version_untouched(clean_db, library_copy):
    load_library(str(library_copy))
    before = row_counts()
    edit(library_copy / "common" / "access.yaml",
         "title: Quarterly recertification", "titel: Quarterly recertification")
    with pytest.raises(LibraryError):
        load_library(str(library_copy))
    assert row_counts() == before
    assert Control.get(Control.code == "AC-01").title.startswith("Quarterly recertification")


def test_changed_title_is_a_new_version_that_keeps_history(clean_db, library_copy):
    load_library(str(library_copy))
    edit(library_copy / "common" / "access.yaml",
         "title: Quarterly recertification of BPO agent, team-leader and vendor accounts",
         "title: Quarterly recertification of every account with access to client systems")
    result = load_library(str(library_copy))
    assert (result.version, result.changed) == (2, True)
    control = Control.get(Control.code == "AC-01")
    assert control.title == "Quarterly recertification of every account with access to client systems"
    assert (control.introduced_in, control.changed_in, control.retired_in) == (1, 2, None)
    assert Control.get(Control.code == "AC-02").changed_in == 1
    assert [v.number for v in LibraryVersion.select().order_by(LibraryVersion.number)] == [1, 2]
    assert json.loads(LibraryVersion.get(LibraryVersion.number == 2).summary)["controls"] == \
        {"added": 0, "changed": 1, "retired": 0}


def test_removed_control_is_retired_not_deleted_and_can_come_back(clean_db, library_copy):
    load_library(str(library_copy))
    path = library_copy / "common" / "physical.yaml"
    original = path.read_text(encoding="utf-8")
    start = original.index("  - code: PH-02")
    end = original.index("  - code: PH-03")
    path.write_text(original[:start] + original[end:], encoding="utf-8")
    review = (library_copy / "REVIEW.md").read_text(encoding="utf-8")
    drop_review_lines(library_copy, "PH-02 ")
    before = row_counts()
    assert load_library(str(library_copy)).version == 2
    control = Control.get(Control.code == "PH-02")
    assert control.retired_in == 2
    assert all(m.retired_in == 2 for m in control.mappings)
    assert all(r.retired_in == 2 for r in control.requirements)
    assert row_counts()["Control"] == before["Control"]  # nothing deleted
    path.write_text(original, encoding="utf-8")
    (library_copy / "REVIEW.md").write_text(review, encoding="utf-8")
    assert load_library(str(library_copy)).version == 3
    control = Control.get(Control.code == "PH-02")
    assert (control.retired_in, control.introduced_in, control.changed_in) == (None, 1, 3)
    assert all(m.retired_in is None for m in control.mappings)


def test_changed_mapping_and_requirement_mark_the_control_changed(clean_db, library_copy):
    load_library(str(library_copy))
    path = library_copy / "common" / "physical.yaml"
    edit(path, "A.7.7: full", "A.7.7: partial")
    drop_review_lines(library_copy, "PH-02 ISO27001-2022 A.7.7:")
    edit(path, "name: Destruction certificates and media disposal log", "name: Media disposal log")
    load_library(str(library_copy))
    mapping = (ControlObligation.select().join(Control).switch(ControlObligation).join(Obligation)
               .where(Control.code == "PH-02", Obligation.ref == "A.7.7").get())
    assert mapping.coverage == "partial"
    assert Control.get(Control.code == "PH-02").changed_in == 2
    requirement = EvidenceRequirement.select().join(Control).where(Control.code == "PH-04").get()
    assert requirement.name == "Media disposal log"
    assert Control.get(Control.code == "PH-04").changed_in == 2
    assert Control.get(Control.code == "PH-01").changed_in == 1


def test_retired_obligation_keeps_its_row(clean_db, tmp_path):
    load_library(write_library(tmp_path, BASE))
    framework = FRAMEWORK.replace('  - {ref: "2", title: Second obligation, parent: "1"}\n', "")
    controls = CONTROLS.replace('"1": full, "2": partial', '"1": full')
    load_library(write_library(tmp_path, {"frameworks/test.yaml": framework, "common/test.yaml": controls}))
    obligation = Obligation.get(Obligation.ref == "2")
    assert obligation.retired_in == 2
    assert ControlObligation.get(ControlObligation.obligation == obligation).retired_in == 2
    assert Obligation.get(Obligation.ref == "1").retired_in is None


def test_refs_that_look_like_octal_hex_or_base_60_stay_text():
    import yaml

    from domain.library.parse import _Loader
    data = yaml.load("a: 010\nb: 0x1A\nc: 1:30\nd: 12.10\ne: 72", Loader=_Loader)
    assert data == {"a": "010", "b": "0x1A", "c": "1:30", "d": "12.10", "e": 72}


# =========================================================================== the corrected library (domain review)

def _remove_block(path, start: str, end: str | None) -> None:
    """Cut the text from the line starting ``start`` up to (not including) ``end`` (or the end of file)."""
    text = path.read_text(encoding="utf-8")
    first = text.index(start)
    last = text.index(end, first) if end else len(text)
    path.write_text(text[:first] + text[last:], encoding="utf-8")


def _pre_review_library(library):
    """Undo a representative set of the domain review's corrections in a copy: the library as it was."""
    common, frameworks = library / "common", library / "frameworks"
    edit(common / "governance.yaml", '        "20": full\n', '        "20": full\n        "21": full\n')
    edit(common / "governance.yaml", '      CPS230: {"21": full}\n', "")
    edit(common / "supplier.yaml", "      CONTRACT: {C-AUDIT: full}\n",
         '      CONTRACT: {C-AUDIT: full}\n      CPS230: {"55": partial}\n')
    edit(common / "incident.yaml", "s26WM: full}", "s26WM: full, s26WQ: full}")
    edit(frameworks / "privacy_au.yaml", "    provable: false\n    note: >-\n      A waiver",
         "    note: >-\n      A waiver")
    _remove_block(common / "pci.yaml", "\n  - code: PC-05", "\n  - code: PC-06")  # PC-05 (PCI 12.4.1)
    _remove_block(frameworks / "pcidss.yaml", '  - {ref: "12.4.1"', '  - {ref: "12.4.2"')
    for path, ref in ((common / "continuity.yaml", '        "27(b)": {coverage'),
                      (common / "continuity.yaml", '        "27(b)": partial\n')):
        text = path.read_text(encoding="utf-8")
        start = text.index(ref)
        path.write_text(text[:start] + text[text.index("\n" if ref.startswith(" ") else "}", start):], encoding="utf-8")
    _remove_block(frameworks / "cps230.yaml", "  # Para 27(b)", "  - {ref: \"38\"")
    review = library / "REVIEW.md"
    lines = review.read_text(encoding="utf-8").splitlines(keepends=True)
    review.write_text("".join(line for line in lines if not line.startswith(("- PC-05 ", "- GV-03 CPS230 21:")))
                      + "- GV-04 CPS230 21: the Board pack\n- IR-07 PRIVACY-AU s26WQ: the NDB record\n",
                      encoding="utf-8")


def _mapping(code: str, framework: str, ref: str) -> ControlObligation:
    return (ControlObligation.select().join(Control).switch(ControlObligation).join(Obligation).join(Framework)
            .where(Control.code == code, Framework.code == framework, Obligation.ref == ref).get())


def test_corrected_library_loads_as_a_new_version_over_the_old_one(clean_db, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(DEFAULT_DIRECTORY, old, ignore=shutil.ignore_patterns("README.md"))
    _pre_review_library(old)
    assert load_library(str(old)).version == 1
    assert _mapping("GV-04", "CPS230", "21").coverage == "full"
    result = load_library()  # the shipped, corrected library
    assert (result.version, result.changed) == (2, True)
    assert _mapping("GV-04", "CPS230", "21").retired_in == 2        # moved to GV-03
    assert _mapping("GV-03", "CPS230", "21").retired_in is None
    assert _mapping("SP-08", "CPS230", "55").retired_in == 2        # removed
    assert _mapping("IR-07", "PRIVACY-AU", "s26WQ").retired_in == 2  # not provable
    s26wq = Obligation.get(Obligation.ref == "s26WQ")
    assert (s26wq.provable, s26wq.changed_in, s26wq.retired_in) == (False, 2, None)
    new = Obligation.select().join(Framework).where(Framework.code == "CPS230", Obligation.ref == "27(b)").get()
    assert (new.introduced_in, new.verification) == (2, "verified")  # the 2023 paragraph (its 2026 number apart)
    pc05 = Control.get(Control.code == "PC-05")
    assert (pc05.introduced_in, pc05.retired_in) == (2, None)
    assert _mapping("PC-05", "PCIDSS-4.0.1", "12.4.1").note.startswith("the PCI DSS compliance programme charter")
    assert {Control.get(Control.code == code).changed_in for code in ("GV-04", "GV-03", "SP-08", "IR-07")} == {2}
    assert Control.get(Control.code == "AC-01").changed_in == 1      # untouched items keep their version
    summary = json.loads(LibraryVersion.get(LibraryVersion.number == 2).summary)
    assert summary["controls"] == {"added": 1, "changed": 6, "retired": 0}  # GV-03/04, SP-08, IR-07, BC-02/05
    assert summary["obligations"] == {"added": 2, "changed": 1, "retired": 0}  # 27(b), 12.4.1; s26WQ
    assert summary["mappings"] == {"added": 4, "changed": 0, "retired": 3}


CLIENT_HELD = {("BC-05", "critical-ops-register"), ("BC-06", "board-breach-report"), ("GV-04", "board-pack"),
               ("GV-19", "client-ia-plan"), ("GV-19", "client-ia-report"), ("GV-19", "ia-assurance-assessment"),
               ("IR-05", "apra-receipt"), ("IR-05", "materiality-assessment"), ("PR-01", "offshoring-gate"),
               ("PR-04", "pia"), ("PR-04", "privacy-policy"), ("SP-01", "reliance-memo"), ("SP-02", "dd-file"),
               ("SP-03", "clause-checklist"), ("SP-05", "sp-policy"), ("SP-06", "apra-register-receipt"),
               ("SP-06", "msp-register"), ("SP-08", "audit-report"), ("SP-10", "apra-arrangement-receipt"),
               ("SP-10", "ia-memo")}


def test_client_held_evidence_is_produced_by_the_client(shipped):
    """The client's Board reporting, its notices to APRA, its own register and its review of the provider are
    client-held; everything else, the provider's assurance pack included, is the provider's."""
    held = {(c.code, r.key) for c in shipped.controls.values() for r in c.requirements if r.produced_by == "client"}
    assert held == CLIENT_HELD
    assert {r.produced_by for r in shipped.controls["SP-01"].requirements} == {"provider", "client"}


@pytest.mark.parametrize(("text", "hidden", "reads"), [
    ("the acquirer and brands are notified per their rules (PCI-BRAND clock) and a PFI engaged",
     ["PCI-BRAND"], "the acquirer and brands are notified per their rules and a PFI engaged"),
    ("APRA is notified within 20 business days (CPS230-ARRANGEMENT clock).", ["CPS230-ARRANGEMENT"],
     "APRA is notified within 20 business days."),
    ("clocks start (CPS234-35, CPS230-INCIDENT)", ["CPS234-35"], "clocks start (CPS230-INCIDENT)"),
    ("see CPS234 and CPS230 for the rules", ["CPS234"], "see CPS230 for the rules"),
    ("kept (CPS234-35 clock) as is", [], "kept (CPS234-35 clock) as is"),
])
def test_prose_without_hidden_names_reads_as_a_sentence(text, hidden, reads):
    """An auditor's library prose loses the names outside its grant and the punctuation they leave behind:
    no empty "( clock)" where a hidden rule's clock was named."""
    assert without_names(text, hidden) == reads


def _before_own_frameworks(library) -> None:
    """The library as it was before the card brands' rules and the optional regimes' Acts had frameworks of their
    own: the brand clocks on PCI DSS 12.10.1, the ASD reports inside CPS 234."""
    for name in ("card_brands.yaml", "soci.yaml", "cyber_security_act.yaml"):
        (library / "frameworks" / name).unlink()
    with (library / "frameworks" / "cps234.yaml").open("a", encoding="utf-8") as handle:
        handle.write('  - {ref: "SOCI-30BC", title: "SOCI: report a significant incident within 12 hours", '
                     'frequency: "event", verification: verified}\n'
                     '  - {ref: "SOCI-30BD", title: "SOCI: report a relevant incident within 72 hours", '
                     'frequency: "event", verification: verified}\n'
                     '  - {ref: "CSA-27", title: "Report a ransomware payment within 72 hours", '
                     'frequency: "event", verification: secondary}\n')
    incident = library / "common" / "incident.yaml"
    text = incident.read_text(encoding="utf-8")
    start, end = text.index("      SOCI:\n"), text.index("      CPS230: {\"33\": full")
    text = text[:start] + text[end:]
    text = text.replace('      CPS234: {"35": full, "36": full}\n', '      CPS234: {"35": full, "36": full, '
                        'SOCI-30BC: partial, SOCI-30BD: partial, CSA-27: partial}\n')
    start, end = text.index("      CARD-BRANDS:\n"), text.index("    evidence:\n      - key: acquirer-notice")
    incident.write_text(text[:start] + '      PCIDSS-4.0.1: {"12.10.1": partial}\n' + text[end:], encoding="utf-8")
    drop_review_lines(library, "IR-08 ")
    rules = library / "clock_rules.yaml"
    text = rules.read_text(encoding="utf-8")
    for ref in ("VISA-NOTICE", "VISA-REPORT", "VISA-ACCOUNTS"):
        text = text.replace(f"    framework: CARD-BRANDS\n    obligation: {ref}\n",
                            '    framework: PCIDSS-4.0.1\n    obligation: "12.10.1"\n')
    for ref, old in (("SOCI\n    obligation: s30BC", "SOCI-30BC"), ("SOCI\n    obligation: s30BD", "SOCI-30BD"),
                     ("CSA-2024\n    obligation: s27", "CSA-27")):
        text = text.replace(f"    framework: {ref}\n", f"    framework: CPS234\n    obligation: {old}\n")
    rules.write_text(text, encoding="utf-8")


def test_own_frameworks_load_as_a_new_version_over_the_old_library_keeping_its_history(clean_db, library_copy):
    _before_own_frameworks(library_copy)
    assert load_library(str(library_copy)).version == 1
    result = load_library()
    assert (result.version, result.changed) == (2, True)
    assert {f.code: f.introduced_in for f in Framework.select().where(Framework.introduced_in == 2)} == {
        "CARD-BRANDS": 2, "SOCI": 2, "CSA-2024": 2}
    cps234 = Framework.get(Framework.code == "CPS234")
    retired = {o.ref: o.retired_in for o in Obligation.select().where(Obligation.framework == cps234,
                                                                        Obligation.retired_in.is_null(False))}
    assert retired == {"SOCI-30BC": 2, "SOCI-30BD": 2, "CSA-27": 2}  # kept, not deleted
    brand = ClockRule.get(ClockRule.rule_id == "PCI-BRAND")
    assert (brand.framework_code, brand.obligation_ref) == ("CARD-BRANDS", "VISA-NOTICE")
    assert ClockRule.get(ClockRule.rule_id == "SOCI-30BC").framework_code == "SOCI"
    old_anchor = (ControlObligation.select().join(Obligation).switch(ControlObligation).join(Control)
                  .where(Control.code == "IR-08", Obligation.ref == "12.10.1").get())
    assert old_anchor.retired_in == 2
    assert Control.get(Control.code == "IR-08").changed_in == 2
