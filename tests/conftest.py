"""Shared fixtures: every test starts from the same environment and logging set-up.

The session as a whole is watched for leaked secrets (see ``tests/leaks.py``): every log
record, every test's captured output, the plugin servers' logs, the sandbox's request log and
jobs, and the answers the tests received are scanned for the shared secret and every token
when the session ends. A leak fails the session.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from b2_iconik.base.logs import JsonLineHandler, RedactionFilter
from b2_iconik.iconik import pool
from tests import figures, leaks


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Put os.environ back as it was: settings are read from it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put the root logger's handlers and level back: setup_logging changes them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver's ``httpserver`` on 127.0.0.1 (its default, localhost, may be ::1)."""
    return ("127.0.0.1", 0)


@pytest.fixture(autouse=True)
def _fresh_rate_limiters() -> Iterator[None]:
    """Each test gets its own instance-wide limiters (so tests never wait on each other) and
    connection pool."""
    pool._limiters.clear()
    pool._pools.clear()
    yield
    pool._limiters.clear()
    pool._pools.clear()


_hypothesis_home: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Keep Hypothesis' files out of the repository, in a directory gone after the run.

    Hypothesis writes a cache of constants to ``.hypothesis/`` in the working directory as
    soon as schemathesis builds its tests, at collection: a fixture would be too late.
    """
    global _hypothesis_home
    _hypothesis_home = Path(tempfile.mkdtemp(prefix="b2-iconik-hypothesis-"))
    set_hypothesis_home_dir(_hypothesis_home)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _hypothesis_home is not None:
        shutil.rmtree(_hypothesis_home, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _no_secret_leaks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Scan everything the session captured for secrets, once every other fixture is done.

    In-process log records go through the plugin's own JSON handler and redaction filter
    into a file of the session's, at INFO like the plugin's, so what is scanned is what the
    plugin would have written. Being session-scoped and autouse, this is set up first and
    torn down last: after the plugin servers stopped and the sandbox handed over its log.
    """
    path = tmp_path_factory.mktemp("leaks") / "in-process-log.jsonl"
    root = logging.getLogger()
    level = root.level
    with open(path, "w") as stream:
        handler = JsonLineHandler(stream)
        # The plugin's redaction, as its own handler has it. Not its ContextFilter: that sets
        # record.trace, which a test's own handler (with another project) must set itself.
        handler.addFilter(RedactionFilter())
        root.addHandler(handler)
        root.setLevel(min(level, logging.INFO))
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
    leaks.log_file(path)
    found = leaks.WATCH.findings()
    if found:  # not an assert: pytest would print the findings' values in full
        report = "\n".join(map(str, found[:20]))
        pytest.fail(f"secrets leaked ({len(found)}):\n{report}", pytrace=False)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep each test's captured stdout, stderr and log for the session's leak scan."""
    for name, text in report.sections:
        leaks.record(f"{report.nodeid}: {name}", text)


#: What each pytest-xdist worker's leak watch covered: (secrets, log files, captured texts).
WORKERS_COVERED: list[tuple[int, int, int]] = []


def _covered() -> tuple[int, int, int]:
    watch = leaks.WATCH
    return len(watch.secrets), len(watch.files), len(watch.texts)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand the figures and the watch's coverage to the controller.

    Each worker runs its own session (and its own leak scan, failing its last test on a leak);
    only the controller prints the summary.
    """
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["figures"] = list(figures.LINES)
        output["covered"] = _covered()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """In the pytest-xdist controller: gather what a worker handed over when it ended."""
    output = getattr(node, "workeroutput", None) or {}
    figures.LINES.extend(output.get("figures", ()))
    if "covered" in output:
        WORKERS_COVERED.append(tuple(output["covered"]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures the tests measured, and what the leak watch covered.

    The watch's verdict is the session fixture's teardown (in each worker, with xdist); this
    only says how much it saw.
    """
    for line in figures.LINES:
        terminalreporter.write_line(line)
    secrets, files, texts = _covered()
    for covered in WORKERS_COVERED:  # with xdist, the workers did the watching
        secrets, files, texts = secrets + covered[0], files + covered[1], texts + covered[2]
    workers = f" (in {len(WORKERS_COVERED)} workers)" if WORKERS_COVERED else ""
    terminalreporter.write_line(
        f"leak watch{workers}: {secrets} secrets looked for in {files} log files "
        f"and {texts} captured texts"
    )
