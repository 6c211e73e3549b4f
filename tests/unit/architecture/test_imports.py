"""The tree shows the architecture: no import cycles, areas never reach up into app/ or cli/,
and nothing shipped imports the test harness."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BASES = (ROOT / "src", ROOT / "operators")


def _modules() -> dict[str, Path]:
    mods = {}
    for base in BASES:
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _graph() -> dict[str, set[str]]:
    """Module -> modules it imports (anywhere in it), incl. the packages whose __init__ that runs."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            for name in names:
                graph[mod] |= {name} if not name.startswith(("coinstream", "coinfeed_operator")) else set()
                while name and name not in mods:
                    name = name.rpartition(".")[0]
                if not name or name == mod:
                    continue
                graph[mod].add(name)
                parent = name.rpartition(".")[0]
                while parent:
                    if parent in mods and parent != "coinstream" and not f"{mod}.".startswith(f"{parent}."):
                        graph[mod].add(parent)
                    parent = parent.rpartition(".")[0]
    return graph


def test_no_import_cycles() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v] & graph.keys():
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_areas_do_not_import_app_or_cli_and_nothing_imports_tests() -> None:
    upward = []
    for mod, imports in _graph().items():
        if any(i == "tests" or i.startswith("tests.") for i in imports):
            upward.append(f"{mod} imports the test harness")
        if not mod.startswith(("coinstream.app", "coinstream.cli", "coinstream.__main__")):
            upward += [f"{mod} -> {i}" for i in imports if i.startswith(("coinstream.app", "coinstream.cli"))]
    assert upward == []
