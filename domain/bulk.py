"""Bulk decisions (several submitted items decided at once with one comment): what a bulk request must
name, and how a refusal names each item that cannot be decided. Each item is still decided by the single
decision's own rules; nothing here knows what the items are."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from domain.errors import DomainError, ValidationError

MAX_ITEMS = 100


@dataclass(frozen=True)
class BulkDecision:
    ids: list[int]
    decision: str
    comment: Any  # checked by each single decision (a rejection needs one)


def parse_bulk(data: Any, decisions: Iterable[str]) -> BulkDecision:
    """``{"ids": [...], "decision": ..., "comment": ...}``: 1 to ``MAX_ITEMS`` distinct ids (whole numbers, or
    their digits as text from a form), a decision among ``decisions``."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    raw = data.get("ids")
    if not isinstance(raw, list) or not raw:
        raise ValidationError("ids must list the items to decide (at least one)", field="ids")
    if len(raw) > MAX_ITEMS:
        raise ValidationError(f"at most {MAX_ITEMS} items at once", field="ids")
    ids = [_id(value) for value in raw]
    if len(set(ids)) != len(ids):
        raise ValidationError("ids names an item twice", field="ids")
    allowed = list(decisions)
    if data.get("decision") not in allowed:
        raise ValidationError(f"decision must be {' or '.join(allowed)}", field="decision")
    return BulkDecision(ids, data["decision"], data.get("comment"))


def _id(value: Any) -> int:
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 2**63):
        raise ValidationError("ids must be ids (positive whole numbers)", field="ids")
    return int(text)


class BulkRefused(DomainError):
    """Some items cannot be decided: nothing was decided. ``problems`` lists (id, error) for each; the status
    is theirs when they agree (all 404, all 409), else 422."""

    def __init__(self, noun: str, problems: list[tuple[int, DomainError]]):
        shown = "; ".join(f"{noun} {item}: {exc.message}" for item, exc in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"nothing was decided: {len(problems)} item(s) cannot be: {shown}{more}", field="ids")
        self.problems = problems
        statuses = {exc.status for _item, exc in problems}
        first = problems[0][1]
        self.status, self.code = (first.status, first.code) if len(statuses) == 1 else (422, "invalid")
