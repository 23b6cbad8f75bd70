"""Reading the library's files: YAML that keeps every item's line (so a problem says ``file:line``), the
list of library files, and their digest (a changed file, or a changed review reason, is a new library)."""
from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import yaml

from .spec import CLOCK_RULES_FILE, COMMON_DIR, FRAMEWORK_DIR, REVIEW_FILE

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


def library_files(directory: str) -> list[str]:
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
    for rel in _digested_files(directory, files if files is not None else library_files(directory)):
        with open(os.path.join(directory, rel), "rb") as handle:
            content = handle.read()
        digest.update(rel.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
    return digest.hexdigest()
