"""The iconik client (b2_iconik.iconik): headers, timeouts, retries, errors, paging, the rate cap.

iconik is mocked with ``responses`` at https://iconik.test (no network). ``responses`` replays
urllib3's retry decisions but never sleeps, so the tests that need real waiting (Retry-After, the
request-rate cap) run against a local ``pytest-httpserver`` on 127.0.0.1 instead.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from pytest_httpserver import HTTPServer

from b2_iconik.base.errors import IconikHTTPError, IconikUnavailable
from b2_iconik.iconik import pool, session
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.limiter import BACKGROUND, CLICK, CLICK_MEMORY_SECONDS, RateLimiter
from b2_iconik.iconik.pool import shared_limiter
from b2_iconik.iconik.retry import retry_policy

BASE = "https://iconik.test"
APP_ID = "11111111-1111-1111-1111-111111111111"
TOKEN = "user-token-0123456789abcdef"
ASSET = "a1a1a1a1-0000-4000-8000-000000000001"
FILE_SET = "f5f5f5f5-0000-4000-8000-000000000001"
COLLECTION = "c1c1c1c1-0000-4000-8000-000000000001"
LL = "33333333-3333-3333-3333-333333333333"
B2 = "22222222-2222-2222-2222-222222222222"
JOB = "10b10b10-0000-4000-8000-000000000001"

JOBS = f"{BASE}/API/jobs/v1/jobs/"
BULK = f"{BASE}/API/files/v1/storages/{LL}/bulk/"
CONTENTS = f"{BASE}/API/assets/v1/collections/{COLLECTION}/contents/"


def fast_client(base: str = BASE, **kwargs: Any) -> IconikClient:
    kwargs.setdefault("retry", retry_policy(total=3, backoff_factor=0.01))
    kwargs.setdefault("copy_retry", retry_policy(total=3, backoff_factor=0.01, post=True))
    return IconikClient(base, APP_ID, TOKEN, **kwargs)


@pytest.fixture
def client() -> Iterator[IconikClient]:
    with fast_client() as c:
        yield c


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def local(httpserver: HTTPServer) -> HTTPServer:
    """A local server on 127.0.0.1 (see httpserver_listen_address), cleared per test."""
    return httpserver


def base_of(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


# -- headers and timeouts ------------------------------------------------------------------------


def test_headers_sent(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{JOBS}{JOB}/", json={"id": JOB})
    assert client.get_job(JOB) == {"id": JOB}
    headers = mock.calls[0].request.headers
    assert headers["App-ID"] == APP_ID
    assert headers["Auth-Token"] == TOKEN


def test_token_not_in_repr(client: IconikClient) -> None:
    assert TOKEN not in repr(client)


def test_every_call_has_a_timeout(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/API/files/v1/storages/{LL}/", json={"id": LL})
    mock.get(f"{JOBS}{JOB}/", json={"id": JOB})
    mock.post(JOBS, json={"id": JOB})
    mock.patch(f"{JOBS}{JOB}/", json={})
    mock.post(BULK, json={"job_id": JOB})
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/formats/", json={"objects": []})
    mock.delete(f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/{FILE_SET}/", status=204)
    mock.get(CONTENTS, json={"objects": [{"id": "x"}], "next_url": f"{CONTENTS}?page=2"})
    mock.get(TOKEN_URL, json={"expires": "2030-01-01T00:00:00"})
    mock.post(TOKEN_URL, json={"token": "t2", "expires": "2030-01-01T00:00:00"}, status=201)

    client.get_storage(LL)
    client.get_job(JOB)
    client.create_job({"title": "t"})
    client.update_job(JOB, progress_processed=1)
    client.bulk_copy(LL, [ASSET], "ORIGINAL", source_id=B2)
    client.asset_formats(ASSET)
    client.delete_file_set(ASSET, FILE_SET)
    client.check_token()
    client.new_token()
    with pytest.raises(IconikHTTPError):  # the second page repeats itself
        list(client.collection_contents(COLLECTION))

    assert len(mock.calls) >= 11
    for call in mock.calls:
        assert call.request.req_kwargs["timeout"] == session.DEFAULT_TIMEOUT, call.request.url


def test_custom_timeout_is_used(mock: responses.RequestsMock) -> None:
    mock.get(f"{JOBS}{JOB}/", json={"id": JOB})
    with fast_client(timeout=(1.5, 4.0)) as c:
        c.get_job(JOB)
    assert mock.calls[0].request.req_kwargs["timeout"] == (1.5, 4.0)


# -- retries -------------------------------------------------------------------------------------


def test_429_retried_for_get(client: IconikClient, mock: responses.RequestsMock) -> None:
    url = f"{JOBS}{JOB}/"
    mock.get(url, status=429, headers={"Retry-After": "0"})
    mock.get(url, status=429, headers={"Retry-After": "0"})
    mock.get(url, json={"id": JOB})
    assert client.get_job(JOB) == {"id": JOB}
    assert len(mock.calls) == 3


def test_429_retried_for_post(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(JOBS, status=429, headers={"Retry-After": "0"})
    mock.post(JOBS, json={"id": JOB})
    assert client.create_job({"title": "t"}) == JOB
    assert len(mock.calls) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_retried_for_get(
    client: IconikClient, mock: responses.RequestsMock, status: int
) -> None:
    url = f"{JOBS}{JOB}/"
    mock.get(url, status=status)
    mock.get(url, json={"id": JOB})
    assert client.get_job(JOB) == {"id": JOB}
    assert len(mock.calls) == 2


def test_5xx_not_retried_for_create_job(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    mock.post(JOBS, status=503, json={"errors": ["try later"]})
    mock.post(JOBS, json={"id": JOB})
    with pytest.raises(IconikHTTPError) as caught:
        client.create_job({"title": "t"})
    assert caught.value.status == 503
    assert len(mock.calls) == 1


def test_5xx_retried_for_bulk_copy(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(BULK, status=502)
    mock.post(BULK, status=503)
    mock.post(BULK, json={"job_id": JOB})
    assert client.bulk_copy(LL, [ASSET], "ORIGINAL") == JOB
    assert len(mock.calls) == 3


def test_retries_exhausted_list_errors(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{JOBS}{JOB}/", status=503, json={"errors": ["iconik is busy", "come back"]})
    with pytest.raises(IconikHTTPError) as caught:
        client.get_job(JOB)
    error = caught.value
    assert error.status == 503
    assert error.messages == ["iconik is busy", "come back"]
    assert "iconik is busy" in str(error)
    assert (error.method, error.path) == ("GET", f"/API/jobs/v1/jobs/{JOB}/")
    assert len(mock.calls) == 4  # the first try and 3 retries
    assert TOKEN not in str(error)


def test_retries_exhausted_dict_errors(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{JOBS}{JOB}/", status=503, json={"errors": {"job": "is locked"}})
    with pytest.raises(IconikHTTPError) as caught:
        client.get_job(JOB)
    assert caught.value.status == 503
    assert caught.value.messages == ["job: is locked"]
    assert "job: is locked" in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "messages"),
    [
        ({"json": {"errors": ["bad title"]}}, ["bad title"]),
        ({"json": {"errors": {"title": "required"}}}, ["title: required"]),
        ({"json": {"message": "nope"}}, ["nope"]),
        ({"body": "<html>oops</html>"}, ["Bad Request"]),
    ],
)
def test_error_messages(
    client: IconikClient, mock: responses.RequestsMock, answer: dict[str, Any], messages: list[str]
) -> None:
    mock.post(JOBS, status=400, **answer)
    with pytest.raises(IconikHTTPError) as caught:
        client.create_job({})
    assert caught.value.status == 400
    assert caught.value.messages == messages
    assert len(mock.calls) == 1  # a 400 is not retried


def test_429_exhausted(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(JOBS, status=429, headers={"Retry-After": "0"}, json={"errors": ["slow down"]})
    with pytest.raises(IconikHTTPError) as caught:
        client.create_job({})
    assert caught.value.status == 429
    assert len(mock.calls) == 4


@pytest.mark.parametrize(
    "error", [requests.ConnectionError("refused"), requests.ReadTimeout("slow")]
)
def test_no_answer_is_unavailable(
    client: IconikClient, mock: responses.RequestsMock, error: Exception
) -> None:
    mock.get(f"{JOBS}{JOB}/", body=error)
    with pytest.raises(IconikUnavailable) as caught:
        client.get_job(JOB)
    assert TOKEN not in str(caught.value)


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with fast_client(f"http://127.0.0.1:{port}") as c, pytest.raises(IconikUnavailable) as caught:
        c.get_job(JOB)
    assert "GET" in str(caught.value)


def test_retry_after_is_honoured(local: HTTPServer) -> None:
    path = f"/API/jobs/v1/jobs/{JOB}/"
    local.expect_ordered_request(path).respond_with_data(
        "", status=429, headers={"Retry-After": "1"}
    )
    local.expect_ordered_request(path).respond_with_json({"id": JOB})
    with fast_client(base_of(local)) as c:
        started = time.monotonic()
        assert c.get_job(JOB) == {"id": JOB}
        elapsed = time.monotonic() - started
    assert elapsed >= 0.9  # the backoff alone would be ~0.01 s
    assert len(local.log) == 2


# -- missing things --------------------------------------------------------------------------------


def test_404_is_none_for_single_objects(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/API/files/v1/storages/{LL}/", status=404, json={"errors": ["not found"]})
    mock.get(f"{JOBS}{JOB}/", status=404)
    assert client.get_storage(LL) is None
    assert client.get_job(JOB) is None


@pytest.mark.parametrize("kind", ["formats", "file_sets", "files"])
def test_404_is_empty_for_asset_listings(
    client: IconikClient, mock: responses.RequestsMock, kind: str
) -> None:
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/{kind}/", status=404)
    assert getattr(client, f"asset_{kind}")(ASSET) == []


def test_asset_listing_other_errors_raise(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/", status=403)
    with pytest.raises(IconikHTTPError) as caught:
        client.asset_file_sets(ASSET)
    assert caught.value.status == 403


def test_missing_collection_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(CONTENTS, status=404)
    with pytest.raises(IconikHTTPError) as caught:
        list(client.collection_contents(COLLECTION))
    assert caught.value.status == 404


def test_asset_listing_params(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/", json={"objects": [{"id": "fs"}]})
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/files/", json={"objects": [{"id": "f"}]})
    assert client.asset_file_sets(ASSET) == [{"id": "fs"}]
    assert client.asset_files(ASSET) == [{"id": "f"}]
    assert mock.calls[0].request.params == {"per_page": "100", "file_count": "true"}
    assert mock.calls[1].request.params == {"per_page": "100", "generate_signed_url": "false"}


# -- paging ----------------------------------------------------------------------------------------


def paged(pages: dict[str, dict[str, Any]], seen: list[str]) -> Any:
    """A responses callback answering by the ``page`` query parameter."""

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen.append(request.url or "")
        page = request.params.get("page", "1")  # type: ignore[attr-defined]
        return 200, {"Content-Type": "application/json"}, json.dumps(pages[page])

    return answer


def test_pagination_follows_next_url(client: IconikClient, mock: responses.RequestsMock) -> None:
    pages = {
        "1": {"objects": [{"id": "1"}, {"id": "2"}], "next_url": f"{CONTENTS}?page=2"},
        "2": {"objects": [{"id": "3"}], "next_url": "/API/assets/v1/collections/"
              f"{COLLECTION}/contents/?page=3"},
        "3": {"objects": [{"id": "4"}, {"id": "5"}], "next_url": None},
    }
    seen: list[str] = []
    mock.add_callback(responses.GET, CONTENTS, callback=paged(pages, seen))
    ids = [item["id"] for item in client.collection_contents(COLLECTION)]
    assert ids == ["1", "2", "3", "4", "5"]
    assert len(seen) == 3
    first = mock.calls[0].request.params
    assert first["per_page"] == "100" and first["object_types"] == "assets,collections"
    for call in mock.calls:
        assert call.request.headers["Auth-Token"] == TOKEN


def test_next_url_to_another_host_stays_on_iconik(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    evil_calls: list[str] = []
    evil = f"https://evil.test/API/assets/v1/collections/{COLLECTION}/contents/"
    pages = {
        "1": {"objects": [{"id": "1"}], "next_url": f"{evil}?page=2"},
        "2": {"objects": [{"id": "2"}]},
    }
    seen: list[str] = []
    mock.add_callback(responses.GET, CONTENTS, callback=paged(pages, seen))
    mock.add_callback(responses.GET, evil, callback=paged(pages, evil_calls))
    ids = [item["id"] for item in client.collection_contents(COLLECTION)]
    assert ids == ["1", "2"]
    assert evil_calls == []
    assert all(call.request.url.startswith(BASE + "/") for call in mock.calls)
    assert seen[1] == f"{CONTENTS}?page=2"


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.test/API/assets/v1/collections/x/contents/?page=2",
        "https://evil.test:443/API/assets/v1/collections/x/contents/?page=2",
        "https://iconik.test@evil.test/API/assets/v1/collections/x/contents/?page=2",
        "https://evil.test\\@iconik.test/API/?page=2",
        "\\\\evil.test/API/?page=2",
        "https:evil.test/API/?page=2",
        "ftp://evil.test/API/?page=2",
        "/..//evil.test/API/?page=2",
        "@evil.test/API/?page=2",
    ],
)
def test_no_next_url_takes_the_token_to_another_host(
    client: IconikClient, mock: responses.RequestsMock, next_url: str
) -> None:
    import re

    mock.get(CONTENTS, json={"objects": [{"id": "1"}], "next_url": next_url})
    mock.add(responses.GET, re.compile(r"https://iconik\.test/.*"), json={"objects": []})
    mock.add(responses.GET, re.compile(r"(?!https://iconik\.test/).*"), json={"objects": []})
    list(client.collection_contents(COLLECTION))
    assert len(mock.calls) == 2
    for call in mock.calls:
        assert call.request.url.startswith(BASE + "/"), call.request.url


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(
    client: IconikClient, mock: responses.RequestsMock, status: int
) -> None:
    # requests would re-send the Auth-Token header to the new host: only Authorization is
    # dropped on a cross-host redirect.
    evil = "https://evil.test/steal"
    mock.get(f"{BASE}/API/files/v1/storages/{LL}/", status=status, headers={"Location": evil})
    mock.delete(f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/{FILE_SET}/", status=status,
                headers={"Location": evil})
    mock.add(responses.GET, evil, json={"id": LL})
    mock.add(responses.DELETE, evil, status=204)
    with pytest.raises(IconikHTTPError) as caught:
        client.get_storage(LL)
    assert caught.value.status == status
    with pytest.raises(IconikHTTPError):  # a redirected delete is not a delete done
        client.delete_file_set(ASSET, FILE_SET)
    assert [c.request.url for c in mock.calls if "evil" in c.request.url] == []


def test_repeating_next_url_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    pages = {
        "1": {"objects": [{"id": "1"}], "next_url": f"{CONTENTS}?page=2"},
        "2": {"objects": [{"id": "2"}], "next_url": f"{CONTENTS}?page=2"},
    }
    seen: list[str] = []
    mock.add_callback(responses.GET, CONTENTS, callback=paged(pages, seen))
    with pytest.raises(IconikHTTPError, match="repeats"):
        list(client.collection_contents(COLLECTION))
    assert len(seen) == 2


def test_list_answer_is_taken_as_objects(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/formats/", json=[{"name": "ORIGINAL"}])
    assert client.asset_formats(ASSET) == [{"name": "ORIGINAL"}]


def test_saved_search_results(client: IconikClient, mock: responses.RequestsMock) -> None:
    search = "5e5e5e5e-0000-4000-8000-000000000001"
    mock.get(f"{BASE}/API/search/v1/search/saved/{search}/", json={"objects": [{"id": "a"}]})
    assert list(client.saved_search_results(search)) == [{"id": "a"}]


# -- deleting --------------------------------------------------------------------------------------

FILE_SET_URL = f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/{FILE_SET}/"
TOKEN_URL = f"{BASE}/API/auth/v1/auth/token/"


def test_update_job_merges_metadata(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.patch(f"{JOBS}{JOB}/", json={})
    client.update_job(JOB, metadata={"seq_done": 2})
    client.update_job(JOB, status="FINISHED")
    first, second = (c.request for c in mock.calls)
    assert first.url.endswith("?merge_metadata=true") and "?" not in second.url
    assert json.loads(first.body) == {"metadata": {"seq_done": 2}}


def test_token_check_and_renewal(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(TOKEN_URL, json={"token": "t", "expires": "2030-01-01T00:00:00"})
    mock.post(TOKEN_URL, json={"token": "renewed", "expires": "2031-01-01T00:00:00"}, status=201)
    assert client.check_token()["expires"] == "2030-01-01T00:00:00"
    assert client.new_token()["token"] == "renewed"
    client.use_token("renewed")
    client.check_token()
    assert mock.calls[-1].request.headers["Auth-Token"] == "renewed"


def test_delete_file_set_skips_the_recycle_bin_in_one_call(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    mock.delete(FILE_SET_URL, status=204)
    client.delete_file_set(ASSET, FILE_SET)
    assert [(c.request.method, c.request.url) for c in mock.calls] == [
        ("DELETE", FILE_SET_URL + "?immediately=true"),
    ]


def test_delete_file_set_already_gone_counts_as_deleted(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    mock.delete(FILE_SET_URL, status=404, json={"errors": ["File set doesn't exist"]})
    client.delete_file_set(ASSET, FILE_SET)
    assert len(mock.calls) == 1


def test_delete_file_set_error_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.delete(FILE_SET_URL, status=403, json={"errors": ["not allowed"]})
    with pytest.raises(IconikHTTPError) as caught:
        client.delete_file_set(ASSET, FILE_SET)
    assert caught.value.status == 403
    assert len(mock.calls) == 1


# -- bulk copy -------------------------------------------------------------------------------------


def test_bulk_copy_body(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(BULK, json={"job_id": JOB})
    assert client.bulk_copy(LL, [ASSET, "a2"], "PPRO_PROXY", source_id=B2) == JOB
    sent = json.loads(mock.calls[0].request.body)
    assert sent == {
        "object_ids": [ASSET, "a2"],
        "object_type": "assets",
        "format_name": "PPRO_PROXY",
        "preferred_original_storage_id": B2,
        "allow_duplicate_transfers": False,
    }


def test_bulk_copy_without_source(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(BULK, json={})
    assert client.bulk_copy(LL, [ASSET], "ORIGINAL") == ""
    assert "preferred_original_storage_id" not in json.loads(mock.calls[0].request.body)


def test_bulk_copy_takes_500_ids(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(BULK, json={"job_id": JOB})
    assert client.bulk_copy(LL, [f"id-{i}" for i in range(500)], "ORIGINAL") == JOB


@pytest.mark.parametrize("count", [0, 501])
def test_bulk_copy_refuses_too_many_or_none(
    client: IconikClient, mock: responses.RequestsMock, count: int
) -> None:
    with pytest.raises(ValueError, match="500"):
        client.bulk_copy(LL, [f"id-{i}" for i in range(count)], "ORIGINAL")
    assert len(mock.calls) == 0


def test_create_job_without_id_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(JOBS, json={})
    with pytest.raises(IconikHTTPError):
        client.create_job({})


def test_non_json_answer_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{JOBS}{JOB}/", body="not json", content_type="text/plain")
    with pytest.raises(IconikHTTPError, match="not JSON"):
        client.get_job(JOB)


# -- the request-rate cap --------------------------------------------------------------------------


def test_shared_limiter_is_shared_per_rate() -> None:
    assert shared_limiter(17.0) is shared_limiter(17.0)
    assert shared_limiter(17.0) is shared_limiter(17)
    assert shared_limiter(17.0) is not shared_limiter(18.0)
    assert shared_limiter(0.5) is shared_limiter(0.5)


def test_clients_share_one_limiter(mock: responses.RequestsMock) -> None:
    with fast_client(max_rps=23.0) as a, fast_client(max_rps=23.0) as b:
        adapter_a = a.session.get_adapter(f"{JOBS}{JOB}/")
        adapter_b = b.session.get_adapter(f"{JOBS}{JOB}/")
        storages_a = a.session.get_adapter(BULK)
    assert adapter_a.budget.limiter is adapter_b.budget.limiter is shared_limiter(23.0)
    assert storages_a.budget is adapter_a.budget


def test_clients_share_one_connection_pool_that_outlives_each(local: HTTPServer) -> None:
    """A click or a step does not open connections of its own: all clients share one pool."""
    local.expect_request(f"/API/jobs/v1/jobs/{JOB}/").respond_with_json({"id": JOB})
    with fast_client(base_of(local)) as a:
        a.get_job(JOB)
        pool = a.session.get_adapter(base_of(local) + "/API/").poolmanager
    assert len(pool.pools) == 1, "closing a client keeps the shared pool's connections"
    with fast_client(base_of(local)) as b:
        assert b.session.get_adapter(base_of(local) + "/API/").poolmanager is pool
        assert b.get_job(JOB) == {"id": JOB}


def test_a_client_draws_on_the_background_lane_unless_told() -> None:
    with fast_client(max_rps=10) as c:
        assert c.lane == BACKGROUND
        c.use_lane(CLICK)
        assert c.lane == CLICK
        with pytest.raises(ValueError, match="lane"):
            c.use_lane("fast")


def test_max_rps_paces_requests(local: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 5 requests a second, the 6th and 7th requests wait for the next second."""
    monkeypatch.setattr(pool, "_limiters", {})  # a fresh budget, untouched by other tests
    local.expect_request(f"/API/jobs/v1/jobs/{JOB}/").respond_with_json({"id": JOB})
    with fast_client(base_of(local), max_rps=5) as c:
        started = time.monotonic()
        for _ in range(7):
            assert c.get_job(JOB) == {"id": JOB}
        elapsed = time.monotonic() - started
    assert len(local.log) == 7
    assert elapsed >= 0.9


