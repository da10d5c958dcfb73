"""The package layout stays readable: few top-level modules, small modules, imports that only point down.

docs/architecture.md draws the map these rules keep true. The import graph is read from the source
(every ``import`` outside ``if TYPE_CHECKING:``, also inside functions), so a cycle or an upward
import fails here before it can fail at import time in some unlucky order.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_TOP_LEVEL_MODULES = 12
MAX_LINES = 450
#: the two catalogues grow with every new finding or error code, and are read by code, not top to bottom
CATALOGUES = {"esign/findings.py", "esign/errors.py"}
#: top-level modules of esign/ used by every layer
BASE = {"errors", "findings", "policy", "sync_bridge", "uscc"}
#: what each part of esign/ may import (besides itself)
ALLOWED = {
    "base": {"base"},
    "pdf": {"base"},
    "gm": {"base"},
    "report": {"base"},
    "seal": {"base", "pdf", "gm"},
    "verify": {"base", "pdf", "gm", "report"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _esign_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / "esign").rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, modules: set[str]) -> set[str]:
    """Dotted names of the modules an AST imports (a ``from m import name`` may name a submodule)."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(
                f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules
            )
        stack.extend(ast.iter_child_nodes(node))
    return found


def _graph() -> dict[str, set[str]]:
    """esign module → esign modules whose import it runs (a package's __init__ included, from outside)."""
    modules = _esign_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for target in _imported(ast.parse(path.read_text()), set(modules)):
            if target not in modules:
                continue
            parts = target.split(".")
            for end in range(2, len(parts) + 1):
                ancestor = ".".join(parts[:end])
                if ancestor != name and not name.startswith(ancestor + ".") and ancestor in modules:
                    edges.add(ancestor)
        graph[name] = edges
    return graph


def _part(module: str) -> str:
    top = module.split(".")[1] if "." in module else ""
    return "base" if top in BASE else top


def test_esign_has_few_top_level_modules_and_several_subpackages() -> None:
    top = sorted(p.name for p in (ROOT / "esign").glob("*.py"))
    packages = sorted(p.parent.name for p in (ROOT / "esign").glob("*/__init__.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    assert len(packages) >= 4, packages
    assert {Path(name).stem for name in top} <= BASE | {"__init__"}, "a new top-level module needs a place"
    assert set(packages) == set(ALLOWED) - {"base"}, "a new subpackage needs its place in ALLOWED"


def test_no_module_is_long() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for folder in ("esign", "keystore", "api")
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES and str(p.relative_to(ROOT)) not in CATALOGUES
    }
    assert long == {}


def test_esign_imports_form_no_cycle() -> None:
    graph = _graph()
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_esign_imports_point_down() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if module != "esign"
        and _part(target) != _part(module)
        and _part(target) not in ALLOWED.get(_part(module), set())
    )
    assert upward == []


def test_the_core_never_imports_the_front_doors() -> None:
    """esign imports neither keystore nor api; keystore does not import api."""
    offenders = []
    for folder, forbidden in (("esign", ("keystore", "api")), ("keystore", ("api",))):
        for path in (ROOT / folder).rglob("*.py"):
            for name in _imported(ast.parse(path.read_text()), set()):
                if name.split(".")[0] in forbidden:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []
