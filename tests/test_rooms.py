"""Each package keeps to its room (issue 17): what it may import, and no module over 400 lines.

The import rules are those the packages' docstrings state (``iconik_sandbox``, its catalogue
``iconik_sandbox.state``, ``bench``, ``bench.scenarios`` and ``deploy``). Every import statement
counts, a lazy one inside a function too. The checks are functions of source texts, so each is
also shown to fail on a module that breaks its rule.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("iconik_sandbox", "bench", "deploy")
MAX_LINES = 400
#: The repository's own top-level modules and packages: imports of anything else are libraries.
FIRST_PARTY = frozenset(
    {"b2_iconik", "iconik_sandbox", "bench", "deploy", "tests", "main", "create_custom_actions",
     "delete_custom_actions"}
)


@dataclass(frozen=True)
class Source:
    """One module's text, and whether it is a package's ``__init__``."""

    text: str
    is_package: bool = False


@dataclass(frozen=True)
class Rule:
    """The first-party modules a package's modules may import (dotted prefixes), with extras
    for named modules."""

    package: str
    allowed: tuple[str, ...]
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


BENCH_PARTS = ("bench.figures", "bench.lab", "bench.processes", "bench.queue")
RULES = (
    Rule("iconik_sandbox", ("iconik_sandbox",), {"iconik_sandbox.demo": ("b2_iconik",)}),
    Rule("iconik_sandbox.state", ("iconik_sandbox.state", "iconik_sandbox.errors")),
    Rule("bench", ("bench", "iconik_sandbox", "b2_iconik", "tests.scenarios.dispatcher")),
    Rule(
        "bench.scenarios",
        (*BENCH_PARTS, "bench.scenarios.common", "iconik_sandbox", "b2_iconik"),
        {"bench.scenarios": ("bench.scenarios", "bench.audit")},
    ),
    Rule("deploy", ("deploy",)),
)


def sources(package: str) -> dict[str, Source]:
    """Every module of a package (subpackages included), by dotted name."""
    found = {}
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        found[name] = Source(path.read_text(encoding="utf-8"), is_package)
    return found


def imported(name: str, source: Source) -> Iterable[tuple[str, ...]]:
    """For each import, the dotted names it may mean (``from a import b``: a, and a.b)."""
    package = name if source.is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source.text)):
        if isinstance(node, ast.Import):
            yield from ((alias.name,) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            yield from ((module, f"{module}.{alias.name}") for alias in node.names)


def _within(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(rule: Rule, modules: Mapping[str, Source]) -> list[str]:
    """"module imports name" for each first-party import a rule does not allow."""
    found = []
    for name, source in modules.items():
        if not _within(name, [rule.package]):
            continue
        allowed = (*rule.allowed, *rule.extra.get(name, ()))
        for meanings in imported(name, source):
            if meanings[0].split(".")[0] not in FIRST_PARTY:
                continue
            if not any(_within(m, allowed) for m in meanings):
                found.append(f"{name} imports {meanings[-1]}")
    return found


def too_long(modules: Mapping[str, Source]) -> list[str]:
    """"module: N lines" for each module over MAX_LINES."""
    return [
        f"{name}: {len(source.text.splitlines())} lines"
        for name, source in modules.items()
        if len(source.text.splitlines()) > MAX_LINES
    ]


def undocumented(modules: Mapping[str, Source]) -> list[str]:
    """Packages whose ``__init__`` has no docstring saying what they may import."""
    return [
        name
        for name, source in modules.items()
        if source.is_package
        and "import" not in (ast.get_docstring(ast.parse(source.text)) or "").lower()
    ]


def everything() -> dict[str, Source]:
    return {name: s for package in PACKAGES for name, s in sources(package).items()}


# -- the repository keeps the rules --------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.package)
def test_each_package_imports_only_what_its_docstring_allows(rule: Rule) -> None:
    assert violations(rule, everything()) == []


def test_no_module_of_the_sandbox_the_bench_or_deploy_is_over_400_lines() -> None:
    assert too_long(everything()) == []


def test_no_module_of_the_tests_or_at_the_top_is_over_400_lines() -> None:
    """The same limit for the tests and main.py and the scripts beside it (b2_iconik has its own
    check in test_layout.py)."""
    modules = {**sources("tests")}
    for path in sorted(ROOT.glob("*.py")):
        modules[path.stem] = Source(path.read_text(encoding="utf-8"))
    assert len(modules) > 50  # the walk found the suite
    assert too_long(modules) == []


def test_every_package_says_in_its_docstring_what_it_may_import() -> None:
    modules = everything()
    assert {"iconik_sandbox", "iconik_sandbox.state", "bench", "bench.scenarios", "deploy"} <= {
        name for name, s in modules.items() if s.is_package
    }
    assert undocumented(modules) == []


# -- and each check fails when a module breaks one -----------------------------------------------

BREAKING = {
    "iconik_sandbox": ("iconik_sandbox.seed", "from b2_iconik.iconik import BULK_LIMIT\n"),
    "iconik_sandbox.state": ("iconik_sandbox.state.jobs", "from iconik_sandbox import copies\n"),
    "bench": ("bench.lab", "def late() -> None:\n    import deploy.cli\n"),
    "bench.scenarios": ("bench.scenarios.answers", "from .work import remove_once\n"),
    "deploy": ("deploy.actions", "from b2_iconik.custom_actions import main\n"),
}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.package)
def test_an_import_a_rule_forbids_is_found(rule: Rule) -> None:
    name, text = BREAKING[rule.package]
    modules = everything()
    modules[name] = Source(modules[name].text + text)
    assert len(violations(rule, modules)) == 1


def test_the_exceptions_are_only_for_the_modules_named() -> None:
    sandbox, bench = (next(r for r in RULES if r.package == p) for p in ("iconik_sandbox", "bench"))
    assert violations(sandbox, {"iconik_sandbox.demo": Source("import b2_iconik.config\n")}) == []
    assert violations(sandbox, {"iconik_sandbox.seed": Source("import b2_iconik.config\n")}) == [
        "iconik_sandbox.seed imports b2_iconik.config"
    ]
    borrowed = {"bench.queue": Source("from tests.oidc_issuer import Issuer\n")}
    assert violations(bench, borrowed) == ["bench.queue imports tests.oidc_issuer.Issuer"]


def test_a_module_over_400_lines_is_found() -> None:
    assert too_long({"bench.lab": Source("x = 1\n" * MAX_LINES)}) == []
    assert too_long({"bench.lab": Source("x = 1\n" * (MAX_LINES + 1))}) == ["bench.lab: 401 lines"]


def test_a_package_without_an_imports_docstring_is_found() -> None:
    assert undocumented({"deploy": Source('"""Deploying."""\n', is_package=True)}) == ["deploy"]
