"""HTTP faults: latency, 429 with Retry-After, a share of 5xx, fail_next; all before state."""

from __future__ import annotations

import functools
import time

import pytest

from iconik_sandbox import Faults, Sandbox


def test_rate_limit_answers_429_with_retry_after(
    sandbox: Sandbox, api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # All eight requests arrive in the same instant of the fault's clock: on a loaded machine
    # eight real requests may take more than the second the limit counts.
    monkeypatch.setattr(sandbox.faults, "http_fault",
                        functools.partial(sandbox.faults.http_fault, now=1000.0))
    sandbox.faults.rate_limit_rps = 5
    responses = [api.get("/API/files/v1/storages/") for _ in range(8)]
    assert [r.status_code for r in responses[:5]] == [200] * 5
    refused = [r for r in responses[5:] if r.status_code == 429]
    assert len(refused) == 3
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert refused[0].json() == {"errors": ["Too many requests"]}
    assert sandbox.requests.count(status=429) == len(refused)


def test_rate_limit_lets_a_polite_client_through(sandbox: Sandbox, api) -> None:
    sandbox.faults.rate_limit_rps = 1000
    assert all(api.get("/API/files/v1/storages/").ok for _ in range(20))


def test_error_rate_gives_a_share_of_5xx_repeatably(sandbox: Sandbox, api) -> None:
    def run(seed: int) -> list[int]:
        sandbox.faults.configure(seed=seed, error_rate=0.3)
        return [api.get("/API/files/v1/storages/").status_code for _ in range(40)]

    first = run(11)
    assert set(first) <= {200, 500, 503}
    assert 3 <= sum(s != 200 for s in first) <= 25
    assert run(11) == first
    failed = next(r for r in sandbox.requests.list() if r.status in (500, 503))
    assert failed.path == "/API/files/v1/storages/"


def test_error_rate_limited_to_a_path_and_method(sandbox: Sandbox, api) -> None:
    sandbox.faults.configure(error_rate=1.0, error_method="DELETE", error_path=r"/file_sets/")
    assert api.get("/API/files/v1/storages/").status_code == 200
    ll = sandbox.state.add_storage("LL", "FILE")
    asset = sandbox.state.add_asset("a")["id"]
    fs = sandbox.state.add_file_set(asset, "ORIGINAL", ll["id"])
    assert api.get(f"/API/files/v1/assets/{asset}/file_sets/{fs['id']}/").status_code == 200
    assert api.delete(f"/API/files/v1/assets/{asset}/file_sets/{fs['id']}/").status_code in (
        500,
        503,
    )
    assert sandbox.state.file_sets[fs["id"]]["status"] == "ACTIVE"


def test_fail_next_fails_exactly_n_matching_requests_before_state_changes(
    sandbox: Sandbox, api
) -> None:
    ll = sandbox.state.add_storage("LL", "FILE")
    asset = sandbox.state.add_asset("a")["id"]
    fs = sandbox.state.add_file_set(asset, "ORIGINAL", ll["id"])
    path = f"/API/files/v1/assets/{asset}/file_sets/{fs['id']}/"
    sandbox.faults.fail_next("DELETE", r"/file_sets/", 503, count=2, retry_after=2)
    assert api.get(path).status_code == 200  # GET does not match
    first = api.delete(path)
    assert first.status_code == 503 and first.headers["Retry-After"] == "2"
    assert first.json()["errors"]
    assert sandbox.state.file_sets[fs["id"]]["status"] == "ACTIVE"
    assert api.delete(path).status_code == 503
    assert sandbox.state.file_sets[fs["id"]]["status"] == "ACTIVE"
    assert api.delete(path).status_code == 200
    assert sandbox.state.file_sets[fs["id"]]["status"] == "DELETED"


def test_faulted_copy_request_queues_nothing(sandbox: Sandbox, api) -> None:
    b2 = sandbox.state.add_storage("B2", "B2")
    ll = sandbox.state.add_storage("LL", "FILE")
    asset = sandbox.state.add_asset("a")["id"]
    sandbox.state.add_file_set(asset, "ORIGINAL", b2["id"])
    sandbox.faults.fail_next("POST", r"/bulk/$", 500)
    response = api.post(
        f"/API/files/v1/storages/{ll['id']}/bulk/",
        json={"object_ids": [asset], "object_type": "assets"},
    )
    assert response.status_code == 500
    assert sandbox.state.jobs() == []


def test_latency_is_added_to_matching_paths(
    sandbox: Sandbox, api, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.faults.configure(latency=0.2, latency_path=r"/jobs/")
    delays: list[tuple[str, float]] = []
    delay_for = sandbox.faults.delay_for

    def recorded(path: str) -> float:
        delays.append((path, delay_for(path)))
        return delays[-1][1]

    monkeypatch.setattr(sandbox.faults, "delay_for", recorded)
    api.get("/API/files/v1/storages/")
    started = time.monotonic()
    api.get("/API/jobs/v1/jobs/")
    slow = time.monotonic() - started
    # What each request was delayed by, not how long it took ("fast < 0.2 s" fails under load).
    assert delays == [("/API/files/v1/storages/", 0.0), ("/API/jobs/v1/jobs/", 0.2)]
    assert slow >= 0.2
    assert sandbox.requests.list()[-1].latency >= 0.2


def test_faults_from_the_constructor() -> None:
    with Sandbox(faults={"error_rate": 1.0}) as sb:
        import requests

        response = requests.get(sb.url + "/API/files/v1/storages/", headers=sb.headers, timeout=5)
        assert response.status_code in (500, 503)
    faults = Faults(seed=1)
    with Sandbox(faults=faults) as sb:
        assert sb.faults is faults


def test_describe_and_clear() -> None:
    faults = Faults(seed=2, latency=0.1, copy_fail=["a"])
    faults.fail_next("*", "/x/", 500)
    described = faults.describe()
    assert described["latency"] == 0.1 and described["copy_fail"] == ["a"]
    assert described["pending_fail_next"][0]["status"] == 500
    faults.clear()
    assert faults.describe()["pending_fail_next"] == [] and faults.latency == 0.0
