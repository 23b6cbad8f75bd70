"""Validation of the library's files: every item's keys, types, limits and references, collecting EVERY
problem as ``file:line: message`` instead of stopping at the first."""
from __future__ import annotations

import difflib
import os
import re
from typing import Any

import yaml

from domain.recurrence import parse_frequency

from .parse import LineDict, _Loader
from .review import ReviewChecks
from .spec import (
    AWARE_PARTIES,
    CHANGE_KINDS,
    CLOCK_CALENDARS,
    CLOCK_STARTS,
    CLOCK_UNITS,
    COMMON_DIR,
    COVERAGES,
    FRAMEWORK_DIR,
    FRAMEWORK_REQUIRES,
    INCIDENT_CATEGORIES,
    INCIDENT_FLAGS,
    PRODUCERS,
    REQUIRES,
    VERIFICATIONS,
    ClockRuleSpec,
    ControlSpec,
    FrameworkSpec,
    Library,
    MappingSpec,
    ObligationSpec,
    Problem,
    RequirementSpec,
)

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$", re.I)
# Column limits of models/library.py, checked here so a load never fails half-way.
_MAX = {"code": 20, "ref": 40, "obligation_title": 300, "title": 200, "domain": 60, "key": 60,
        "rule": 40, "framework_code": 40}
# Allowed keys per item kind: name -> required?
_FILE_KEYS = {"framework": {"framework": True, "obligations": True},
              "common": {"controls": True},
              "clock": {"clock_rules": True}}
_FRAMEWORK_KEYS = {"code": True, "title": True, "version": True, "description": False, "requires": False}
_OBLIGATION_KEYS = {"ref": True, "title": True, "parent": False, "alt_ref": False, "alt_ref_verification": False,
                    "frequency": False, "verification": False, "provable": False, "note": False}
_CONTROL_KEYS = {"code": True, "title": True, "description": False, "domain": False, "frequency": True,
                 "requires": False, "triggers": False, "maps": False, "evidence": False}  # maps/evidence: own messages
_MAPPING_KEYS = {"coverage": True, "note": False}
_REQUIREMENT_KEYS = {"key": True, "name": True, "types": True, "validity_days": True, "produced_by": False}
_RULE_KEYS = {"rule": True, "title": True, "framework": True, "obligation": True, "trigger": True,
              "start": True, "duration": False, "unit": True, "internal_target_hours": False,
              "notify": True, "note": False, "verification": False, "calendar": False}
_TRIGGER_KEYS = ("categories", "any_flags", "flags", "at_least_one_flag", "aware_party", "manual", "engagement")


class Checker(ReviewChecks):
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
                             requires=self.choice(rel, head, "requires", FRAMEWORK_REQUIRES, f"framework {code}"),
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
        alt_ref = self.text(rel, item, "alt_ref", what, _MAX["ref"]) or None
        alt_verification = self.choice(rel, item, "alt_ref_verification", VERIFICATIONS, what)
        if alt_verification and not alt_ref:
            self.problem(rel, item.line_of("alt_ref_verification"), f"{what} has alt_ref_verification without alt_ref")
        spec.obligations[ref] = ObligationSpec(
            framework=spec.code, ref=ref, title=self.text(rel, item, "title", what, _MAX["obligation_title"]),
            parent_ref=self.text(rel, item, "parent", what, _MAX["ref"]) or None,
            alt_ref=alt_ref, alt_ref_verification=alt_verification,
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
        self.validity_within_interval(rel, spec)
        self.library.controls[code] = spec

    def validity_within_interval(self, rel: str, spec: ControlSpec) -> None:
        """Evidence never outlives its control's interval: proof of an annual test is stale after 12 months, of a
        quarterly scan after 3 (the engagement's grace is added when evidence is accepted, not here)."""
        try:
            longest = parse_frequency(spec.frequency).longest_days()
        except ValueError:  # reported with the frequency
            return
        for requirement in spec.requirements:
            if longest is not None and requirement.validity_days > longest:
                self.problem(rel, requirement.line,
                             f"validity_days {requirement.validity_days} of evidence requirement '{requirement.key}' "
                             f"of control {spec.code} outlives its {spec.frequency} interval: at most {longest} days "
                             "(the engagement's grace is added when evidence is accepted)")

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
        calendar = self.choice(rel, item, "calendar", CLOCK_CALENDARS, what)
        if calendar and unit != "business_days":
            self.problem(rel, item.line_of("calendar"),
                         f"{what} names a calendar but counts {unit}: only business_days rules count by a calendar")
        self.library.clock_rules[rule_id] = ClockRuleSpec(
            rule_id=rule_id, title=self.text(rel, item, "title", what, 200), framework=framework,
            obligation=obligation, trigger=self.trigger(rel, item, what),
            start=self.choice(rel, item, "start", CLOCK_STARTS, what), duration=duration, unit=unit,
            notify=self.text(rel, item, "notify", what, 100), internal_target_hours=target,
            note=self.text(rel, item, "note", what, 300),
            verification=self.choice(rel, item, "verification", VERIFICATIONS, what), calendar=calendar,
            file=rel, line=item.line)

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


def _close(word: Any, candidates) -> str:
    """' (did you mean 'x'?)' for typos such as ``evidnce``."""
    match = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.75)
    return f" (did you mean '{match[0]}'?)" if match else ""
