"""The iconik client's retries (b2_iconik.iconik.retry) and its errors once they run out."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import requests
import responses
from pytest_httpserver import HTTPServer

from b2_iconik.base.errors import IconikHTTPError, IconikUnavailable
from b2_iconik.iconik.client import IconikClient
from tests.iconik.support import (
    ASSET,
    BULK,
    JOB,
    JOBS,
    LL,
    TOKEN,
    base_of,
    fast_client,
)

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
