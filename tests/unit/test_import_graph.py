"""The import graph between packages has no cycles, and imports run one way.

Every module under ``dialgraph/``, ``telephony/``, ``graphs/``, ``tools/``,
``memory/`` and ``spoken/`` is parsed (``ast``; nothing is imported), and each import, at the
top or inside a function, under ``TYPE_CHECKING`` or not, is an edge between
the packages of the two modules. A package is ``telephony.<subpackage>``
(``telephony.wire``, ``telephony.call``, ...) or a top-level module of
``telephony`` (``telephony.settings``), likewise ``graphs.<subpackage>``
(``graphs.runtime``, ``graphs.helpdesk``, ...); ``dialgraph``, ``tools``,
``memory`` and ``spoken`` are one package each. A lazy import is still a dependency: it
only hides a cycle from the interpreter, not from a reader.

docs/architecture.md states the rules this checks.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("dialgraph", "telephony", "graphs", "tools", "memory", "spoken")
SPLIT = {"telephony", "graphs"}  # one node per subpackage or top-level module
NEVER_TELEPHONY = ("graphs", "tools", "memory")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[_module_name(path)] = path
    return modules


def _imported(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ours that ``tree`` imports (``from p import m`` names module ``p.m``)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def _node(module: str) -> str:
    parts = module.split(".")
    if parts[0] in SPLIT and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def import_graph(*, modules: bool = False) -> dict[str, dict[str, set[str]]]:
    """``{package: {imported package: {"importer -> imported module", ...}}}``.

    With ``modules``, the nodes are the modules themselves instead of their
    packages, leaving out each package's ``__init__`` (which re-exports what
    its modules define, so it imports them all).
    """
    found = _modules()
    known = set(found)
    inits = {module for module, path in found.items() if path.name == "__init__.py"}
    node = (lambda module: module) if modules else _node
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for module, path in found.items():
        if modules and module in inits:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        source = node(module)
        graph[source]  # every package is a node, even one that imports nothing
        for imported in _imported(tree, module, path.name == "__init__.py", known):
            target = node(imported)
            if target != source and not (modules and imported in inits):
                graph[source][target].add(f"{module} -> {imported}")
    return graph


def find_cycle(graph: dict[str, dict[str, set[str]]]) -> list[str]:
    """One cycle of packages (first node repeated at the end), or ``[]``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def _describe(graph: dict[str, dict[str, set[str]]], cycle: list[str]) -> str:
    lines = [" -> ".join(cycle)]
    for source, target in pairwise(cycle):
        lines.extend(f"    {edge}" for edge in sorted(graph[source][target]))
    return "\n".join(lines)


def test_the_packages_are_found() -> None:
    graph = import_graph()
    for package in (
        "telephony.wire",
        "telephony.call",
        "telephony.speech",
        "telephony.admission",
        "telephony.outbound",
        "telephony.web",
        "telephony.cli",
        "telephony.softphone",
        "graphs.runtime",
        "memory",
        "tools",
        "dialgraph",
        "spoken",
    ):
        assert package in graph
    assert "telephony.wire" in graph["telephony.call"]  # edges are seen at all


def test_no_cycle_between_packages() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    assert not cycle, "import cycle between packages:\n" + _describe(graph, cycle)


def test_no_cycle_between_modules() -> None:
    """Inside a package too: a base module never reaches back (even lazily) for what
    builds on it (the key ring once imported the checkpointer that uses it, to re-encrypt)."""
    graph = import_graph(modules=True)
    cycle = find_cycle(graph)
    assert not cycle, "import cycle between modules:\n" + _describe(graph, cycle)


def test_graphs_tools_and_memory_never_import_telephony() -> None:
    graph = import_graph()
    wrong = sorted(
        edge
        for source, targets in graph.items()
        if source.split(".")[0] in NEVER_TELEPHONY
        for target, edges in targets.items()
        if target.startswith("telephony")
        for edge in edges
    )
    assert not wrong, "imports of telephony from graphs/tools/memory:\n" + "\n".join(wrong)


def test_the_wire_imports_no_other_part_of_the_phone() -> None:
    """The pure Twilio layer is the bottom: everything builds on it, it on nothing of ours."""
    graph = import_graph()
    assert not set(graph["telephony.wire"]), dict(graph["telephony.wire"])


def test_spoken_language_imports_nothing_of_ours() -> None:
    """Numbers, days and times are the bottom: recognition, redaction, tools and flows
    build on ``spoken``, and it on nothing of ours (and on no library that does I/O)."""
    graph = import_graph()
    assert not set(graph["spoken"]), dict(graph["spoken"])
    users = {source.split(".")[0] for source, targets in graph.items() if "spoken" in targets}
    assert {"graphs", "tools", "memory", "telephony"} <= users
    allowed = set(sys.stdlib_module_names) | {"spoken", "dateparser", "num2words"}
    for path in sorted((ROOT / "spoken").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            assert {n.split(".")[0] for n in names} <= allowed, (path.name, names)


def test_a_cycle_is_found_and_shown() -> None:
    graph: dict[str, dict[str, set[str]]] = {
        "a": {"b": {"a.x -> b.y"}},
        "b": {"c": {"b.y -> c.z"}},
        "c": {"a": {"c.z -> a.x"}},
    }
    cycle = find_cycle(graph)
    assert cycle == ["a", "b", "c", "a"]
    assert "c.z -> a.x" in _describe(graph, cycle)
