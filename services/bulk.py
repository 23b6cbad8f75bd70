"""Bulk decisions, one shape for every review list (evidence, KPI results): each item decided by its single
decision (its own audit event, history and notifications), all in one transaction, all or nothing."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from domain.bulk import BulkRefused
from domain.errors import DomainError
from models import transaction

T = TypeVar("T")


def decide_all(ids: list[int], decide: Callable[[int], T], *, noun: str) -> list[T]:
    """``decide`` each id, in order, inside one transaction (each in its own savepoint). If any cannot be
    decided, every one is rolled back and ``BulkRefused`` names each that could not (not just the first)."""
    decided: list[T] = []
    problems: list[tuple[int, DomainError]] = []
    with transaction():
        for item in ids:
            try:
                with transaction():
                    decided.append(decide(item))
            except DomainError as exc:
                problems.append((item, exc))
        if problems:
            raise BulkRefused(noun, problems)
    return decided
