"""The shape of the code: services in capability packages, one-way imports between layers, no import cycle,
no function-level import of the project's own modules, and a README that names every package.

The import graph is read from the source (``ast``), so a violation fails here whatever runs at import time.
"""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

import services

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("services", "web", "commands", "models", "domain", "evidence_store", "app")
CHECKED = ("services", "web", "commands", "app.py")  # where a function-level import of our own code is refused


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _python_files(*roots: str) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        path = ROOT / root
        files.extend([path] if path.suffix == ".py" else sorted(path.rglob("*.py")))
    return files


def _resolve(module: str, node: ast.ImportFrom | ast.Import, path: Path) -> list[str]:
    """The project modules an import statement names (``from services.x import y`` names ``services.x.y`` when
    ``y`` is a module, else ``services.x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] in PROJECT]
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if base.split(".")[0] not in PROJECT:
        return []
    names = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        as_path = ROOT / Path(*candidate.split("."))
        names.append(candidate if as_path.with_suffix(".py").exists() or (as_path / "__init__.py").exists()
                     else base)
    return names


def _imports(*roots: str) -> list[tuple[str, str, int, bool]]:
    """(importer, imported, line, at module level) for every import of a project module."""
    out = []
    for path in _python_files(*roots):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _resolve(module, node, path):
                    out.append((module, target, node.lineno, id(node) in top))
    return out


def _package(module: str) -> str | None:
    """``services.register.planning`` -> ``register``; a shared module or ``services`` itself -> None."""
    parts = module.split(".")
    if parts[0] != "services" or len(parts) < 2 or parts[1] in services.SHARED:
        return None
    return parts[1]


def test_every_service_module_is_in_a_capability_package_or_shared():
    loose = sorted(p.stem for p in (ROOT / "services").glob("*.py")
                   if p.stem != "__init__" and p.stem not in services.SHARED)
    assert loose == [], f"modules outside a capability package: {loose}"


def test_every_package_is_placed_in_the_layers_and_says_what_it_owns():
    packages = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())
    unplaced = [p for p in packages if p not in services.LAYERS]
    assert unplaced == [], f"add these packages to services.LAYERS: {unplaced}"
    for name in packages:
        doc = ast.get_docstring(ast.parse((ROOT / "services" / name / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"services/{name}/__init__.py needs a docstring saying what it owns"


def test_no_package_imports_one_above_it():
    rank = {name: i for i, name in enumerate(services.LAYERS)}
    upward = []
    for importer, imported, line, _top in _imports("services"):
        source, target = _package(importer), _package(imported)
        if importer.split(".")[1] in services.SHARED and target is not None:
            upward.append(f"{importer}:{line} -> {imported} (a shared module imports a capability)")
        elif source and target and source != target and rank[target] > rank[source]:
            upward.append(f"{importer}:{line} -> {imported} ({target} sits above {source})")
    assert upward == []


def test_nothing_in_services_or_web_imports_the_scheduler_pass():
    importers = sorted({f"{importer}:{line}" for importer, imported, line, _ in _imports("services", "web")
                        if imported == services.ORCHESTRATOR})
    assert importers == [], "the scheduler pass orchestrates; only app.py and the commands import it"


@pytest.mark.parametrize("roots", [("services",), ("services", "web", "commands", "app.py", "models", "domain")])
def test_no_import_cycle(roots):
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported, _line, _top in _imports(*roots):
        if importer != imported and not imported.startswith(importer + "."):  # a package importing its own part
            graph[importer].add(imported)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_no_function_level_import_of_project_code():
    late = [f"{importer}:{line} imports {imported}" for importer, imported, line, top in _imports(*CHECKED)
            if not top and not _is_type_checking_only(importer, line)]
    assert late == [], "import at module level (a function-level import hides a cycle)"


def test_the_readme_names_every_services_package():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    packages = [p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists()]
    missing = [p for p in packages if not re.search(rf"`services/{p}/`", readme)]
    assert missing == [], f"README's 'What is where' lacks {missing}"
    named = set(re.findall(r"`services/([a-z_]+)/`", readme))
    assert named <= set(packages), f"README names packages that do not exist: {named - set(packages)}"


def test_the_checker_sees_a_violation():
    """The graph reader is not blind: an upward import and a cycle in a scratch tree are found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert _find_cycle(graph) in (["a", "b", "c", "a"], ["b", "c", "a", "b"], ["c", "a", "b", "c"])
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
    found = [(i, t) for i, t, _l, top in _imports("services") if i == "services.alerts.scheduler" and top]
    assert ("services.alerts.scheduler", "services.register.planning") in found


def _is_type_checking_only(module: str, line: int) -> bool:
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                and node.lineno <= line <= (node.end_lineno or node.lineno)):
            return True
    return False


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, as a closed path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None
