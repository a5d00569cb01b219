"""``GET /`` and ``GET /healthz`` on the real server (functions-framework), the shared secret
in a local Secret Manager: 200 once it is read, 503 with ``Retry-After`` while it cannot be,
and never a call to Secret Manager per check."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import google_crc32c
import pytest
import requests
from pytest_httpserver import HTTPServer

import b2_iconik
from b2_iconik.edge import status
from iconik_sandbox import Sandbox
from tests import leaks
from tests.scenarios.servers import PluginServer, free_port

pytestmark = pytest.mark.e2e

SM_SECRET = "secret-manager-shared-secret-for-status"
ACCESS = "/v1/projects/proj/secrets/bz-shared-secret/versions/latest:access"
leaks.secret(SM_SECRET)


def secret_version(value: str) -> dict:
    data = value.encode()
    return {"name": "projects/proj/secrets/bz-shared-secret/versions/1",
            "payload": {"data": base64.b64encode(data).decode(),
                        "dataCrc32c": str(google_crc32c.value(data))}}


def reads(sm: HTTPServer) -> int:
    return sum(1 for request, _ in sm.log if request.path == ACCESS)


@pytest.fixture
def server(sandbox: Sandbox, httpserver: HTTPServer, tmp_path: Path) -> Iterator[str]:
    """The plugin with no BZ_SHARED_SECRET: it must read ``bz-shared-secret`` from the fake."""
    plugin = PluginServer(
        sandbox, tmp_path / "plugin.log", free_port(), BZ_SHARED_SECRET="",
        GOOGLE_CLOUD_PROJECT="proj",
        SECRET_MANAGER_ENDPOINT=httpserver.url_for("/").rstrip("/"),
    ).start()
    yield plugin.url
    plugin.stop()


def test_healthz_is_503_while_secret_manager_fails_and_asks_it_once(
        server: str, httpserver: HTTPServer) -> None:
    httpserver.expect_request(ACCESS).respond_with_json({"error": {"code": 503}}, status=503)
    for _ in range(3):
        answer = requests.get(f"{server}/healthz", timeout=10)
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == str(status.RETRY_SECONDS)
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["shared_secret"] == "unreadable"
        assert "proj" not in answer.text  # the reason (with the project) is logged only
    assert reads(httpserver) == 1
    assert requests.head(f"{server}/healthz", timeout=10).status_code == 503
    # The root does not depend on the secret.
    assert requests.get(f"{server}/", timeout=10).json()["version"] == b2_iconik.__version__


def test_healthz_is_200_once_the_secret_is_read_and_costs_no_more_reads(
        server: str, httpserver: HTTPServer) -> None:
    httpserver.expect_request(ACCESS).respond_with_json(secret_version(SM_SECRET))
    for _ in range(3):
        answer = requests.get(f"{server}/healthz", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "ok", "configuration": "loaded",
                                 "shared_secret": "readable"}
    # A click with the secret reuses the value the health check read.
    assert requests.post(f"{server}/add", headers={"x-bz-secret": SM_SECRET},
                         data="not json", timeout=10).status_code == 400
    assert reads(httpserver) == 1


def test_root_over_http(server: str) -> None:
    answer = requests.get(f"{server}/", timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == status.NAME and body["version"] == b2_iconik.__version__
    refused = requests.post(f"{server}/", timeout=10)
    assert refused.status_code == 404 and "Allow" not in refused.headers  # DESIGN: other path
    assert requests.get(f"{server}/healthz/add", timeout=10).status_code == 405
