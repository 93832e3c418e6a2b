"""The library's shape: imports point down between its rooms, and no module imports in a circle.

Read with `ast` (every import statement, also those inside functions), so a lazy import counts too.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "attnviz"

# Higher floors may import lower ones, never the other way round. Rooms on one floor do not import each other.
FLOORS = [
    {"errors", "trace", "device", "memory", "hosted", "suggest"},  # small shared pieces
    {"nn", "text"},
    {"store"},
    {"bundles"},
    {"training", "bench"},
    {"analysis"},
    {"plots"},
    {"ui"},
    {"front"},  # the front door: __init__, __main__, cli
]
TOP_LEVEL_MODULES = {"__init__", "__main__", "cli", "trace", "errors", "device", "memory", "hosted", "suggest"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__main__", "cli"):
        return "front"
    return parts[1]


def floor(module: str) -> int:
    return next(i for i, rooms in enumerate(FLOORS) if room(module) in rooms)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The attnviz modules a file imports (a name imported from a package counts as its submodule if one exists)."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "attnviz"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "attnviz":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(files)) - {name} for name, path in files.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for source, targets in graph.items():
        for target in targets:
            same_floor_other_room = floor(target) == floor(source) and room(target) != room(source)
            if floor(target) > floor(source) or same_floor_other_room:
                wrong.append(f"{source} imports {target}")
    return sorted(wrong)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def test_imports_point_down_between_rooms():
    assert upward_imports(import_graph()) == []


def test_no_module_imports_in_a_circle():
    assert circles(import_graph()) == []


def test_top_level_holds_only_the_front_door_and_small_shared_pieces():
    loose = {p.stem for p in PACKAGE.glob("*.py")}
    assert loose <= TOP_LEVEL_MODULES, f"modules outside a room: {sorted(loose - TOP_LEVEL_MODULES)}"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == {
        "nn", "text", "bundles", "store", "training", "plots", "bench", "analysis", "ui"}


def test_the_check_catches_a_bundle_importing_analysis(tmp_path):
    graph = import_graph()
    graph["attnviz.bundles.bundle"] = graph["attnviz.bundles.bundle"] | {"attnviz.analysis.rollout"}
    assert "attnviz.bundles.bundle imports attnviz.analysis.rollout" in upward_imports(graph)
    graph["attnviz.analysis.rollout"] = graph["attnviz.analysis.rollout"] | {"attnviz.bundles.bundle"}
    assert any({"attnviz.bundles.bundle", "attnviz.analysis.rollout"} <= set(group) for group in circles(graph))


def test_files_stay_small():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in [*PACKAGE.rglob("*.py"), *PACKAGE.parent.glob("pages/*.py")]
            if (n := len(p.read_text().splitlines())) > 320}
    assert long == {}
