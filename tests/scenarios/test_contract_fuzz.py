"""The HTTP contract, fuzzed from ``openapi.yaml`` by schemathesis against the real server.

Every request schemathesis makes up (valid ones, and ones that break the description on
purpose) goes to the function under functions-framework, running its steps in-process against
the sandbox. Each is sent twice: first without the right shared secret, then with it. Whatever
the request, the answer is JSON, documented in ``openapi.yaml``, and never a 5xx. A refused
request changes nothing in the sandbox; one without the right secret costs no iconik call at
all. An accepted one gets exactly one job, which ends exactly once.

Schemathesis runs its three phases per operation: the description's examples, its coverage
cases (each boundary and each kind of wrong value, deterministically), then random fuzzing up
to ``EXAMPLES`` (``B2_ICONIK_LONG=1`` raises it). Hypothesis runs derandomized (no random seed)
with no example database, and its cache lives outside the repository (``tests/conftest.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from iconik_sandbox import Sandbox, SeedResult
from tests import figures, leaks
from tests.scenarios.actions import LONG, TERMINAL, endings, plugin_jobs, seed
from tests.scenarios.servers import ROOT, SECRET, free_port, serve_plugin

pytestmark = pytest.mark.e2e

SPEC = ROOT / "openapi.yaml"
#: Examples per operation: enough to reach every check of the contract in ``make test``.
EXAMPLES = 600 if LONG else 25
#: How long an accepted action may take to end (random ids end fast: nothing to do).
JOB_SECONDS = 30.0
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

#: Extra query parameters are ignored by design (iconik or an admin may add some), and the
#: secret is added by the test itself: neither is generated as a way to break the contract.
#: ``/{path}`` stands for every other path: a "wrong" value there is ``add``, which is no 404.
CONFIG = schemathesis.Config.from_dict({
    "generation": {"allow-extra-parameters": False, "with-security-parameters": False},
    "operations": [
        {"include-path": "/{path}", "generation": {"mode": "positive"}},
        # The policy routes take the same body as /add and /remove, fuzzed there in full.
        {"include-path-regex": "^/policies/", "generation": {"mode": "positive"}},
        # / and /healthz take no parameter and no body: there is nothing to break but the method.
        {"include-path-regex": "^/(healthz?)?$", "generation": {"mode": "positive"}},
    ],
})
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)


@dataclass
class FuzzTally:
    """What the fuzz run saw, printed at the end of the module (docs/reliability.md quotes it)."""

    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    operations: set[str] = field(default_factory=set)

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


TALLY = FuzzTally()


@pytest.fixture(scope="module", autouse=True)
def _report_tally() -> Iterator[None]:
    yield
    figures.report(
        f"schemathesis: {TALLY.examples} examples, {sum(TALLY.statuses.values())} requests, "
        f"statuses {dict(sorted(TALLY.statuses.items()))}, {len(TALLY.accepted)} accepted"
    )


def test_the_description_is_valid_openapi() -> None:
    schema.validate()


def test_the_description_lists_every_answer_of_the_contract() -> None:
    documented = {
        int(status)
        for path in schema.raw_schema["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "responses" in operation
        for status in operation["responses"]
    }
    assert documented == {200, 400, 401, 404, 405, 413, 502, 503}


@pytest.fixture(scope="module")
def untouched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, str]]:
    """A plugin of its own for requests without the secret, over an iconik no one else uses.

    The main plugin's accepted actions keep calling iconik in the background (progress, checks
    of their ended jobs), so its call count cannot show that a refused request made none: this
    one's iconik must stay silent, whatever the timing.
    """
    with Sandbox() as quiet:
        log_path = tmp_path_factory.mktemp("untouched") / "plugin.log"
        for server in serve_plugin(quiet, log_path, free_port()):
            yield quiet, server["url"]


@pytest.fixture
def world(sb: Sandbox) -> SeedResult:
    """A small catalogue: real storages, assets and a collection for the fuzzer to hit."""
    return seed(sb, assets=6, on_ll=0.5, b2_missing=1, b2_wrong_size=1, b2_bad_status=0,
                duplicates=1, saved_searches=1)


def settle(sb: Sandbox) -> None:
    """Wait until no work is going on: every job ended and no copy is pending."""
    deadline = time.monotonic() + JOB_SECONDS
    while time.monotonic() < deadline:
        if sb.copies.pending() == 0 and all(
                job["status"] in TERMINAL for job in sb.state.jobs()):
            return
        time.sleep(0.02)
    running = [(j["id"], j["title"], j["status"]) for j in sb.state.jobs()
               if j["status"] not in TERMINAL]
    raise AssertionError(f"work did not settle in {JOB_SECONDS} s: {running}")


def is_json(response: Response) -> bool:
    """A JSON body, labelled as such (HEAD answers have no body by definition)."""
    if response.request.method == "HEAD":
        return True
    types = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [])
    if types != ["application/json"]:
        return False
    try:
        json.loads(response.content)
    except ValueError:
        return False
    return True


def send(case: Case, url: str, headers: dict[str, str]) -> Response:
    """Send the case; check the answer is JSON, no 5xx, and as ``openapi.yaml`` describes."""
    response = case.call(base_url=url, headers=headers, timeout=15)
    leaks.record(f"answer to {case.method} {case.path}", response.text)
    TALLY.count(response.status_code)
    assert response.status_code < 500, response.text
    assert is_json(response), (response.status_code, response.headers, response.text[:200])
    case.validate_response(response, checks=CHECKS, headers=headers)
    return response


#: Paths open to anyone (``b2_iconik.status``): the same answer with or without the secret.
OPEN_PATHS = frozenset({"/", "/healthz", "/health"})


def answer_open(case: Case, url: str, untouched: tuple[Sandbox, str],
                wrong: dict[str, str]) -> None:
    """``/``, ``/healthz``, ``/health``: GET and HEAD 200 (the secret is readable), others 404."""
    quiet, quiet_url = untouched
    expected = 200 if case.method in ("GET", "HEAD") else 404
    for base, headers in ((quiet_url, wrong), (url, {"x-bz-secret": SECRET})):
        answer = send(case, base, headers)
        assert answer.status_code == expected, answer.text
    assert [f"{r.method} {r.path}" for r in quiet.requests] == [], "a status answer called iconik"


WRONG_SECRETS: list[dict[str, str]] = [
    {}, {"x-bz-secret": ""}, {"x-bz-secret": "wrong"}, {"x-bz-secret": SECRET.upper()},
    {"x-bz-secret": SECRET + "x"}, {"X-BZ-SECRET": SECRET[:-1]},
]


def realistic(case: Case, n: int, ids: SeedResult, token: str) -> None:
    """Put real storages, a real token or real assets into some of the cases.

    Random UUIDs are almost never storages iconik knows, nor random strings a token it
    accepts, so without this nearly every request would stop at the storage check. The
    example's number picks which, so every mix comes up and a run is repeatable.
    """
    if case.query is not None and n % 4 != 0:
        case.query = {**case.query, "b2_storage_id": ids.b2_storage_id,
                      "ll_storage_id": ids.ll_storage_id}
    if isinstance(case.body, dict) and n % 3 != 0:
        case.body = {**case.body, "auth_token": token}
        if n % 5 == 1:
            case.body["asset_ids"] = ids.asset_ids[: 1 + n % 3]


@schema.parametrize()
@settings(max_examples=EXAMPLES, database=None, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_fuzzed_requests(case: Case, sb: Sandbox, world: SeedResult, plugin_server: dict,
                         untouched: tuple[Sandbox, str]) -> None:
    n = TALLY.examples = TALLY.examples + 1
    TALLY.operations.add(f"{case.method} {case.path}")
    url = plugin_server["url"]
    settle(sb)
    if case.path in OPEN_PATHS:
        answer_open(case, url, untouched, WRONG_SECRETS[n % len(WRONG_SECRETS)])
        return

    # Without the right secret: refused before anything else, at no cost.
    quiet, quiet_url = untouched
    wrong = WRONG_SECRETS[n % len(WRONG_SECRETS)]
    before = quiet.state.snapshot()
    answer = send(case, quiet_url, wrong)
    assert answer.status_code in (401, 404, 405), answer.text
    assert [f"{r.method} {r.path}" for r in quiet.requests] == [], (
        "a request without the right secret called iconik")
    assert quiet.state.snapshot() == before

    # With it.
    realistic(case, n, world, sb.token)
    before, calls = sb.state.snapshot(), len(sb.requests)
    answer = send(case, url, {"x-bz-secret": SECRET})
    assert answer.status_code != 401, "the right secret was refused"
    if answer.status_code != 200:
        sent = sb.requests.list()[calls:]
        done = [f"{r.method} {r.path} {r.status}" for r in sent
                if r.method in WRITES and r.status < 400]  # iconik refusing one is no change
        assert done == [], "a refused request wrote to iconik"
        assert sb.state.snapshot() == before, "a refused request changed the sandbox"
        return
    job_id = answer.json()["job_id"]
    TALLY.accepted.append(job_id)
    known = {job["id"] for job in before["jobs"]}
    settle(sb)
    new = [job for job in plugin_jobs(sb) if job["id"] not in known]
    assert [job["id"] for job in new if not job.get("parent_id")] == [job_id], "one job"
    ended = endings(sb)
    assert {job["id"]: ended[job["id"]] for job in new if ended[job["id"]] != 1} == {}, (
        "every job (and child job) must end exactly once")


def test_the_open_paths_were_fuzzed_with_every_method() -> None:
    """The run above reached GET/HEAD and the refused methods of ``/`` and ``/healthz``."""
    if TALLY.examples == 0:
        pytest.skip("the fuzz run was not selected")
    for path in OPEN_PATHS:
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
            assert f"{method} {path}" in TALLY.operations
