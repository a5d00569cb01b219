"""Driving a scenario: seed the sandbox, click as iconik does, wait for jobs and the queue."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import requests

from iconik_sandbox import Catalogue, Sandbox, SeedResult
from tests import leaks
from tests.scenarios.dispatcher import Dispatcher
from tests.scenarios.servers import (
    SECRET,
)

TERMINAL = {"FINISHED", "FAILED", "FINISHED_WITH_WARNING", "ABORTED", "SKIPPED"}


#: B2_ICONIK_LONG=1 runs the long variants: more fuzzing examples, the full load test.
LONG = os.environ.get("B2_ICONIK_LONG") == "1"


def plugin_jobs(sb: Sandbox) -> list[dict]:
    """The jobs the plugin created (iconik's own transfer jobs left out), children included."""
    return [job for job in sb.state.snapshot()["jobs"] if job["type"] == "CUSTOM"]


def endings(sb: Sandbox) -> Counter[str]:
    """How many PATCHes set each job to an ending status, by job id."""
    return Counter(r.path.split("/")[-2] for r in sb.requests.filter(method="PATCH")
                   if r.path.startswith("/API/jobs/v1/jobs/")
                   and isinstance(r.body, dict) and r.body.get("status") in TERMINAL)


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


def terminal_patches(sb: Sandbox, job_id: str) -> int:
    """How many times the plugin wrote a final status on the job (an end is written once)."""
    return sum(
        1 for r in sb.requests.filter("PATCH", f"/API/jobs/v1/jobs/{job_id}/$")
        if isinstance(r.body, dict) and r.body.get("status") in TERMINAL
    )


def settle(queue: Dispatcher, timeout: float = 30) -> None:
    """Wait until the dispatcher has nothing due or in flight (a twin may still be running)."""
    deadline = time.monotonic() + timeout
    while not queue.idle():
        assert time.monotonic() < deadline, "the queue did not settle"
        time.sleep(0.05)
