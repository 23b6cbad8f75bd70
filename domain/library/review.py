"""The library's whole-library checks: every provable obligation is mapped, and ``REVIEW.md`` gives exactly
one reviewed reason for every ``full`` mapping (and none for a mapping that is not full)."""
from __future__ import annotations

import os
import re

from domain.recurrence import parse_frequency

from .spec import REVIEW_FILE, Library, Problem, stated_interval_days


class ReviewChecks:
    """Mixed into the checker: needs ``library``, ``broken`` and ``problem()``."""

    library: Library
    broken: set[str]
    problems: list[Problem]

    def problem(self, file: str, line: int, message: str) -> None:
        self.problems.append(Problem(file, line, message))

    def check_coverage(self) -> None:
        """Every provable obligation must be mapped by at least one control."""
        if "common" in self.broken:
            return
        mapped = {(m.framework, m.ref) for c in self.library.controls.values() for m in c.mappings}
        for spec in self.library.frameworks.values():
            for ob in spec.obligations.values():
                if ob.provable and (spec.code, ob.ref) not in mapped:
                    self.problem(ob.file, ob.line, f"unmapped obligation {spec.code} {ob.ref}: no control maps it")


    def check_intervals(self) -> None:
        """A control that fully proves an obligation with a stated interval ("3 months", "12 months") is requested
        and its evidence stays valid no longer than that interval: its proof never outlives the standard's."""
        if "common" in self.broken or "framework" in self.broken:
            return
        for control in self.library.controls.values():
            try:
                longest = parse_frequency(control.frequency).longest_days()
            except ValueError:  # reported with the frequency
                continue
            validity = max((r.validity_days for r in control.requirements), default=0)
            for mapping in control.mappings:
                obligation = self.library.obligation(mapping.framework, mapping.ref)
                interval = stated_interval_days(obligation.frequency) if obligation else None
                if mapping.coverage != "full" or interval is None:
                    continue
                if longest is None or longest > interval or validity > interval:
                    self.problem(control.file, mapping.line,
                                 f"control {control.code} ({control.frequency}, evidence valid up to {validity} days) "
                                 f"fully proves {mapping.framework} {mapping.ref}, whose interval is "
                                 f"'{obligation.frequency}' (at most {interval} days)")

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
