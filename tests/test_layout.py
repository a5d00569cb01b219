"""The package's layout (issue 17): layers that import only downward, no cycles, small modules.

The layers are the ones ``b2_iconik/__init__.py`` and each package's docstring state. A module
may import its own package and the layers below; a package beside it on the same layer, or above
it, is out of bounds. Imports inside ``if TYPE_CHECKING:`` count too: a type-only cycle is still
a knot for the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "b2_iconik"
MAX_LINES = 400

#: Each room of the package and its layer (as ``b2_iconik/__init__.py`` numbers them).
LAYERS: dict[str, int] = {
    "base": 0,
    "auth": 1,
    "iconik": 1,
    "rules": 2,
    "engine": 3,
    "audit": 3,
    "edge": 4,
    "app": 5,
    "custom_actions": 5,
    "__main__": 5,
}

#: The rooms each room may import, as its package docstring says: only lower layers, and not
#: every one of them (the tool talks to the plugin over HTTP, never through its edge or engine).
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "auth": {"base"},
    "iconik": {"base"},
    "rules": {"base", "iconik"},
    "engine": {"base", "auth", "iconik", "rules"},
    "audit": {"base", "iconik", "rules"},
    "edge": {"base", "auth", "iconik", "rules", "engine"},
    "app": {"base", "auth", "iconik", "rules", "engine", "edge"},
    "custom_actions": {"base", "iconik", "rules", "audit"},
    "__main__": set(),  # python -m b2_iconik --version: the root's __version__ only
}

def module_name(path: Path) -> str:
    """``b2_iconik/engine/worker.py`` → ``b2_iconik.engine.worker`` (a package: its name)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str]) -> set[str]:
    """The package's modules this file imports (``from b2_iconik.x import y``: y too)."""
    found: set[str] = set()
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in modules and m != name}


def graph() -> dict[str, set[str]]:
    """Every module of the package and the package's modules it imports."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported(path, set(files)) for name, path in files.items()}


def room(module: str) -> str | None:
    """The room a module belongs to (``b2_iconik.engine.worker`` → ``engine``); None: the root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among modules, as the path that closes it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target, [*path, target])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def layer_breaches(edges: dict[str, set[str]]) -> list[str]:
    """Imports of a room the importer's own may not import (above it, beside it, or skipped)."""
    breaches = []
    for source, targets in edges.items():
        mine = room(source)
        for target in targets:
            theirs = room(target)
            if mine is None or theirs is None or theirs == mine:
                continue  # the package's own docstring module imports nothing; a room itself
            if theirs not in ALLOWED[mine]:
                breaches.append(f"{source} ({LAYERS[mine]}) imports {target} ({LAYERS[theirs]})")
    return sorted(breaches)

def long_modules(limit: int = MAX_LINES) -> list[str]:
    """The package's modules longer than ``limit`` lines."""
    counts = {p: len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    return sorted(f"{p.relative_to(PACKAGE.parent)}: {n}" for p, n in counts.items() if n > limit)


def test_every_room_has_a_layer() -> None:
    rooms = {r for name in graph() if (r := room(name)) is not None}
    assert rooms <= set(LAYERS), f"rooms without a layer: {sorted(rooms - set(LAYERS))}"


def test_rooms_may_import_only_lower_layers() -> None:
    upward = {(r, o) for r, others in ALLOWED.items() for o in others if LAYERS[o] >= LAYERS[r]}
    assert set(ALLOWED) == set(LAYERS) and not upward


def test_no_import_cycles() -> None:
    assert find_cycle(graph()) is None


def test_layers_import_only_downward() -> None:
    assert layer_breaches(graph()) == []


def test_no_module_over_400_lines() -> None:
    assert long_modules() == []


def test_every_package_says_what_it_may_import() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "import" in doc, f"{init} does not say what it may import"


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": set()}, None),
    ],
)
def test_find_cycle_finds_one(edges: dict[str, set[str]], expected: list[str] | None) -> None:
    assert find_cycle(edges) == expected


def test_the_checks_can_fail() -> None:
    """Each check catches what it is there for: an upward import, a sideways one, a long file."""
    upward = {"b2_iconik.rules.add": {"b2_iconik.engine.runners"}}
    sideways = {"b2_iconik.audit.reading": {"b2_iconik.engine.worker"}}
    skipped = {"b2_iconik.custom_actions.cli": {"b2_iconik.edge.router"}}
    assert layer_breaches(upward) and layer_breaches(sideways) and layer_breaches(skipped)
    assert long_modules(limit=10)
