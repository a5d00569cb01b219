"""Fixtures for the sandbox's own tests: a Sandbox on a free loopback port per test, and a
receiver standing in for a custom action's URL (the plugin) for the automation tests."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from iconik_sandbox import Sandbox


class Api:
    """A tiny iconik client for tests: base URL + credentials + a timeout on every call."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.headers.update(sandbox.headers)

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, self.sandbox.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self("DELETE", path, **kwargs)

    def all_pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Follow ``next_url`` to the end, as a careful client does."""
        objects: list[dict[str, Any]] = []
        url: str | None = path
        first = True
        while url:
            response = self.get(url, params=params if first else None)
            assert response.status_code == 200, response.text
            page = response.json()
            objects.extend(page["objects"])
            url, first = page.get("next_url"), False
            assert len(objects) < 10_000
        return objects


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox with small pages (3) and quick copies (0.05 s)."""
    with Sandbox(per_page_cap=3, copy_seconds=0.05) as sb:
        yield sb


@pytest.fixture
def api(sandbox: Sandbox) -> Api:
    """A client for ``sandbox`` with its default credentials."""
    return Api(sandbox)


def finished_job(api: Api, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll a job until it reaches a terminal status; return it."""
    terminal = {"FINISHED", "FINISHED_WITH_WARNING", "FAILED", "ABORTED", "SKIPPED"}

    def done() -> dict[str, Any] | None:
        job = api.get(f"/API/jobs/v1/jobs/{job_id}/").json()
        return job if job["status"] in terminal else None

    return wait_for(done, timeout)  # type: ignore[no-any-return]


@pytest.fixture
def poll() -> Callable[..., Any]:
    """``poll(predicate, timeout=30.0)``: wait until truthy (fails the test on timeout)."""
    return wait_for


@pytest.fixture
def job_done(api: Api) -> Callable[..., dict[str, Any]]:
    """``job_done(job_id)``: poll the job until it ends, return it."""
    return lambda job_id, timeout=30.0: finished_job(api, job_id, timeout)


SECRET = "receiver-shared-secret"
POLICY_PATH = "/policies/tidy/remove"


class Receiver:
    """A custom action's URL on a local server: keeps each request it receives and answers
    ``{"job_id": ...}`` with ``status``; while ``gate`` is set, answers only once it opens."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.status = 200
        self.gate: threading.Event | None = None
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []
        server.expect_request(POLICY_PATH, method="POST").respond_with_handler(self._answer)

    @property
    def url(self) -> str:
        """The policy URL as the plugin's actions carry it: storages in the query."""
        return self.server.url_for(POLICY_PATH) + "?b2_storage_id=b2&ll_storage_id=ll"

    def _answer(self, request: Request) -> Response:
        if self.gate is not None:
            self.gate.wait(30)
        item = {
            "body": request.get_json(force=True),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "query": request.args.to_dict(),
        }
        with self._lock:
            self._received.append(item)
        answer = {"job_id": str(uuid.uuid4())}
        return Response(json.dumps(answer), self.status, content_type="application/json")

    @property
    def received(self) -> list[dict[str, Any]]:
        """What arrived, in order: each request's JSON ``body``, ``headers`` and ``query``."""
        with self._lock:
            return list(self._received)

    def asset_ids(self) -> list[list[str]]:
        """The ``asset_ids`` of each request received."""
        return [item["body"]["asset_ids"] for item in self.received]


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[HTTPServer]:
    """One local server a test file (threaded: deliveries may overlap; stopping takes 0.5 s)."""
    server = HTTPServer("127.0.0.1", 0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: HTTPServer) -> Iterator[Receiver]:
    """A fresh receiver for each test."""
    receiver_server.clear()
    yield Receiver(receiver_server)
    receiver_server.clear()


@pytest.fixture
def action(api: Api, receiver: Receiver) -> dict[str, Any]:
    """A custom action of the sandbox whose URL is the receiver, with the shared secret in its
    headers, as the plugin's policy actions are."""
    body = {
        "type": "POST",
        "context": "ASSET",
        "title": "Tidy: remove from LucidLink",
        "url": receiver.url,
        "headers": {"x-bz-secret": SECRET},
    }
    answer = api.post("/API/assets/v1/custom_actions/ASSET/", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]
