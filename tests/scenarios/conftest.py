"""End to end: the function as a real functions-framework server, against the sandbox.

One sandbox and one plugin server serve the whole module run; each test resets the sandbox
and seeds its own catalogue. A safety oracle, written independently of the plugin's own rule,
sits on the sandbox's delete and records every LucidLink file set deleted without a matching
B2 copy at that moment: every test ends by asserting it recorded nothing.

Everything here that could hold a secret is handed to the session's leak watch
(``tests/leaks.py``): the shared secret and every token the sandbox accepts, each plugin
server's log file, every answer ``click`` receives, and the sandbox's request log and
catalogue (jobs with their titles and messages) before each reset and at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from iconik_sandbox import Catalogue, Sandbox, SeedResult
from tests import leaks
from tests.scenarios.dispatcher import Dispatcher

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-shared-secret-0123456789"
TERMINAL = {"FINISHED", "FAILED", "FINISHED_WITH_WARNING", "ABORTED", "SKIPPED"}
WAIT_SECONDS = 3
#: B2_ICONIK_LONG=1 runs the long variants: more fuzzing examples, the full load test.
LONG = os.environ.get("B2_ICONIK_LONG") == "1"


class SafetyOracle:
    """Checks the remove rule at the moment of every delete on the LucidLink storage."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.ll_storage_id: str | None = None
        self.violations: list[str] = []
        self.deleted: list[str] = []
        state = sandbox.state
        original = state.delete_file_set

        def guarded(asset_id: str, file_set_id: str, immediately: bool = False) -> Any:
            with state.lock:
                fs = state.file_sets.get(file_set_id)
                if fs is not None and fs["storage_id"] == self.ll_storage_id:
                    problem = self._problem(fs)
                    if problem and fs["status"] == "ACTIVE":
                        self.violations.append(f"{asset_id}/{file_set_id}: {problem}")
                    self.deleted.append(asset_id)
                return original(asset_id, file_set_id, immediately)

        state.delete_file_set = guarded  # type: ignore[method-assign]

    def _problem(self, ll_set: dict[str, Any]) -> str:
        state = self.sandbox.state
        ll_files = state.files_of(file_set_id=ll_set["id"])
        for b2_set in state.file_sets_of(ll_set["asset_id"], storage_id=self.b2_storage_id):
            if b2_set["format_id"] != ll_set["format_id"]:
                continue
            b2_files = state.files_of(file_set_id=b2_set["id"])
            closed = all(f["status"] == "CLOSED" for f in b2_files)
            same = Counter(f["size"] for f in b2_files) == Counter(f["size"] for f in ll_files)
            sums = Counter(f["checksum"] for f in b2_files) == Counter(
                f["checksum"] for f in ll_files)
            if b2_files and closed and same and sums:
                return ""
        return "deleted without a matching CLOSED copy on B2"

    b2_storage_id: str | None = None

    def watch(self, ids: SeedResult) -> None:
        self.b2_storage_id, self.ll_storage_id = ids.b2_storage_id, ids.ll_storage_id
        self.violations.clear()
        self.deleted.clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    leaks.secret(SECRET)
    with Sandbox(per_page_cap=7, copy_seconds=0.2) as sb:
        sb.oracle = SafetyOracle(sb)  # type: ignore[attr-defined]
        yield sb
        hand_over(sb)


def hand_over(sandbox: Sandbox) -> None:
    """Give the sandbox's tokens, request log and catalogue to the session's leak watch.

    A custom action's ``headers`` are left out: iconik keeps the shared secret there by design
    (it sends it with every call), so finding it there says nothing about a leak.
    """
    for token in accepted_tokens(sandbox):
        leaks.secret(token)
    log = _without_action_headers(sandbox.requests.to_list())
    leaks.record("sandbox request log", json.dumps(log, default=str))
    snapshot = _without_action_headers(sandbox.state.snapshot())
    leaks.record("sandbox catalogue and jobs", json.dumps(snapshot, default=str))


