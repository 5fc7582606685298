"""The project's import graph: no circle, no import running up a layer, no private names across
modules, and a reason beside every function-local import.

Read from the source with ``ast`` (nothing is imported), every import counts: module-level,
inside functions, and under ``if TYPE_CHECKING``. A module is a node; ``from pkg import mod``
is an edge to ``pkg.mod`` when that is a module, else to ``pkg``.

The layers, lowest first; a package imports only its own modules and lower layers::

    rag        the engine: settings, models' catalogue, index, retrieval, answers
    ingest     reading and syncing articles into the index
    app        the runtime: composition, services, sync scheduler, sources, status
    provision  installing models (beside app: neither imports the other)
    ui         the faces: CLI, terminal chat, ui/web (server, API, pages)
    bench      benchmark scripts (beside ui: they build on app, never on a face)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"rag": 0, "ingest": 1, "app": 2, "provision": 2, "ui": 3, "bench": 3}
# commands import what they run so that `newsrag --help` answers at once (see its docstring);
# bench/ scripts import per phase
LOCAL_IMPORTS_FREE = ("ui/cli.py", "bench/")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported project module
    names: tuple[str, ...]  # for ``from X import a, b``
    path: str
    line: int
    local: bool  # inside a function


def modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _known(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _local_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    lines.add(node.lineno)
    return lines


def imports(root: Path = ROOT) -> Iterator[Import]:
    known = modules(root)
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        local = _local_lines(tree)
        rel = path.relative_to(root).as_posix()
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(tree):
            targets: list[tuple[str, tuple[str, ...]]] = []
            if isinstance(node, ast.Import):
                targets = [(a.name, ()) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    if sub in known:
                        targets.append((sub, ()))
                    else:
                        targets.append((module, (alias.name,)))
            for target, names in targets:
                found = _known(target, known)
                if found and found != name:
                    yield Import(name, found, names, rel, node.lineno, node.lineno in local)


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a
    path that closes: ["a", "b", "a"]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_cycle_in(sorted(component), edges))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _cycle_in(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One concrete circle through the component's first module (breadth-first)."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, set()) & members):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return component  # not reached: a component always closes


def graph(found: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for i in found:
        edges.setdefault(i.source, set()).add(i.target)
    return edges


def layer_violations(found: list[Import]) -> list[str]:
    out = []
    for i in found:
        mine, theirs = i.source.split(".")[0], i.target.split(".")[0]
        if mine != theirs and LAYERS[theirs] >= LAYERS[mine]:
            out.append(
                f"{i.path}:{i.line}: {i.source} imports {i.target}, but {theirs} is not "
                f"under {mine} (layers: {LAYERS})"
            )
    return out


def test_the_graph_is_read() -> None:
    found = list(imports())
    edges = graph(found)
    assert "rag.words" in edges["rag.archive.lexical"]
    assert "app.compose" in edges["app.services"]
    assert any(i.local for i in found)  # function-local imports are read too


def test_no_import_circle() -> None:
    found = circles(graph(list(imports())))
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_no_import_runs_up_a_layer() -> None:
    found = layer_violations(list(imports()))
    assert not found, "imports up a layer:\n" + "\n".join(found)


def test_no_private_name_crosses_modules() -> None:
    found = [
        f"{i.path}:{i.line}: {i.source} imports {n} from {i.target}"
        for i in imports()
        for n in i.names
        if n.startswith("_")
    ]
    assert not found, "private names imported from another module:\n" + "\n".join(found)


def test_local_imports_say_why() -> None:
    """A function-local import of the project's own modules is there to keep a heavy import
    off start-up, and the line before it (or the line itself) says so."""
    missing = []
    for i in imports():
        if not i.local or i.path.startswith(LOCAL_IMPORTS_FREE):
            continue
        lines = (ROOT / i.path).read_text(encoding="utf-8").splitlines()
        here, before = lines[i.line - 1], lines[i.line - 2].strip()
        if "#" not in here and not before.startswith("#"):
            missing.append(f"{i.path}:{i.line}: {here.strip()}")
    assert not missing, "function-local imports without a comment saying why:\n" + "\n".join(
        missing
    )


def test_a_circle_is_named(tmp_path: Path) -> None:
    """The check itself: a new circle and an import up a layer are found and named."""
    for package, files in {
        "rag": {"a.py": "from rag import b\n", "b.py": "def f():\n    from . import a\n"},
        "ingest": {"c.py": "import ui.d\n"},
        "ui": {"d.py": ""},
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        for name, text in files.items():
            (tmp_path / package / name).write_text(text)
    found = list(imports(tmp_path))
    assert circles(graph(found)) == [["rag.a", "rag.b", "rag.a"]]
    assert layer_violations(found) == [
        f"ingest/c.py:1: ingest.c imports ui.d, but ui is not under ingest (layers: {LAYERS})"
    ]
