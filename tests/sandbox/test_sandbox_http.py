"""iconik's HTTP conventions: authentication, error bodies, routing, recording."""

from __future__ import annotations

import dataclasses
import time

import requests

from iconik_sandbox import Sandbox


def test_missing_or_wrong_credentials_answer_401(sandbox: Sandbox) -> None:
    url = sandbox.url + "/API/files/v1/storages/"
    bare = requests.get(url, timeout=5)
    wrong = requests.get(url, headers={"App-ID": sandbox.app_id, "Auth-Token": "nope"}, timeout=5)
    other_app = requests.get(
        url, headers={"App-ID": "someone-else", "Auth-Token": sandbox.token}, timeout=5
    )
    for response in (bare, wrong, other_app):
        assert response.status_code == 401
        assert response.json() == {"errors": ["Token is invalid"]}


def test_added_token_is_accepted(sandbox: Sandbox) -> None:
    sandbox.add_token("app-2", "token-2")
    response = requests.get(
        sandbox.url + "/API/files/v1/storages/",
        headers={"App-ID": "app-2", "Auth-Token": "token-2"},
        timeout=5,
    )
    assert response.status_code == 200


def test_unknown_route_and_method_are_json_errors(api) -> None:
    missing = api.get("/API/files/v1/nothing/here/")
    assert missing.status_code == 404
    assert missing.json() == {"errors": ["Not found"]}
    not_api = api.get("/elsewhere")
    assert not_api.status_code == 404 and "errors" in not_api.json()
    wrong_method = api.put("/API/files/v1/storages/")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"errors": ["Method not allowed"]}


def test_unknown_objects_answer_404_with_errors(api) -> None:
    for path in (
        "/API/files/v1/storages/0b0c0d0e-0000-4000-8000-000000000000/",
        "/API/assets/v1/assets/0b0c0d0e-0000-4000-8000-000000000000/",
        "/API/assets/v1/collections/0b0c0d0e-0000-4000-8000-000000000000/",
        "/API/assets/v1/collections/0b0c0d0e-0000-4000-8000-000000000000/contents/",
        "/API/search/v1/search/saved/0b0c0d0e-0000-4000-8000-000000000000/",
        "/API/jobs/v1/jobs/0b0c0d0e-0000-4000-8000-000000000000/",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert isinstance(response.json()["errors"], list) and response.json()["errors"]


def test_invalid_json_body_is_400(api) -> None:
    response = api.post(
        "/API/jobs/v1/jobs/", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"]


def test_every_request_is_recorded_without_token_values(sandbox: Sandbox, api) -> None:
    storage = sandbox.state.add_storage("B2", "B2")
    api.get(f"/API/files/v1/storages/{storage['id']}/", params={"x": "1"})
    api.post("/API/jobs/v1/jobs/", json={"title": "t", "type": "CUSTOM", "status": "STARTED"})
    requests.get(sandbox.url + "/API/files/v1/storages/", timeout=5)  # no credentials: 401

    records = sandbox.requests.list()
    assert [(r.method, r.status) for r in records] == [("GET", 200), ("POST", 201), ("GET", 401)]
    first, second = records[0], records[1]
    assert first.path == f"/API/files/v1/storages/{storage['id']}/"
    assert first.query == {"x": "1"}
    assert first.body is None
    assert second.body == {"title": "t", "type": "CUSTOM", "status": "STARTED"}
    assert first.app_id == sandbox.app_id
    assert first.latency >= 0 and first.wall > 0 and first.time > 0
    assert sandbox.token not in repr(records)
    assert sandbox.requests.count() == 3
    assert sandbox.requests.count("POST") == 1
    assert sandbox.requests.count(path_regex=r"/storages/$", status=401) == 1
    sandbox.requests.clear()
    assert len(sandbox.requests) == 0


def test_max_rate_counts_requests_in_a_sliding_window(sandbox: Sandbox, api) -> None:
    for _ in range(5):
        api.get("/API/files/v1/storages/")
    # A window far longer than five requests can take, however loaded the machine.
    assert sandbox.requests.max_rate(window=60.0) == 5
    assert sandbox.requests.max_rate(window=1e-9) == 1
    # The sliding itself, on arrival times of our choosing (real ones depend on the load).
    one = sandbox.requests.list()[0]
    sandbox.requests.clear()
    for t in (0.0, 0.4, 0.8, 1.1, 1.15, 3.0):
        sandbox.requests.append(dataclasses.replace(one, time=1000.0 + t))
    assert sandbox.requests.max_rate(window=1.0) == 4  # 0.4, 0.8, 1.1 and 1.15
    assert sandbox.requests.max_rate(window=0.5) == 3  # 0.8, 1.1 and 1.15


def test_custom_action_delete_works_without_trailing_slash(sandbox: Sandbox, api) -> None:
    action = api.post(
        "/API/assets/v1/custom_actions/ASSET/",
        json={"context": "ASSET", "title": "Add", "url": "https://example.invalid/add"},
    ).json()
    response = api.delete(
        f"/API/assets/v1/custom_actions/ASSET/{action['id']}", allow_redirects=False
    )
    assert response.status_code == 204
    assert sandbox.state.custom_actions == {}


def test_stop_is_quick_even_with_copies_pending() -> None:
    sandbox = Sandbox(copy_seconds=30).start()
    b2 = sandbox.state.add_storage("B2", "B2")
    ll = sandbox.state.add_storage("LL", "FILE")
    asset = sandbox.state.add_asset("a")
    sandbox.state.add_file_set(asset["id"], "ORIGINAL", b2["id"])
    response = requests.post(
        f"{sandbox.url}/API/files/v1/storages/{ll['id']}/bulk/",
        json={"object_ids": [asset["id"]], "object_type": "assets"},
        headers=sandbox.headers,
        timeout=5,
    )
    assert response.status_code == 202
    assert sandbox.copies.pending() == 1
    started = time.monotonic()
    sandbox.stop()
    # Far under the copy's 30 s (stop must not wait for it), far over what load adds to a stop.
    assert time.monotonic() - started < 20
    assert sandbox.copies.pending() == 0
