"""The packages ``ocelot``, ``web`` and ``worker`` import each other without a cycle.

Every module is parsed with :mod:`ast`, imports inside functions included (a late import
hides a cycle from the interpreter, not from the design), and the module graph is searched
for a cycle. Only ``if TYPE_CHECKING:`` imports are left out: they never run. Also checked:
the dependency rule (``ocelot`` imports neither ``web`` nor ``worker``, nothing imports
``web``), and that importing ``web`` builds no Celery app from the environment.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ocelot", "web", "worker")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, modules: Collection[str]) -> list[str]:
    """Every module name ``module`` imports; imports under ``if TYPE_CHECKING:`` are skipped.

    ``from a import b`` is an edge to ``a.b`` when that is one of ``modules``, else to ``a``
    (``b`` is an attribute of it). The package holding a module is not an edge of its own:
    Python runs the package's ``__init__`` first for any of its modules, and an ``__init__``
    importing its own submodules is how a package is put together."""
    names: list[str] = []
    base = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                source = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                names.append(sub if sub in modules else source)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module → the modules of ours it imports (anywhere in it, functions included)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = _imports(tree, name, path.name == "__init__.py", modules)
        graph[name] = {target for target in targets if target in modules} - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if colour[start] != WHITE:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        colour[start] = GREY
        path = [start]
        while stack:
            node, pending = stack[-1]
            if not pending:
                colour[node] = BLACK
                stack.pop()
                path.pop()
                continue
            nxt = pending.pop(0)
            if colour.get(nxt) == GREY:
                return [*path[path.index(nxt) :], nxt]
            if colour.get(nxt) == WHITE:
                colour[nxt] = GREY
                stack.append((nxt, sorted(graph[nxt])))
                path.append(nxt)
    return None


def test_the_finder_reports_a_cycle_path() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_and_late_imports_are_edges() -> None:
    tree = ast.parse(
        "from . import x\nfrom .y import z\ndef f():\n    import p.q\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hidden\n"
    )
    names = _imports(tree, "pkg.mod", False, {"pkg", "pkg.x", "pkg.y", "p.q", "hidden"})
    assert set(names) == {"pkg.x", "pkg.y", "p.q", "typing"}  # z: an attribute of pkg.y


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_dependency_rule() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if (module.split(".")[0] == "ocelot" and target.split(".")[0] in ("web", "worker"))
        or (module.split(".")[0] != "web" and target.split(".")[0] == "web")
    ]
    assert wrong == []


def test_importing_web_builds_no_celery_app() -> None:
    """``import web`` (and building the app, and publishing through it) never constructs the
    worker's Celery app from the environment: the environment here points at a broker that
    does not exist and at settings the web app is not given."""
    probe = (
        "import sys, celery._state as state\n"
        "import web\n"
        "assert 'worker.app' not in sys.modules, 'web imported worker.app'\n"
        "assert list(state._apps) == [], f'Celery apps after import web: {list(state._apps)}'\n"
        "from ocelot import queues\n"
        "assert list(state._apps) == [], 'Celery apps after import ocelot.queues'\n"
        "print('ok')\n"
    )
    env = {
        **os.environ,
        "OCELOT_BROKER_URL": "redis://127.0.0.1:1/0",
        "OCELOT_HOME": "/nonexistent/ocelot-home",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