def test_no_cap_without_max_rps(local: HTTPServer) -> None:
    local.expect_request(f"/API/jobs/v1/jobs/{JOB}/").respond_with_json({"id": JOB})
    with fast_client(base_of(local)) as c:
        # No budget to wait on at all (a wall-clock bound would break on a loaded machine).
        adapter = c.session.get_adapter(base_of(local) + "/API/")
        assert isinstance(adapter, pool.RateLimitedAdapter)
        assert adapter.budget.limiter is None
        for _ in range(7):
            assert c.get_job(JOB) == {"id": JOB}
    assert len(local.log) == 7


def test_retries_count_against_the_rate_cap(
    local: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 2 requests a second, 4 requests on the wire (3 answered 429) take at least a second."""
    monkeypatch.setattr(pool, "_limiters", {})
    path = f"/API/jobs/v1/jobs/{JOB}/"
    for _ in range(3):
        local.expect_ordered_request(path).respond_with_data(
            "", status=429, headers={"Retry-After": "0"}
        )
    local.expect_ordered_request(path).respond_with_json({"id": JOB})
    with fast_client(base_of(local), max_rps=4) as c:  # 3 a second for background requests
        started = time.monotonic()
        assert c.get_job(JOB) == {"id": JOB}
        elapsed = time.monotonic() - started
    assert len(local.log) == 4
    assert elapsed >= 0.9


def test_a_429_slows_every_thread_for_its_retry_after(
    local: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One thread's 429 (Retry-After: 1) holds another thread's request back as well."""
    first, other = f"/API/jobs/v1/jobs/{JOB}/", "/API/jobs/v1/jobs/other/"
    local.expect_oneshot_request(first).respond_with_data(
        "", status=429, headers={"Retry-After": "1"})
    local.expect_oneshot_request(first).respond_with_json({"id": JOB})
    local.expect_request(other).respond_with_json({"id": "other"})
    limiter = shared_limiter(100)
    paused = threading.Event()
    pause_ends: list[float] = []
    pause = limiter.pause

    def pause_and_tell(seconds: float) -> None:
        # The pause cannot end before this: the limiter counts it from after this moment.
        pause_ends.append(time.monotonic() + seconds)
        pause(seconds)
        paused.set()

    monkeypatch.setattr(limiter, "pause", pause_and_tell)
    with fast_client(base_of(local), max_rps=100) as a, fast_client(base_of(local),
                                                                    max_rps=100) as b:
        thread = threading.Thread(target=a.get_job, args=(JOB,))
        thread.start()
        # Wait for the pause itself to be in force (A has had its 429 and paused the budget),
        # not for the server to have answered: B could otherwise go out in between.
        assert paused.wait(30), "client A's 429 did not pause the budget"
        assert b.get_job("other") == {"id": "other"}
        sent = time.monotonic()
        thread.join(30)
    assert not thread.is_alive()
    assert sent >= pause_ends[0], "B's request went out while the 429's pause was in force"


# -- the limiter itself ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_is_counted_per_second_with_a_reserve_for_clicks() -> None:
    limiter = RateLimiter(45)
    assert (limiter.window, limiter.capacity) == (1.0, 45)
    assert (limiter.reserve_min, limiter.reserve_max) == (3, 33)
    slow = RateLimiter(0.5)
    assert (slow.window, slow.capacity, slow.reserve_min, slow.reserve_max) == (2.0, 1, 0, 0)
    assert RateLimiter(12.5).capacity == 12


def test_clicks_may_use_the_whole_second_background_never_the_reserve() -> None:
    clock = FakeClock()
    limiter = RateLimiter(45, clock=clock)
    sent = 0
    while clock.now + limiter.ready_in(BACKGROUND) < 100.99:  # all within one second
        clock.now += limiter.ready_in(BACKGROUND) + 1e-9
        limiter.acquire(BACKGROUND)
        sent += 1
    assert sent == 42, "background steps leave 3 requests a second to clicks"
    for _ in range(3):
        assert limiter.ready_in(CLICK) == 0
        limiter.acquire(CLICK)
    assert limiter.ready_in(CLICK) > 0, "and no more than 45 in any second, clicks included"


def test_background_requests_are_spaced_evenly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(45, clock=clock)
    for _ in range(4):  # a burst of a tenth of the second's 42 at most
        limiter.acquire(BACKGROUND)
    assert limiter.ready_in(BACKGROUND) == pytest.approx(1 / 42)
    fast = RateLimiter(300, clock=clock)
    for _ in range(28):
        assert fast.ready_in(BACKGROUND) < 1e-9
        fast.acquire(BACKGROUND)
    assert fast.ready_in(BACKGROUND) == pytest.approx(1 / 285)


def test_a_burst_of_clicks_keeps_room_for_the_next_one_for_a_while() -> None:
    clock = FakeClock()
    limiter = RateLimiter(45, clock=clock)
    for _ in range(20):
        limiter.acquire(CLICK)
    assert limiter.reserved() == 30  # the burst, and half as much again
    clock.now += CLICK_MEMORY_SECONDS + 0.01
    assert limiter.reserved() == 3, "once clicks stop, background steps get the budget back"


def test_a_pause_holds_background_requests_not_clicks() -> None:
    clock = FakeClock()
    limiter = RateLimiter(45, clock=clock)
    limiter.pause(2.0)
    assert limiter.ready_in(BACKGROUND) == pytest.approx(2.0)
    assert limiter.ready_in(CLICK) == 0


def test_a_waiting_click_goes_before_waiting_background_requests() -> None:
    limiter = RateLimiter(4)
    for _ in range(4):  # the whole second, spent
        limiter.acquire(CLICK)
    order: list[str] = []

    def take(lane: str) -> None:
        limiter.acquire(lane)
        order.append(lane)

    background = threading.Thread(target=take, args=(BACKGROUND,))
    background.start()
    # The background request waits first: wait until it is queued in the limiter, not a sleep.
    deadline = time.monotonic() + 30
    while not limiter._waiting[BACKGROUND]:
        assert time.monotonic() < deadline, "the background request never waited"
        time.sleep(0.005)
    click = threading.Thread(target=take, args=(CLICK,))
    click.start()
    background.join(30)
    click.join(30)
    assert order == [CLICK, BACKGROUND]
