"""Apply the control library (``controls/``) to the database, as a new version.

``load_library()`` reads and validates the YAML files (``domain.library``); a broken
library raises ``LibraryError`` and writes nothing. A valid library whose digest equals
the latest ``LibraryVersion`` is a no-op. Otherwise, in one transaction, a new
``LibraryVersion`` N is created and every item is upserted: new rows get
``introduced_in = changed_in = N``, changed rows ``changed_in = N``, rows missing from the
files ``retired_in = N`` (never deleted: evidence and history point at them), and rows
that come back ``retired_in = None``. Existing rows are bulk-fetched once per table.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import models
from domain.library import Library, read_library
from models import ClockRule, Control, ControlObligation, EvidenceRequirement, Framework, LibraryVersion, Obligation

from . import dashboard, planning

DEFAULT_DIRECTORY = str(Path(__file__).resolve().parents[2] / "controls")  # the repository's controls/
_CHUNK = 50  # rows per INSERT / IN (...) list, well under SQLite's variable limit


@dataclass
class LoadResult:
    version: int
    changed: bool
    counts: dict[str, Any]
    summary: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> added/changed/retired

    def describe(self) -> list[str]:
        """Human-readable lines for the ``load-controls`` command."""
        state = "applied as" if self.changed else "unchanged, still"
        lines = [f"Control library {state} version {self.version}"]
        counts = self.counts
        obligations = ", ".join(f"{code} {n}" for code, n in counts["obligations"].items())
        lines.append(f"  frameworks: {counts['frameworks']} ({obligations})")
        for key in ("controls", "mappings", "requirements", "clock_rules"):
            lines.append(f"  {key.replace('_', ' ')}: {counts[key]}")
        lines.append(f"  controls serving 3+ frameworks: {counts['controls_serving_3plus_frameworks']}")
        for kind, stats in self.summary.items():
            if any(stats.values()):
                lines.append(f"  {kind}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
        return lines


def load_library(directory: str | None = None) -> LoadResult:
    """Validate ``directory`` (default: the repository's ``controls/``) and apply it."""
    library = read_library(directory or DEFAULT_DIRECTORY)
    with models.transaction():
        latest = LibraryVersion.select().order_by(LibraryVersion.number.desc()).first()
        if latest is not None and latest.digest == library.digest:
            return LoadResult(version=latest.number, changed=False, counts=library.counts())
        number = (latest.number if latest else 0) + 1
        summary = _Sync(number).apply(library)
        dashboard.rebuild_tally()  # the dashboard's counts per framework follow the new mappings
        LibraryVersion.create(number=number, digest=library.digest,
                              summary=json.dumps(summary, sort_keys=True))
        planning.invalidate()  # frequencies, requirements and retirements feed every engagement's planning
    return LoadResult(version=number, changed=True, counts=library.counts(), summary=summary)


def current_version() -> int | None:
    """Number of the latest loaded library version, or None before the first load."""
    latest = LibraryVersion.select().order_by(LibraryVersion.number.desc()).first()
    return latest.number if latest else None


# --------------------------------------------------------------------------- internals

class _Sync:
    """Upserts one library into the tables; ``apply`` returns added/changed/retired counts."""

    def __init__(self, number: int):
        self.number = number
        self.summary: dict[str, dict[str, int]] = {}

    def apply(self, library: Library) -> dict[str, dict[str, int]]:
        frameworks = self.frameworks(library)
        obligations = self.obligations(library, frameworks)
        controls, changed_controls = self.controls(library)
        touched = self.mappings(library, controls, obligations) | self.requirements(library, controls)
        self.mark_controls_changed(controls, touched - changed_controls)
        self.clock_rules(library)
        return self.summary

    # ---- one method per table

    def frameworks(self, library: Library) -> dict[str, Framework]:
        wanted = {code: {"title": f.title, "version": f.version, "description": f.description, "requires": f.requires}
                  for code, f in library.frameworks.items()}
        rows, _ = self.upsert(Framework, "frameworks", lambda r: r.code, wanted, lambda key: {"code": key})
        return rows

    def obligations(self, library: Library, frameworks: dict[str, Framework]) -> dict[tuple, Obligation]:
        code_of = {f.id: code for code, f in frameworks.items()}
        wanted = {(code, ob.ref): {"title": ob.title, "parent_ref": ob.parent_ref, "alt_ref": ob.alt_ref,
                                   "alt_ref_verification": ob.alt_ref_verification or None,
                                   "frequency": ob.frequency, "provable": ob.provable, "note": ob.note,
                                   "verification": ob.verification, "sort_key": ob.sort_key}
                  for code, spec in library.frameworks.items() for ob in spec.obligations.values()}
        rows, _ = self.upsert(Obligation, "obligations", lambda r: (code_of.get(r.framework_id), r.ref), wanted,
                              lambda key: {"framework": frameworks[key[0]].id, "ref": key[1]})
        return rows

    def controls(self, library: Library) -> tuple[dict[str, Control], set[str]]:
        wanted = {code: {"title": c.title, "description": c.description, "domain": c.domain,
                         "frequency": c.frequency, "requires": c.requires, "triggers": ",".join(c.triggers)}
                  for code, c in library.controls.items()}
        return self.upsert(Control, "controls", lambda r: r.code, wanted, lambda key: {"code": key})

    def mappings(self, library: Library, controls: dict[str, Control],
                 obligations: dict[tuple, Obligation]) -> set[str]:
        """Returns the codes of controls whose mappings changed."""
        code_of = {c.id: code for code, c in controls.items()}
        key_of_obligation = {o.id: key for key, o in obligations.items()}
        wanted = {(code, m.framework, m.ref): {"coverage": m.coverage, "note": m.note or m.reason}
                  for code, c in library.controls.items() for m in c.mappings}
        _, changed = self.upsert(
            ControlObligation, "mappings",
            lambda r: (code_of.get(r.control_id),) + key_of_obligation.get(r.obligation_id, (None, None)),
            wanted, lambda key: {"control": controls[key[0]].id, "obligation": obligations[key[1:]].id},
            versioned=False)
        return {key[0] for key in changed}

    def requirements(self, library: Library, controls: dict[str, Control]) -> set[str]:
        """Returns the codes of controls whose evidence requirements changed."""
        code_of = {c.id: code for code, c in controls.items()}
        wanted = {(code, r.key): {"name": r.name, "accepted_types": json.dumps(r.types),
                                  "validity_days": r.validity_days, "produced_by": r.produced_by}
                  for code, c in library.controls.items() for r in c.requirements}
        _, changed = self.upsert(EvidenceRequirement, "requirements", lambda r: (code_of.get(r.control_id), r.key),
                                 wanted, lambda key: {"control": controls[key[0]].id, "key": key[1]},
                                 versioned=False)
        return {key[0] for key in changed}

    def clock_rules(self, library: Library) -> None:
        wanted = {rid: {"title": r.title, "framework_code": r.framework, "obligation_ref": r.obligation,
                        "trigger": json.dumps(r.trigger, sort_keys=True), "start_field": r.start,
                        "duration": r.duration, "unit": r.unit, "internal_target_hours": r.internal_target_hours,
                        "notify": r.notify, "note": r.note, "verification": r.verification,
                        "calendar": r.calendar}
                  for rid, r in library.clock_rules.items()}
        self.upsert(ClockRule, "clock_rules", lambda r: r.rule_id, wanted, lambda key: {"rule_id": key},
                    versioned=False)

    def mark_controls_changed(self, controls: dict[str, Control], codes: set[str]) -> None:
        """A control whose mappings or evidence requirements changed is itself changed."""
        ids = [controls[code].id for code in codes if code in controls]
        for chunk in _chunks(ids):
            Control.update(changed_in=self.number).where(Control.id.in_(chunk)).execute()
        self.summary["controls"]["changed"] += len(ids)

    # ---- the generic upsert

    def upsert(self, model, kind: str, key_of: Callable[[Any], Hashable], wanted: dict[Hashable, dict],
               identity: Callable[[Hashable], dict], versioned: bool = True) -> tuple[dict, set]:
        """Insert, update, revive and retire rows of ``model`` so they match ``wanted``.

        Returns (every row of the table keyed by ``key_of``, retired ones included;
        the keys that were added, changed, revived or retired).
        """
        existing = {key_of(row): row for row in model.select()}
        stamp = {"changed_in": self.number} if versioned else {}
        added = [key for key in wanted if key not in existing]
        changed = [key for key, fields in wanted.items() if key in existing and _differs(existing[key], fields)]
        gone = [key for key, row in existing.items() if key not in wanted and row.retired_in is None]
        for key in changed:
            model.update(**wanted[key], **stamp, retired_in=None).where(model.id == existing[key].id).execute()
        for chunk in _chunks([existing[key].id for key in gone]):
            model.update(retired_in=self.number).where(model.id.in_(chunk)).execute()
        introduced = {"introduced_in": self.number} if versioned else {}
        for chunk in _chunks([{**identity(key), **wanted[key], **stamp, **introduced} for key in added]):
            model.insert_many(chunk).execute()
        self.summary[kind] = {"added": len(added), "changed": len(changed), "retired": len(gone)}
        if added or changed or gone:
            existing = {key_of(row): row for row in model.select()}
        return existing, set(added) | set(changed) | set(gone)


def _differs(row: Any, fields: dict) -> bool:
    """Does ``row`` need an update (a field differs, or the row was retired and is back)?"""
    return row.retired_in is not None or any(getattr(row, name) != value for name, value in fields.items())


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]