def _without_action_headers(value: Any) -> Any:
    """The value with every custom action's ``headers`` masked (see :func:`hand_over`)."""
    if isinstance(value, dict):
        return {k: "****" if k == "headers" and isinstance(v, dict) else
                _without_action_headers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_action_headers(v) for v in value]
    return value


def accepted_tokens(sandbox: Sandbox) -> list[str]:
    """Every token the sandbox knows: its own, any added since, and every one renewed."""
    return sandbox.tokens.all()


def plugin_jobs(sb: Sandbox) -> list[dict]:
    """The jobs the plugin created (iconik's own transfer jobs left out), children included."""
    return [job for job in sb.state.snapshot()["jobs"] if job["type"] == "CUSTOM"]


def endings(sb: Sandbox) -> Counter[str]:
    """How many PATCHes set each job to an ending status, by job id."""
    return Counter(r.path.split("/")[-2] for r in sb.requests.filter(method="PATCH")
                   if r.path.startswith("/API/jobs/v1/jobs/")
                   and isinstance(r.body, dict) and r.body.get("status") in TERMINAL)


class PluginServer:
    """``functions-framework --target iconik_handler`` as a subprocess (its own process
    group, so a kill takes gunicorn's workers too), logging to a file."""

    def __init__(self, sandbox: Sandbox, log_path: Path, port: int, **extra: str) -> None:
        self.port, self.log_path = port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "ICONIK_ID": sandbox.app_id,
            "ICONIK_URL": sandbox.url,
            "BZ_SHARED_SECRET": SECRET,
            "FORMAT_NAMES": "ORIGINAL,PPRO_PROXY",
            "REMOVE_WAIT_SECONDS": str(WAIT_SECONDS),
            "REMOVE_RECHECK_SECONDS": "0.2",
            "ICONIK_MAX_RPS": "300",
            "GATHER_SECONDS": "1",  # automations' requests start a second or two later
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        self.process: subprocess.Popen | None = None
        leaks.log_file(log_path)

    def start(self) -> PluginServer:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "functions_framework", "--target", "iconik_handler",
                 "--source", "main.py", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(self.port, self.process, self.log_path)
        return self

    def kill(self) -> None:
        """Stop at once, mid-step, as an instance that dies (SIGKILL to the whole group)."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        _wait_until_closed(self.port)


def _wait_until_closed(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)


def serve_plugin(sandbox: Sandbox, log_path: Path, port: int, **extra: str) -> Iterator[dict]:
    """A plugin server for a fixture: yields its url, log file, pid and the server itself."""
    server = PluginServer(sandbox, log_path, port, **extra).start()
    assert server.process is not None
    yield {"url": server.url, "log": log_path, "server": server, "pid": server.process.pid}
    server.stop()


def wait_for_port(port: int, process: subprocess.Popen, log_path: Path) -> None:
    """Poll until something listens on 127.0.0.1:port, or fail with the process's output.

    60 s: a server's start (gunicorn, the function's imports) can take a loaded machine well
    over the few seconds it takes an idle one; a server that starts never waits this long."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text())
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"nothing listened on port {port}:\n" + log_path.read_text())


def free_port() -> int:
    return _free_port()


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


def seed(sb: Sandbox, **catalogue: Any) -> SeedResult:
    ids = sb.seed(Catalogue(**catalogue))
    sb.oracle.watch(ids)  # type: ignore[attr-defined]
    return ids


