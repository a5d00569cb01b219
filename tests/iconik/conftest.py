"""Fixtures of the iconik client's tests: a fast client, iconik mocked, a local server.

iconik is mocked with ``responses`` at https://iconik.test (no network). ``responses`` replays
urllib3's retry decisions but never sleeps, so the tests that need real waiting (Retry-After, the
request-rate cap) run against a local ``pytest-httpserver`` on 127.0.0.1 instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from pytest_httpserver import HTTPServer

from b2_iconik.iconik.client import IconikClient
from tests.iconik.support import fast_client


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
