"""The KPI catalogue (``controls/kpis.yaml``): contact-centre KPI templates an engagement picks and edits.

Read like the control library: YAML that keeps lines, every problem reported as ``file:line: message`` and a
catalogue with any problem loads nothing (``LibraryError``). Pure: reads a file, no database.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import yaml

from .errors import ValidationError
from .library.parse import LineDict, _Loader
from .library.spec import LibraryError, Problem
from .performance import (
    CATEGORIES,
    DIRECTIONS,
    PERIOD_KINDS,
    UNITS,
    check_allocation,
    check_definition,
    check_levels,
    parse_decimal,
)

KPI_FILE = "kpis.yaml"
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "controls", KPI_FILE)
_REQUIRED = ("code", "name", "category", "unit", "direction", "period", "expected", "minimum", "definition",
             "source")
_OPTIONAL = ("critical", "volume_sensitive", "allocation_pct", "levels_source")
_CHOICES = {"category": CATEGORIES, "unit": UNITS, "direction": DIRECTIONS, "period": PERIOD_KINDS}


@dataclass(frozen=True)
class KpiTemplate:
    code: str
    name: str
    category: str
    unit: str
    direction: str
    period: str
    expected: Decimal
    minimum: Decimal
    critical: bool
    volume_sensitive: bool
    allocation_pct: Decimal
    definition: dict[str, str]
    source: str
    levels_source: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "category": self.category, "unit": self.unit,
                "direction": self.direction, "period": self.period, "expected": str(self.expected),
                "minimum": str(self.minimum), "critical": self.critical, "volume_sensitive": self.volume_sensitive,
                "allocation_pct": str(self.allocation_pct), "definition": dict(self.definition),
                "source": self.source, "levels_source": self.levels_source}


def read_catalogue(path: str = DEFAULT_PATH) -> list[KpiTemplate]:
    """Parse and validate the catalogue; LibraryError lists every problem (file:line)."""
    rel = os.path.basename(path)
    problems: list[Problem] = []
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = Problem(rel, mark.line + 1 if mark else 0, f"cannot read the KPI catalogue: {exc}")
        raise LibraryError([problem]) from None
    items = document.get("templates") if isinstance(document, LineDict) else None
    if not isinstance(items, list) or not items:
        raise LibraryError([Problem(rel, 1, "expected a mapping with a non-empty list 'templates'")])
    templates: list[KpiTemplate] = []
    seen: dict[str, int] = {}
    for item in items:
        line = getattr(item, "line", 0)
        try:
            template = _template(item)
        except ValidationError as exc:
            key_line = item.line_of(exc.field) if isinstance(item, LineDict) and exc.field else line
            problems.append(Problem(rel, key_line, f"{_code(item)}: {exc.message}"))
            continue
        if template.code in seen:
            problems.append(Problem(rel, line, f"duplicate code {template.code} (first at line {seen[template.code]})"))
            continue
        seen[template.code] = line
        templates.append(template)
    if problems:
        raise LibraryError(problems)
    return templates


@lru_cache(maxsize=1)
def catalogue() -> tuple[KpiTemplate, ...]:
    """The shipped catalogue, read once per process."""
    return tuple(read_catalogue())


def template(code: str) -> KpiTemplate | None:
    return next((t for t in catalogue() if t.code == code), None)


def _code(item: object) -> str:
    return str(item.get("code", "template")) if isinstance(item, dict) else "template"


def _template(item: object) -> KpiTemplate:
    if not isinstance(item, dict):
        raise ValidationError("each template must be a mapping")
    for key in item:
        if key not in _REQUIRED + _OPTIONAL:
            raise ValidationError(f"unknown key {key!r}", field=str(key))
    for key in _REQUIRED:
        if item.get(key) in (None, ""):
            raise ValidationError(f"{key} is required", field=key)
    for key, choices in _CHOICES.items():
        if item[key] not in choices:
            raise ValidationError(f"{key} {item[key]!r} is not one of {', '.join(choices)}", field=key)
    for key in ("critical", "volume_sensitive"):
        if not isinstance(item.get(key, False), bool):
            raise ValidationError(f"{key} must be true or false", field=key)
    expected = parse_decimal(item["expected"], "expected")
    minimum = parse_decimal(item["minimum"], "minimum")
    check_levels(item["direction"], expected, minimum)
    allocation = parse_decimal(item.get("allocation_pct", "0"), "allocation_pct")
    check_allocation(item["period"], allocation)
    return KpiTemplate(code=str(item["code"]), name=str(item["name"]), category=item["category"],
                       unit=item["unit"], direction=item["direction"], period=item["period"], expected=expected,
                       minimum=minimum, critical=item.get("critical", False),
                       volume_sensitive=item.get("volume_sensitive", False), allocation_pct=allocation,
                       definition=check_definition(item["definition"]), source=str(item["source"]),
                       levels_source=str(item.get("levels_source", "")))
