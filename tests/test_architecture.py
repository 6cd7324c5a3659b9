"""The import graph of toolkeeper's subpackages: one way, in the layers docs/architecture.md draws.

The graph is built from the source by grimp (the engine of import-linter). It counts
every import statement, those inside functions included, so a deferred import cannot
hide a cycle. Imports under ``if TYPE_CHECKING:`` are left out: they never run, and
annotations may name a type of a layer above (docs/architecture.md lists the few).
"""

from __future__ import annotations

import ast
import itertools
import re
import textwrap
from collections import defaultdict
from pathlib import Path

import grimp
import pytest

PACKAGE = "toolkeeper"
ARCHITECTURE = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def _graph(package: str = PACKAGE) -> grimp.ImportGraph:
    return grimp.build_graph(package, cache_dir=None, exclude_type_checking_imports=True)


def _child(module: str, package: str) -> str:
    """Return the child of ``package`` that ``module`` belongs to (``package`` itself stays)."""
    parts = module.split(".")
    depth = len(package.split("."))
    return ".".join(parts[: depth + 1])


def _child_edges(graph: grimp.ImportGraph, package: str) -> dict[tuple[str, str], list[str]]:
    """Map each import between two children of ``package`` to its imports, as ``a:line -> b``."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            pair = (_child(importer, package), _child(imported, package))
            if pair[0] == pair[1]:
                continue
            for detail in graph.get_import_details(importer=importer, imported=imported):
                edges[pair].append(f"{importer}:{detail['line_number']} -> {imported}")
    return edges


def _cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Return one shortest cycle through each strongly connected group of children."""
    after: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        after[a].add(b)

    def path(start: str, goal: str) -> list[str] | None:
        seen, frontier = {start}, [[start]]
        while frontier:
            nxt = []
            for route in frontier:
                for node in sorted(after[route[-1]]):
                    if node == goal:
                        return route
                    if node not in seen:
                        seen.add(node)
                        nxt.append([*route, node])
            frontier = nxt
        return None

    cycles: list[list[str]] = []
    covered: set[str] = set()
    for node in sorted(after):
        if node in covered:
            continue
        route = path(node, node)
        if route is not None:
            cycles.append([*route, node])
            covered.update(route)
    return cycles


def _describe(cycles: list[list[str]], edges: dict[tuple[str, str], list[str]]) -> str:
    lines = []
    for cycle in cycles:
        lines.append("cycle: " + " -> ".join(cycle))
        for a, b in itertools.pairwise(cycle):
            lines.extend(f"    {where}" for where in edges[(a, b)])
    return "\n".join(lines)


def _documented_layers() -> list[list[str]]:
    """Return the children of ``toolkeeper`` per layer of docs/architecture.md, lowest first."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Layers, lowest first", 1)[1].split("\n## ", 1)[0]
    layers = []
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("layer", "") or set(cells[0]) <= {"-"}:
            continue
        names = re.findall(r"`([^`]+)`", cells[1])
        layers.append([name.removesuffix("/").removesuffix(".py") for name in names])
    return layers


def _route(route: grimp.Route) -> str:
    ends = [",".join(sorted(route.heads)), *route.middle, ",".join(sorted(route.tails))]
    return " -> ".join(ends)


def test_the_graph_counts_imports_inside_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle made only by an import inside a function is still found, and named."""
    package = tmp_path / "cyclic"
    (package / "low").mkdir(parents=True)
    (package / "high").mkdir()
    for folder in (package, package / "low", package / "high"):
        (folder / "__init__.py").write_text("")
    (package / "high" / "engine.py").write_text("from cyclic.low import records\n")
    (package / "low" / "records.py").write_text(
        textwrap.dedent(
            """
            def late():
                from cyclic.high import engine
                return engine
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    edges = _child_edges(_graph("cyclic"), "cyclic")
    cycles = _cycles(edges)
    assert cycles == [["cyclic.high", "cyclic.low", "cyclic.high"]]
    assert "cyclic.low.records:3 -> cyclic.high.engine" in _describe(cycles, edges)


def test_no_cycle_between_subpackages() -> None:
    """No subpackage of toolkeeper imports, even inside a function, one that imports it back."""
    edges = _child_edges(_graph(), PACKAGE)
    cycles = _cycles(edges)
    assert not cycles, "import cycles between subpackages:\n" + _describe(cycles, edges)


def test_every_subpackage_is_in_a_documented_layer() -> None:
    """docs/architecture.md places each module and subpackage of toolkeeper in one layer."""
    documented = [name for layer in _documented_layers() for name in layer]
    children = {child.removeprefix(PACKAGE + ".") for child in _graph().find_children(PACKAGE)}
    assert sorted(documented) == sorted(children)


def test_imports_go_down_the_documented_layers() -> None:
    """Each layer of docs/architecture.md imports only from the layers listed below it."""
    layers = [grimp.Layer(*names, independent=False) for names in _documented_layers()]
    illegal = _graph().find_illegal_dependencies_for_layers(
        layers=list(reversed(layers)), containers={PACKAGE}
    )
    shown = [
        f"{dependency.importer} -> {dependency.imported}: "
        + "; ".join(_route(route) for route in dependency.routes)
        for dependency in sorted(illegal, key=lambda d: (d.importer, d.imported))
    ]
    assert not shown, "imports against the documented layers:\n" + "\n".join(shown)


def _uncommented_deferred_imports(root: Path) -> list[str]:
    """Return each function under ``root`` whose imports no comment explains, as ``path:line``.

    A comment explains an import when it ends that line or sits in the run of
    comments, blank lines and other imports just above it.
    """
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            imports = [
                node
                for statement in function.body
                for node in ast.walk(statement)
                if isinstance(node, ast.Import | ast.ImportFrom)
            ]
            if imports and not any(_explained(lines, node.lineno) for node in imports):
                found.append(f"{path}:{imports[0].lineno}")
    return found


def _explained(lines: list[str], lineno: int) -> bool:
    if "#" in lines[lineno - 1]:
        return True
    for line in reversed(lines[: lineno - 1]):
        text = line.strip()
        if text.startswith("#"):
            return True
        if text and not text.startswith(("import ", "from ", ")")) and not text.endswith(","):
            return False
    return False


def test_every_deferred_import_says_why(tmp_path: Path) -> None:
    """Each import inside a function carries a comment giving its reason; a bare one is found."""
    (tmp_path / "bare.py").write_text("def late():\n    import json\n    return json\n")
    assert _uncommented_deferred_imports(tmp_path) == [f"{tmp_path / 'bare.py'}:2"]
    package = Path(__file__).resolve().parent.parent / PACKAGE
    bare = _uncommented_deferred_imports(package)
    assert not bare, "imports inside functions without a reason:\n" + "\n".join(bare)
