"""The control library: read and validate the YAML files under ``controls/``.

Pure domain code (no Flask, no database). ``read_library(directory)`` parses

* ``frameworks/*.yaml`` — one framework and its obligations per file,
* ``common/*.yaml``     — the common control set, with mappings and evidence requirements,
* ``clock_rules.yaml``  — regulatory / contractual notification clocks,

keeps the file and line of every item, checks the whole library and raises
``LibraryError`` listing EVERY problem as ``file:line: message`` (paths relative to the
library directory). See ``controls/README.md`` for the formats and the rules.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from domain.recurrence import parse_frequency

FRAMEWORK_DIR = "frameworks"
COMMON_DIR = "common"
CLOCK_RULES_FILE = "clock_rules.yaml"
REVIEW_FILE = "REVIEW.md"  # one reviewed reason per `full` mapping (see controls/README.md)

COVERAGES = ("full", "partial")
VERIFICATIONS = ("verified", "secondary", "unverified")
REQUIRES = ("card_payments", "offshore")
CLOCK_UNITS = ("hours", "business_days", "calendar_days", "asap")
# aware_at: the finder's own awareness (contract tier); client_aware_at: the regulated entity's (regulatory
# tier); outside_tolerance_at: CPS 230 para 42; concluded_at: an eligible NDB assessment; agreement_date:
# started by its subject (e.g. a sub-contractor arrangement), never by an incident.
CLOCK_STARTS = ("aware_at", "client_aware_at", "occurred_at", "outside_tolerance_at", "concluded_at", "agreement_date")
CHANGE_KINDS = ("significant_change", "new_subcontractor", "offshoring")
INCIDENT_CATEGORIES = ("security_incident", "personal_information_breach", "control_weakness",
                       "operational_disruption", "card_data_compromise")
INCIDENT_FLAGS = ("material", "personal_information", "card_data", "outside_tolerance",
                  "cannot_remediate_timely", "notified_other_regulator")
AWARE_PARTIES = ("client", "provider")

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$", re.I)
_DIGITS = re.compile(r"(\d+)")

# Column limits of models/library.py, checked here so a load never fails half-way.
_MAX = {"code": 20, "ref": 40, "obligation_title": 300, "title": 200, "domain": 60, "key": 60,
        "rule": 40, "framework_code": 40}

# Allowed keys per item kind: name -> required?
_FILE_KEYS = {"framework": {"framework": True, "obligations": True},
              "common": {"controls": True},
              "clock": {"clock_rules": True}}
_FRAMEWORK_KEYS = {"code": True, "title": True, "version": True, "description": False}
_OBLIGATION_KEYS = {"ref": True, "title": True, "parent": False, "alt_ref": False, "frequency": False,
                    "verification": False, "provable": False, "note": False}
_CONTROL_KEYS = {"code": True, "title": True, "description": False, "domain": False, "frequency": True,
                 "requires": False, "triggers": False, "maps": False, "evidence": False}  # maps/evidence: own messages
_MAPPING_KEYS = {"coverage": True, "note": False}
_REQUIREMENT_KEYS = {"key": True, "name": True, "types": True, "validity_days": True, "produced_by": False}
PRODUCERS = ("provider", "client")  # who uploads a requirement's evidence (SPEC §2); provider by default
_RULE_KEYS = {"rule": True, "title": True, "framework": True, "obligation": True, "trigger": True,
              "start": True, "duration": False, "unit": True, "internal_target_hours": False,
              "notify": True, "note": False, "verification": False}
_TRIGGER_KEYS = ("categories", "any_flags", "flags", "at_least_one_flag", "aware_party", "manual")


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
    frequency: str = ""
    verification: str = ""
    provable: bool = True
    note: str = ""
    file: str = ""
    line: int = 0

    @property
    def sort_key(self) -> str:
        return ref_sort_key(self.ref)


@dataclass
class FrameworkSpec:
    code: str
    title: str
    version: str
    description: str = ""
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


# --------------------------------------------------------------------------- YAML with lines

class LineDict(dict):
    """A YAML mapping that remembers its own line and the line of each key."""
    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[Any, int] = {}
        self.duplicates: list[tuple[Any, int]] = []

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    line: int = 0


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parser when available


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that records lines and never reads ``12.10`` as the float 12.1."""


