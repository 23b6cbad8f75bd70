"""What an auditor reads names no framework outside its grant: phrases that name a framework (its code, its
name, its paragraph references, its regulator or assessors) are replaced with a neutral marker.

The phrases are data (``controls/framework_names.yaml``); ``redact`` is pure: the text and the frameworks the
reader may not see in, the text as that reader may read it out. A phrase several frameworks list (``APRA``) is
replaced only when every one of them is hidden.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

import yaml

MARKER = "[another framework]"
NAMES_FILE = "framework_names.yaml"
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "controls", NAMES_FILE)


def load_phrases(path: str = DEFAULT_PATH) -> dict[str, tuple[str, ...]]:
    """Framework code -> its phrase patterns, from the library file."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return {code: tuple(str(p) for p in patterns or ()) for code, patterns in (data.get("frameworks") or {}).items()}


@lru_cache(maxsize=1)
def library_phrases() -> Mapping[str, tuple[str, ...]]:
    return load_phrases()


def hidden_patterns(hidden: Iterable[str], phrases: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The patterns to replace for a reader who may not see ``hidden``: each listed by hidden frameworks only."""
    hidden = set(hidden)
    owners: dict[str, set[str]] = {}
    for code, patterns in phrases.items():
        for pattern in patterns:
            owners.setdefault(pattern, set()).add(code)
    return tuple(sorted((p for p, codes in owners.items() if codes <= hidden), key=len, reverse=True))


@lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile(r"(?<![\w.-])(?:" + "|".join(f"(?:{p})" for p in patterns) + r")(?![\w])")


def redact(text: str, hidden: Iterable[str], phrases: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """``text`` with every phrase naming a framework in ``hidden`` replaced by ``MARKER``."""
    if not text:
        return text
    pattern = _compiled(hidden_patterns(hidden, library_phrases() if phrases is None else phrases))
    return text if pattern is None else pattern.sub(MARKER, text)