def click(server: dict, operation: str, ids: SeedResult, selection: dict, token: str,
          query: str = "", headers: dict | None = None) -> requests.Response:
    """POST as iconik does when a user clicks a custom action."""
    body = {"context": "BULK", "asset_ids": [], "collection_ids": [], "saved_search_ids": [],
            "user_id": "0c0c0c0c-0000-4000-8000-000000000000",
            "system_domain_id": "0d0d0d0d-0000-4000-8000-000000000000",
            "action_id": "0a0a0a0a-0000-4000-8000-000000000000",
            "date_created": "2026-11-24T10:00:00.000000", "auth_token": token, **selection}
    url = (f"{server['url']}/{operation}?b2_storage_id={ids.b2_storage_id}"
           f"&ll_storage_id={ids.ll_storage_id}{query}")
    answer = requests.post(url, data=json.dumps(body), timeout=10,
                           headers={"x-bz-secret": SECRET, "Content-Type": "application/json",
                                    **(headers or {})})
    leaks.record(f"answer to POST /{operation}", answer.text)
    return answer


def wait_for_job(sb: Sandbox, job_id: str, timeout: float = 30) -> dict:
    """Poll the sandbox until the job ends; fail the test if it does not in time.

    The sandbox logs a request once it has answered it, a moment after the job's status
    changed: so also wait (a few seconds at most) for the ending PATCH to be in its log, which
    the tests count.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sb.state.job(job_id)
        if job["status"] in TERMINAL:
            logged = time.monotonic() + 5
            while not terminal_patches(sb, job_id) and time.monotonic() < logged:
                time.sleep(0.02)
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end: {sb.state.job(job_id)}")


def on_storage(sb: Sandbox, asset_id: str, storage_id: str, format_name: str = "ORIGINAL"):
    return sb.state.file_sets_of(asset_id, storage_id=storage_id, format_name=format_name)


# -- Cloud Tasks: the emulator (names, schedule) and the dispatcher (delivery) -----------------

QUEUE = "projects/test-project/locations/here/queues/b2-iconik"
EMULATOR_PYTHON = ROOT / ".venv-tasks" / "bin" / "python"
#: The queue's --max-attempts in these tests (and so the plugin's TASKS_MAX_ATTEMPTS).
MAX_ATTEMPTS = 5


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


#: The service account the queue's tasks carry an OIDC token for, and the tokens' sealing key.
TASKS_ACCOUNT = "b2-iconik@test-project.iam.gserviceaccount.com"
TASKS_KEY = "5eed" * 16


def queue_env(emulator: str, dispatcher: Dispatcher, port: int) -> dict[str, str]:
    """What a function on the queue gets: as make deploy sets it, with test endpoints."""
    return {
        "TASKS_QUEUE": QUEUE,
        "TASKS_URL": f"http://127.0.0.1:{port}/",
        "CLOUD_TASKS_EMULATOR_HOST": emulator,
        "TASKS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "TASKS_SERVICE_ACCOUNT": TASKS_ACCOUNT,
        "TASKS_OIDC_CERTS_URL": f"{dispatcher.url}/certs",
        "TASKS_TOKEN_KEY": TASKS_KEY,
    }


def serve_queued(sandbox: Sandbox, emulator: str, log_path: Path, port: int,
                 dispatcher: Dispatcher, **extra: str) -> Iterator[dict]:
    """The plugin with TASKS_QUEUE set: every background step goes through the emulator."""
    yield from serve_plugin(sandbox, log_path, port,
                            **{**queue_env(emulator, dispatcher, port), **extra})


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


def terminal_patches(sb: Sandbox, job_id: str) -> int:
    """How many times the plugin wrote a final status on the job (an end is written once)."""
    return sum(
        1 for r in sb.requests.filter("PATCH", f"/API/jobs/v1/jobs/{job_id}/$")
        if isinstance(r.body, dict) and r.body.get("status") in TERMINAL
    )


# -- plugins with an application token of their own (policies: iconik's automations) ----------

#: The plugin's own iconik token (``ICONIK_TOKEN``) in the tests of automations' requests.
APP_TOKEN = "app-token-" + secrets.token_hex(8)


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


def settle(queue: Dispatcher, timeout: float = 30) -> None:
    """Wait until the dispatcher has nothing due or in flight (a twin may still be running)."""
    deadline = time.monotonic() + timeout
    while not queue.idle():
        assert time.monotonic() < deadline, "the queue did not settle"
        time.sleep(0.05)



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
