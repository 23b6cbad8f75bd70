"""The contr

The package by job: ``spec`` (the vocabulary and the parsed specs), ``parse`` (YAML with lines, the files,
the digest), ``validate`` (per-item checks), ``review`` (whole-library checks against ``REVIEW.md``).
"""
from __future__ import annotations

import os

from .parse import library_digest, library_files
from .spec import (
    AWARE_PARTIES,
    CHANGE_KINDS,
    CLOCK_CALENDARS,
    CLOCK_RULES_FILE,
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
    REVIEW_FILE,
    VERIFICATIONS,
    ClockRuleSpec,
    ControlSpec,
    FrameworkSpec,
    Library,
    LibraryError,
    MappingSpec,
    ObligationSpec,
    Problem,
    RequirementSpec,
    ref_sort_key,
    shown_alt_ref,
    stated_interval_days,
    trigger_matches,
    without_names,
)
from .validate import Checker

__all__ = ["AWARE_PARTIES", "CHANGE_KINDS", "CLOCK_CALENDARS", "CLOCK_RULES_FILE", "CLOCK_STARTS", "CLOCK_UNITS",
           "COMMON_DIR",
           "COVERAGES", "FRAMEWORK_DIR", "FRAMEWORK_REQUIRES", "INCIDENT_CATEGORIES", "INCIDENT_FLAGS", "PRODUCERS",
           "REQUIRES",
           "REVIEW_FILE", "VERIFICATIONS", "ClockRuleSpec", "ControlSpec", "FrameworkSpec", "Library",
           "LibraryError", "MappingSpec", "ObligationSpec", "Problem", "RequirementSpec", "library_digest",
           "read_library", "ref_sort_key", "shown_alt_ref", "stated_interval_days", "trigger_matches",
           "without_names"]


def read_library(directory: str) -> Library:
    """Parse and validate the library in ``directory``; LibraryError lists every problem."""
    directory = os.path.abspath(directory)
    files = library_files(directory)
    checker = Checker(Library(directory=directory, digest=library_digest(directory, files)))
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
    checker.check_intervals()
    checker.check_review(directory)
    if checker.problems:
        raise LibraryError(sorted(checker.problems, key=lambda p: (p.file, p.line, p.message)))
    return checker.library