# Only plain decimals are integers: YAML 1.1 would also read 010 (octal), 0x1A and 1:30
# (base 60) as numbers and silently renumber a ref.
_INT = "tag:yaml.org,2002:int"
_PLAIN_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_Loader.yaml_implicit_resolvers = {
    first: [(tag, _PLAIN_INT if tag == _INT else rx) for tag, rx in resolvers
            if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, bool)) and key is not None:
            key = str(key)
        line = key_node.start_mark.line + 1
        if key in mapping:
            mapping.duplicates.append((key, line))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines.setdefault(key, line)
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    items = LineList(loader.construct_object(child, deep=True) for child in node.value)
    items.line = node.start_mark.line + 1
    return items


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


# --------------------------------------------------------------------------- reading

def _library_files(directory: str) -> list[str]:
    """Relative paths (``/``-separated) of every library YAML file, sorted."""
    found = []
    for sub in (FRAMEWORK_DIR, COMMON_DIR):
        path = os.path.join(directory, sub)
        if os.path.isdir(path):
            found += [f"{sub}/{name}" for name in os.listdir(path) if name.endswith((".yaml", ".yml"))]
    if os.path.isfile(os.path.join(directory, CLOCK_RULES_FILE)):
        found.append(CLOCK_RULES_FILE)
    return sorted(found)


def _digested_files(directory: str, files: list[str]) -> list[str]:
    """The YAML files plus REVIEW.md: a changed reason is a changed library."""
    return files + ([REVIEW_FILE] if os.path.isfile(os.path.join(directory, REVIEW_FILE)) else [])


