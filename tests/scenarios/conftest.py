"""End to end: the function as a real functions-framework server, against the sandbox.

One sandbox and one plugin server serve the whole module run; each test resets the sandbox
and seeds its own catalogue. A safety oracle, written independently of the plugin's own rule,
sits on the sandbox's delete and records every LucidLink file set deleted without a matching
B2 copy at that moment: every test ends by asserting it recorded nothing.

Everything here that could hold a secret is handed to the session's leak watch
(``tests/leaks.py``): the shared secret and every token the sandbox accepts, each plugin
server's log file, every answer ``click`` receives, and the sandbox's request log and
catalogue (jobs with their titles and messages) before each reset and at the end.

This file holds the fixtures; the helpers are plain modules beside it: ``servers.py`` (the
plugin as a server), ``actions.py`` (seed, click, wait) and ``watch.py`` (oracle, leak watch).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from iconik_sandbox import Sandbox
from tests import leaks
from tests.scenarios.dispatcher import Dispatcher
from tests.scenarios.servers import (
    APP_TOKEN,
    EMULATOR_PYTHON,
    MAX_ATTEMPTS,
    QUEUE,
    SECRET,
    _free_port,
    serve_plugin,
    serve_queued,
    wait_for_port,
)
from tests.scenarios.watch import SafetyOracle, hand_over


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    leaks.secret(SECRET)
    with Sandbox(per_page_cap=7, copy_seconds=0.2) as sb:
        sb.oracle = SafetyOracle(sb)  # type: ignore[attr-defined]
        yield sb
        hand_over(sb)


@pytest.fixture(scope="session")
def plugin_server(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The plugin running its steps in-process (the default)."""
    log_path = tmp_path_factory.mktemp("logs") / "plugin.log"
    yield from serve_plugin(sandbox, log_path, _free_port())


@pytest.fixture
def sb(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The sandbox, emptied, with faults off.

    Fails the test on any safety violation, and on any request body the plugin sent that does
    not match iconik's spec (the sandbox validates each against its trimmed copy of the spec).
    """
    hand_over(sandbox)  # what the previous test left, before it is forgotten
    sandbox.reset()
    yield sandbox
    oracle: SafetyOracle = sandbox.oracle  # type: ignore[attr-defined]
    assert oracle.violations == [], "LucidLink copies deleted without a verified B2 copy"
    assert sandbox.spec_violations == [], "the plugin sent a body iconik's spec refuses"
    sandbox.faults.clear()


# -- Cloud Tasks: the emulator (names, schedule) and the dispatcher (delivery) -----------------


@pytest.fixture(scope="session")
def dispatcher() -> Iterator[Dispatcher]:
    """Cloud Tasks' dispatch side, in this process (see tests/scenarios/dispatcher.py)."""
    with Dispatcher(max_concurrent=4, max_attempts=MAX_ATTEMPTS) as dispatch:
        yield dispatch


@pytest.fixture(scope="session")
def emulator(dispatcher: Dispatcher, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gcloud-tasks-emulator on 127.0.0.1, wrapped; yields its host:port."""
    if not EMULATOR_PYTHON.exists():
        pytest.skip("the Cloud Tasks emulator is not installed: run `make test`")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("emulator") / "emulator.log"
    script = Path(__file__).with_name("run_tasks_emulator.py")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(EMULATOR_PYTHON), str(script), str(port), QUEUE, dispatcher.url],
            stdout=log, stderr=subprocess.STDOUT,
        )
    wait_for_port(port, process, log_path)
    yield f"127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def queued_server(sandbox: Sandbox, emulator: str, dispatcher: Dispatcher,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One plugin server on the queue for the session (tests reset the sandbox and queue)."""
    log_path = tmp_path_factory.mktemp("queued") / "plugin.log"
    yield from serve_queued(sandbox, emulator, log_path, _free_port(), dispatcher)


@pytest.fixture
def queue(dispatcher: Dispatcher) -> Iterator[Dispatcher]:
    """The dispatcher with its records and faults cleared; checks nothing was dropped."""
    dispatcher.reset()
    yield dispatcher
    dropped = list(dispatcher.records.dropped)
    dispatcher.reset()
    assert dropped == [], "Cloud Tasks dropped tasks after their last attempt"


# -- plugins with an application token of their own (policies: iconik's automations) ----------


@pytest.fixture(scope="module")
def app_server(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The plugin with an application token of its own, steps in-process."""
    leaks.secret(APP_TOKEN)
    log_path = tmp_path_factory.mktemp("policies") / "plugin.log"
    yield from serve_plugin(sandbox, log_path, _free_port(), ICONIK_TOKEN=APP_TOKEN)


@pytest.fixture(scope="module")
def app_queued(sandbox: Sandbox, emulator: str, dispatcher: Dispatcher,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The same on the Cloud Tasks emulator."""
    leaks.secret(APP_TOKEN)
    log_path = tmp_path_factory.mktemp("policies-queued") / "plugin.log"
    yield from serve_queued(sandbox, emulator, log_path, _free_port(), dispatcher,
                            ICONIK_TOKEN=APP_TOKEN)


@pytest.fixture(scope="module")
def app_queued_too(sandbox: Sandbox, emulator: str, dispatcher: Dispatcher,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A second instance on the same queue (its own process, memory and URL)."""
    log_path = tmp_path_factory.mktemp("policies-queued-2") / "plugin.log"
    yield from serve_queued(sandbox, emulator, log_path, _free_port(), dispatcher,
                            ICONIK_TOKEN=APP_TOKEN)


@pytest.fixture
def sbx(sb: Sandbox) -> Sandbox:
    """The sandbox, accepting the plugin's application token too."""
    sb.tokens.add(sb.app_id, APP_TOKEN)
    return sb


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each of schemathesis's operations a node id of its own (``…[POST /add]``).

    schemathesis 4 names its items after the operation, but under pytest 9.2 they all keep one
    node id (``…::test_fuzzed_requests``: its own renaming sets an attribute pytest no longer
    reads), and pytest-xdist keys its work by node id: under ``make test`` (``-n 2 --dist
    loadfile``) only the first operation of ``openapi.yaml`` was fuzzed. Pinned pytest keeps the
    id in ``_id``; ``test_contract_fuzz`` checks that every operation ran.
    """
    for item in items:
        bare = "::" + item.name.split("[")[0]
        if "[" in item.name and item.parent is not None and item.nodeid.endswith(bare):
            item._id = item.parent.id.child(item.name)  # type: ignore[attr-defined]