def library_digest(directory: str, files: list[str] | None = None) -> str:
    """sha256 over the sorted relative paths and contents of the library files (REVIEW.md included)."""
    digest = hashlib.sha256()
    for rel in _digested_files(directory, files if files is not None else _library_files(directory)):
        with open(os.path.join(directory, rel), "rb") as handle:
            content = handle.read()
        digest.update(rel.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
    return digest.hexdigest()


def read_library(directory: str) -> Library:
    """Parse and validate the library in ``directory``; LibraryError lists every problem."""
    directory = os.path.abspath(directory)
    files = _library_files(directory)
    checker = _Checker(Library(directory=directory, digest=library_digest(directory, files)))
    if not any(f.startswith(FRAMEWORK_DIR + "/") for f in files):
        checker.problem(FRAMEWORK_DIR, 0, "no framework files found (frameworks/*.yaml)")
    documents = {rel: checker.parse(directory, rel) for rel in files}
    for rel, document in documents.items():
        if document is None and rel not in checker.failed:
            checker.problem(rel, 1, "file is empty")
    for kind, prefix in (("framework", FRAMEWORK_DIR + "/"), ("common", COMMON_DIR + "/"),
                         ("clock", CLOCK_RULES_FILE)):
        for rel, document in documents.items():
            if rel.startswith(prefix) and document is not None:
                checker.file(kind, rel, document)
    checker.check_coverage()
    checker.check_review(directory)
    if checker.problems:
        raise LibraryError(sorted(checker.problems, key=lambda p: (p.file, p.line, p.message)))
    return checker.library


# --------------------------------------------------------------------------- validation

class _Checker:
    """Builds the Library while collecting every problem."""

    def __init__(self, library: Library):
        self.library = library
        self.problems: list[Problem] = []
        self.broken: set[str] = set()  # "framework" / "common" when a file of that kind did not parse
        self.failed: set[str] = set()  # files that did not parse

    def problem(self, file: str, line: int, message: str) -> None:
        self.problems.append(Problem(file, line, message))

    # ---- files

    def parse(self, directory: str, rel: str) -> Any:
        try:
            with open(os.path.join(directory, rel), encoding="utf-8") as handle:
                return yaml.load(handle, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            detail = getattr(exc, "problem", None) or str(exc)
            self.problem(rel, mark.line + 1 if mark else 0, f"YAML syntax error: {detail}")
        except UnicodeDecodeError as exc:
            self.problem(rel, 0, f"file is not UTF-8: {exc}")
        self.failed.add(rel)
        self.broken.add("framework" if rel.startswith(FRAMEWORK_DIR) else
                        "common" if rel.startswith(COMMON_DIR) else "clock")
        return None

    def file(self, kind: str, rel: str, document: Any) -> None:
        if not isinstance(document, LineDict):
            self.problem(rel, getattr(document, "line", 1),
                         f"expected a mapping with {' and '.join(_FILE_KEYS[kind])}")
            return
        self.keys(rel, document, _FILE_KEYS[kind], "file")
        if kind == "framework":
            self.framework(rel, document)
        elif kind == "common":
            for item in self.items(rel, document, "controls"):
                self.control(rel, item)
        else:
            for item in self.items(rel, document, "clock_rules"):
                self.clock_rule(rel, item)

    def items(self, rel: str, document: LineDict, key: str) -> list[LineDict]:
        if key not in document:  # reported by keys()
            return []
        value = document[key]
        if not isinstance(value, list):
            self.problem(rel, document.line_of(key), f"'{key}' must be a list")
            return []
        good = [item for item in value if isinstance(item, LineDict)]
        if len(good) != len(value):
            self.problem(rel, document.line_of(key), f"every entry of '{key}' must be a mapping")
        return good

    # ---- generic helpers

    def keys(self, rel: str, item: LineDict, allowed: dict[str, bool], what: str) -> bool:
        """Unknown, duplicate and missing keys. False when a required key is missing."""
        for key, line in item.duplicates:
            self.problem(rel, line, f"duplicate key '{key}' in {what}")
        for key in item:
            if key not in allowed:
                hint = _close(key, allowed)
                self.problem(rel, item.line_of(key), f"unknown key '{key}' in {what}" + hint)
        missing = [k for k, required in allowed.items() if required and item.get(k) in (None, "", [])]
        for key in missing:
            self.problem(rel, item.line, f"{what} is missing '{key}'")
        return not missing

    def text(self, rel: str, item: LineDict, key: str, what: str, limit: int | None = None,
             default: str = "") -> str:
        value = item.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problem(rel, item.line_of(key), f"'{key}' of {what} must be text")
            return default
        value = str(value).strip()
        if limit and len(value) > limit:
            self.problem(rel, item.line_of(key), f"'{key}' of {what} is longer than {limit} characters")
        return value

    def choice(self, rel: str, item: LineDict, key: str, allowed: tuple, what: str) -> str:
        value = self.text(rel, item, key, what)
        if value and value not in allowed:
            self.problem(rel, item.line_of(key),
                         f"bad {key} '{value}' in {what}: use one of {', '.join(allowed)}")
        return value

    def positive_int(self, rel: str, item: LineDict, key: str, what: str, allow_zero: bool = False) -> int | None:
        value = item.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
            bound = ">= 0" if allow_zero else "> 0"
            self.problem(rel, item.line_of(key), f"'{key}' of {what} must be a whole number {bound}, not {value!r}")
            return None
        return value

    # ---- frameworks

    def framework(self, rel: str, document: LineDict) -> None:
        head = document.get("framework")
        if head is None:  # reported by keys()
            return
        if not isinstance(head, LineDict):
            self.problem(rel, document.line_of("framework"), "'framework' must be a mapping")
            return
        if not self.keys(rel, head, _FRAMEWORK_KEYS, "framework"):
            return
        code = self.text(rel, head, "code", "framework", _MAX["framework_code"])
        if code in self.library.frameworks:
            first = self.library.frameworks[code]
            self.problem(rel, head.line_of("code"),
                         f"duplicate framework code '{code}' (first in {first.file}:{first.line})")
            return
        spec = FrameworkSpec(code=code, title=self.text(rel, head, "title", "framework", 200),
                             version=self.text(rel, head, "version", "framework", 40),
                             description=self.text(rel, head, "description", "framework"),
                             file=rel, line=head.line_of("code"))
        self.library.frameworks[code] = spec
        for item in self.items(rel, document, "obligations"):
            self.obligation(rel, spec, item)
        for ob in spec.obligations.values():
            if ob.parent_ref and ob.parent_ref not in spec.obligations:
                self.problem(rel, ob.line, f"unknown parent ref '{ob.parent_ref}' for {code} {ob.ref}")

    def obligation(self, rel: str, spec: FrameworkSpec, item: LineDict) -> None:
        if not self.keys(rel, item, _OBLIGATION_KEYS, "obligation"):
            return
        ref = self.text(rel, item, "ref", "obligation", _MAX["ref"])
        what = f"{spec.code} {ref}"
        if ref in spec.obligations:
            first = spec.obligations[ref]
            self.problem(rel, item.line, f"duplicate ref '{ref}' in {spec.code} (first at line {first.line})")
            return
        provable = item.get("provable", True)
        if not isinstance(provable, bool):
            self.problem(rel, item.line_of("provable"), f"'provable' of {what} must be true or false")
            provable = True
        note = self.text(rel, item, "note", what)
        if not provable and not note:
            self.problem(rel, item.line_of("provable"), f"{what} is provable: false without a note saying why")
        spec.obligations[ref] = ObligationSpec(
            framework=spec.code, ref=ref, title=self.text(rel, item, "title", what, _MAX["obligation_title"]),
            parent_ref=self.text(rel, item, "parent", what, _MAX["ref"]) or None,
            alt_ref=self.text(rel, item, "alt_ref", what, _MAX["ref"]) or None,
            frequency=self.text(rel, item, "frequency", what, 100),
            verification=self.choice(rel, item, "verification", VERIFICATIONS, what),
            provable=provable, note=note, file=rel, line=item.line)

    # ---- controls

    def control(self, rel: str, item: LineDict) -> None:
        self.keys(rel, item, _CONTROL_KEYS, "control")
        code = self.text(rel, item, "code", "control", _MAX["code"])
        if not code:
            return
        if code in self.library.controls:
            first = self.library.controls[code]
            self.problem(rel, item.line_of("code"),
                         f"duplicate control code '{code}' (first in {first.file}:{first.line})")
            return
        what = f"control {code}"
        frequency = self.text(rel, item, "frequency", what, 200)
        if frequency:
            try:
                parse_frequency(frequency)
            except ValueError as exc:
                self.problem(rel, item.line_of("frequency"), f"bad frequency in {what}: {exc}")
        spec = ControlSpec(code=code, title=self.text(rel, item, "title", what, _MAX["title"]),
                           frequency=frequency, description=self.text(rel, item, "description", what),
                           domain=self.text(rel, item, "domain", what, _MAX["domain"]),
                           requires=self.choice(rel, item, "requires", REQUIRES, what),
                           triggers=self.change_triggers(rel, item, what),
                           file=rel, line=item.line_of("code"))
        spec.mappings = self.mappings(rel, item, what)
        spec.requirements = self.requirements(rel, item, what)
        self.library.controls[code] = spec

    def change_triggers(self, rel: str, item: LineDict, what: str) -> list[str]:
        """``triggers``: the change events that also call for this control's evidence."""
        value = item.get("triggers")
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(rel, item.line_of("triggers"), f"'triggers' of {what} must be a list of change kinds")
            return []
        for kind in value:
            if kind not in CHANGE_KINDS:
                self.problem(rel, item.line_of("triggers"),
                             f"unknown change kind '{kind}' in {what}: use {', '.join(CHANGE_KINDS)}"
                             + _close(kind, CHANGE_KINDS))
        return sorted(set(value))

    def mappings(self, rel: str, item: LineDict, what: str) -> list[MappingSpec]:
        maps = item.get("maps")
        if maps is None:
            self.problem(rel, item.line_of("maps"), f"{what} maps no obligation (add 'maps')")
            return []
        if not isinstance(maps, LineDict):
            self.problem(rel, item.line_of("maps"), f"'maps' of {what} must be a mapping of framework code to refs")
            return []
        result = []
        for framework, refs in maps.items():
            result += self.framework_mappings(rel, maps, str(framework), refs, what)
        for key, line in maps.duplicates:
            self.problem(rel, line, f"duplicate framework '{key}' in maps of {what}")
        return result

    def framework_mappings(self, rel: str, maps: LineDict, framework: str, refs: Any, what: str) -> list[MappingSpec]:
        line = maps.line_of(framework)
        spec = self.library.frameworks.get(framework)
        if spec is None:
            if "framework" not in self.broken:
                self.problem(rel, line,
                             f"unknown framework '{framework}' in {what}" + _close(framework, self.library.frameworks))
            return []
        if not isinstance(refs, LineDict) or not refs:
            self.problem(rel, line, f"maps of {what} for {framework} must be a mapping of ref to full|partial")
            return []
        for key, dup_line in refs.duplicates:
            self.problem(rel, dup_line, f"duplicate ref '{key}' for {framework} in {what}")
        result = []
        for ref, value in refs.items():
            ref, ref_line = str(ref), refs.line_of(ref)
            coverage, note = self.coverage(rel, value, f"{framework} {ref} in {what}", ref_line)
            if ref not in spec.obligations:
                self.problem(rel, ref_line, f"unknown obligation ref '{ref}' in {framework} ({what})")
            elif coverage not in COVERAGES:
                self.problem(rel, ref_line,
                             f"bad coverage '{coverage}' for {framework} {ref} in {what}: use full or partial")
            else:
                result.append(MappingSpec(framework, ref, coverage, ref_line, note=note))
        return result

    def coverage(self, rel: str, value: Any, what: str, line: int) -> tuple[Any, str]:
        """A mapping's value: ``full`` / ``partial``, or ``{coverage: partial, note: why}``."""
        if not isinstance(value, LineDict):
            return value, ""
        self.keys(rel, value, _MAPPING_KEYS, f"mapping {what}")
        return value.get("coverage"), self.text(rel, value, "note", f"mapping {what}", 300)

    def requirements(self, rel: str, item: LineDict, what: str) -> list[RequirementSpec]:
        evidence = item.get("evidence")
        if evidence is None:
            self.problem(rel, item.line_of("evidence"), f"{what} has no evidence requirements")
            return []
        if not isinstance(evidence, list) or not evidence:
            self.problem(rel, item.line_of("evidence"), f"{what} has no evidence requirements (need a list)")
            return []
        result: dict[str, RequirementSpec] = {}
        for entry in evidence:
            if not isinstance(entry, LineDict):
                self.problem(rel, getattr(evidence, "line", item.line),
                             f"evidence requirement of {what} must be a mapping")
                continue
            requirement = self.requirement(rel, entry, what)
            if requirement and requirement.key in result:
                self.problem(rel, entry.line, f"duplicate evidence key '{requirement.key}' in {what}")
            elif requirement:
                result[requirement.key] = requirement
        return list(result.values())

    def requirement(self, rel: str, entry: LineDict, what: str) -> RequirementSpec | None:
        label = f"evidence requirement of {what}"
        ok = self.keys(rel, entry, _REQUIREMENT_KEYS, label)
        types = entry.get("types")
        if types is not None:
            if not isinstance(types, list) or not types:
                self.problem(rel, entry.line_of("types"), f"'types' of {label} must be a non-empty list of media types")
                types = []
            for media_type in types:
                if not isinstance(media_type, str) or not _MEDIA_TYPE.match(media_type):
                    self.problem(rel, entry.line_of("types"), f"bad media type {media_type!r} in {label}")
        validity = entry.get("validity_days")
        if validity is not None and (isinstance(validity, bool) or not isinstance(validity, int) or validity <= 0):
            self.problem(rel, entry.line_of("validity_days"),
                         f"validity_days of {label} must be a whole number > 0, not {validity!r}")
            ok = False
        produced_by = entry.get("produced_by", "provider")
        if produced_by not in PRODUCERS:
            self.problem(rel, entry.line_of("produced_by"),
                         f"produced_by of {label} must be provider or client, not {produced_by!r}")
            ok = False
        if not ok:
            return None
        return RequirementSpec(key=self.text(rel, entry, "key", label, _MAX["key"]),
                               name=self.text(rel, entry, "name", label, _MAX["title"]),
                               types=[str(t) for t in types], validity_days=validity, produced_by=produced_by,
                               file=rel, line=entry.line)

    # ---- clock rules

    def clock_rule(self, rel: str, item: LineDict) -> None:
        if not self.keys(rel, item, _RULE_KEYS, "clock rule"):
            return
        rule_id = self.text(rel, item, "rule", "clock rule", _MAX["rule"])
        what = f"clock rule {rule_id}"
        if rule_id in self.library.clock_rules:
            first = self.library.clock_rules[rule_id]
            self.problem(rel, item.line_of("rule"), f"duplicate clock rule '{rule_id}' (first at line {first.line})")
            return
        framework = self.text(rel, item, "framework", what)
        obligation = self.text(rel, item, "obligation", what)
        self.rule_target(rel, item, framework, obligation, what)
        unit = self.choice(rel, item, "unit", CLOCK_UNITS, what)
        duration = self.positive_int(rel, item, "duration", what)
        target = self.positive_int(rel, item, "internal_target_hours", what, allow_zero=True)
        if unit == "asap" and target is None:
            self.problem(rel, item.line_of("unit"), f"{what} is 'asap' and needs internal_target_hours")
        if unit in CLOCK_UNITS and unit != "asap" and item.get("duration") is None:
            self.problem(rel, item.line, f"{what} needs a duration (in {unit})")
        self.library.clock_rules[rule_id] = ClockRuleSpec(
            rule_id=rule_id, title=self.text(rel, item, "title", what, 200), framework=framework,
            obligation=obligation, trigger=self.trigger(rel, item, what),
            start=self.choice(rel, item, "start", CLOCK_STARTS, what), duration=duration, unit=unit,
            notify=self.text(rel, item, "notify", what, 100), internal_target_hours=target,
            note=self.text(rel, item, "note", what, 300),
            verification=self.choice(rel, item, "verification", VERIFICATIONS, what), file=rel, line=item.line)

    def rule_target(self, rel: str, item: LineDict, framework: str, obligation: str, what: str) -> None:
        spec = self.library.frameworks.get(framework)
        if spec is None:
            if "framework" not in self.broken:
                self.problem(rel, item.line_of("framework"), f"unknown framework '{framework}' in {what}")
        elif obligation not in spec.obligations:
            self.problem(rel, item.line_of("obligation"),
                         f"unknown obligation ref '{obligation}' in {framework} ({what})")

    def trigger(self, rel: str, item: LineDict, what: str) -> dict:
        trigger = item.get("trigger")
        line = item.line_of("trigger")
        if not isinstance(trigger, LineDict):
            self.problem(rel, line, f"trigger of {what} must be a mapping")
            return {}
        for key in trigger:
            if key not in _TRIGGER_KEYS:
                self.problem(rel, trigger.line_of(key),
                             f"unknown key '{key}' in trigger of {what}" + _close(key, _TRIGGER_KEYS))
        for key, noun, allowed in (("categories", "category", INCIDENT_CATEGORIES),
                                   ("any_flags", "flag", INCIDENT_FLAGS), ("flags", "flag", INCIDENT_FLAGS),
                                   ("at_least_one_flag", "flag", INCIDENT_FLAGS)):
            values = trigger.get(key) or []
            if not isinstance(values, list):
                self.problem(rel, trigger.line_of(key), f"trigger {key} of {what} must be a list")
                continue
            for value in values:
                if value not in allowed:
                    self.problem(rel, trigger.line_of(key), f"unknown {noun} '{value}' in trigger of {what}")
        party = trigger.get("aware_party")
        if party is not None and party not in AWARE_PARTIES:
            self.problem(rel, trigger.line_of("aware_party"),
                         f"bad aware_party '{party}' in trigger of {what}: use client or provider")
        if not trigger.get("manual") and not any(trigger.get(k) for k in ("categories", "any_flags", "flags",
                                                                          "at_least_one_flag")):
            self.problem(rel, line, f"trigger of {what} needs categories, flags or manual: true")
        return {k: (list(v) if isinstance(v, list) else v) for k, v in trigger.items()}

    # ---- whole library

    def check_coverage(self) -> None:
        """Every provable obligation must be mapped by at least one control."""
        if "common" in self.broken:
            return
        mapped = {(m.framework, m.ref) for c in self.library.controls.values() for m in c.mappings}
        for spec in self.library.frameworks.values():
            for ob in spec.obligations.values():
                if ob.provable and (spec.code, ob.ref) not in mapped:
                    self.problem(ob.file, ob.line, f"unmapped obligation {spec.code} {ob.ref}: no control maps it")


    def check_review(self, directory: str) -> None:
        """REVIEW.md and the data agree: every `full` mapping has exactly one reason line, and every
        line names a mapping that is `full` (a stale line is as wrong as a missing one)."""
        if "common" in self.broken or "framework" in self.broken:
            return
        full = {(c.code, m.framework, m.ref): (c, m) for c in self.library.controls.values()
                for m in c.mappings if m.coverage == "full"}
        path = os.path.join(directory, REVIEW_FILE)
        if not os.path.isfile(path):
            if full:
                self.problem(REVIEW_FILE, 0, f"missing: {len(full)} full mappings need their one-line reason here")
            return
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        seen: dict[tuple, int] = {}
        for number, line in enumerate(lines, 1):
            key = self.review_line(number, line, full, seen)
            if key is not None:
                seen[key] = number
        for key, (control, mapping) in full.items():
            if key not in seen:
                self.problem(control.file, mapping.line, f"full mapping {' '.join(key)} has no reason in {REVIEW_FILE} "
                             f"(add '- {' '.join(key)}: <why the evidence alone proves it>')")

    def review_line(self, number: int, line: str, full: dict, seen: dict) -> tuple | None:
        """One line of REVIEW.md: '- CODE FRAMEWORK REF: reason'; other lines are prose."""
        if not line.startswith("- "):
            return None
        match = _REVIEW_LINE.match(line)
        if not match:
            self.problem(REVIEW_FILE, number, "expected '- CODE FRAMEWORK REF: reason'")
            return None
        key, reason = match.group(1, 2, 3), match.group(4).strip()
        label = " ".join(key)
        if key in seen:
            self.problem(REVIEW_FILE, number, f"duplicate review line for {label} (first at line {seen[key]})")
            return None
        if key not in full:
            control = self.library.controls.get(key[0])
            mapping = next((m for m in control.mappings if (m.framework, m.ref) == key[1:]), None) if control else None
            state = "does not exist" if mapping is None else f"is {mapping.coverage}"
            self.problem(REVIEW_FILE, number, f"stale review line: mapping {label} {state}, not full")
            return None
        if len(reason) > 300:
            self.problem(REVIEW_FILE, number, f"reason for {label} is longer than 300 characters")
        full[key][1].reason = reason
        return key


_REVIEW_LINE = re.compile(r"^- (\S+) (\S+) (\S+?): (\S.*)$")


def _close(word: Any, candidates) -> str:
    """' (did you mean 'x'?)' for typos such as ``evidnce``."""
    match = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.75)
    return f" (did you mean '{match[0]}'?)" if match else ""
