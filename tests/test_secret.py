"""The shared secret (b2_iconik.auth.secret): from the settings, or once from Secret Manager.

Secret Manager is the real ``google-cloud-secret-manager`` client on its REST transport, talking
to a local ``pytest-httpserver`` on 127.0.0.1 (DESIGN §7); the metadata server is another one,
reached through ``GCE_METADATA_HOST``. Nothing leaves the machine.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import google_crc32c
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from b2_iconik.auth import secret
from b2_iconik.auth.secret import SharedSecret
from b2_iconik.base import logs
from b2_iconik.base.config import Settings
from b2_iconik.base.errors import SecretUnavailable

APP_ID = "11111111-1111-1111-1111-111111111111"
ACCESS = "/v1/projects/proj/secrets/bz-shared-secret/versions/latest:access"
METADATA = "/computeMetadata/v1/project/project-id"


@pytest.fixture
def sm(httpserver: HTTPServer) -> HTTPServer:
    """The fake Secret Manager (also used as the fake metadata server), cleared per test."""
    return httpserver


@pytest.fixture
def no_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)


def endpoint(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(**env: str) -> Settings:
    return Settings.from_env(environ={"ICONIK_ID": APP_ID, **env}, dotenv_path=None)


def sm_settings(server: HTTPServer, project: str | None = "proj") -> Settings:
    env = {"SECRET_MANAGER_ENDPOINT": endpoint(server)}
    if project:
        env["GOOGLE_CLOUD_PROJECT"] = project
    return settings(**env)


def version(data: bytes, crc: int | None = None) -> dict[str, Any]:
    return {
        "name": "projects/proj/secrets/bz-shared-secret/versions/7",
        "payload": {
            "data": base64.b64encode(data).decode(),
            "dataCrc32c": str(google_crc32c.value(data) if crc is None else crc),
        },
    }


def access_count(server: HTTPServer) -> int:
    return sum(1 for request, _ in server.log if request.path == ACCESS)


# -- from the settings -----------------------------------------------------------------------------


def test_secret_from_settings_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(_: Settings, secret_id: str) -> str:
        raise AssertionError("Secret Manager must not be called")

    monkeypatch.setattr(secret, "_access_secret", no_network)
    shared = SharedSecret(
        settings(
            BZ_SHARED_SECRET="from-the-environment",
            SECRET_MANAGER_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
        )
    )
    assert shared.get() == b"from-the-environment"
    assert shared.get() == b"from-the-environment"


def test_secret_from_settings_is_redacted() -> None:
    value = f"env-secret-{uuid.uuid4().hex}"
    SharedSecret(settings(BZ_SHARED_SECRET=value))
    assert value not in logs._secrets.scrub(f"the secret is {value}")


# -- from Secret Manager ---------------------------------------------------------------------------


def test_secret_from_secret_manager(sm: HTTPServer) -> None:
    sm.expect_request(ACCESS, method="GET").respond_with_json(version(b"sm-secret-value"))
    assert SharedSecret(sm_settings(sm)).get() == b"sm-secret-value"
    assert access_count(sm) == 1


def test_trailing_newline_stripped(sm: HTTPServer) -> None:
    sm.expect_request(ACCESS).respond_with_json(version(b"sm-secret-value\n"))
    assert SharedSecret(sm_settings(sm)).get() == b"sm-secret-value"


def test_fetched_once_across_many_gets(sm: HTTPServer) -> None:
    sm.expect_request(ACCESS).respond_with_json(version(b"fetched-once"))
    shared = SharedSecret(sm_settings(sm))
    for _ in range(20):
        assert shared.get() == b"fetched-once"
    assert access_count(sm) == 1


def test_fetched_once_across_threads(sm: HTTPServer) -> None:
    all_waiting = threading.Event()

    class CountingLock:
        """The secret's lock, telling once all eight threads have come to take it."""

        def __init__(self, lock: Any) -> None:
            self.lock, self.arrived, self.counting = lock, 0, threading.Lock()

        def __enter__(self) -> None:
            with self.counting:  # counted before taking the lock: several threads wait there
                self.arrived += 1
                if self.arrived >= 8:
                    all_waiting.set()
            self.lock.acquire()

        def __exit__(self, *_: object) -> None:
            self.lock.release()

    def held_answer(_: Request) -> Response:
        # Hold the first fetch until every thread has come to take the lock (not a sleep a
        # loaded machine may outlast): the other seven must then use its answer.
        all_waiting.wait(30)
        return Response(json.dumps(version(b"threaded-secret")), content_type="application/json")

    sm.expect_request(ACCESS).respond_with_handler(held_answer)
    shared = SharedSecret(sm_settings(sm))
    shared._lock = CountingLock(shared._lock)  # type: ignore[assignment]
    barrier = threading.Barrier(8)
    results: list[bytes] = []
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            results.append(shared.get())
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert results == [b"threaded-secret"] * 8
    assert access_count(sm) == 1


def test_wrong_crc32c(sm: HTTPServer) -> None:
    data = b"corrupted-secret"
    sm.expect_request(ACCESS).respond_with_json(version(data, crc=google_crc32c.value(data) ^ 1))
    with pytest.raises(SecretUnavailable, match="CRC32C"):
        SharedSecret(sm_settings(sm)).get()


@pytest.mark.parametrize(
    ("status", "reason"), [(404, "NOT_FOUND"), (403, "PERMISSION_DENIED")]
)
def test_refusal_names_the_secret(sm: HTTPServer, status: int, reason: str) -> None:
    sm.expect_request(ACCESS).respond_with_json(
        {"error": {"code": status, "message": "no such secret", "status": reason}}, status=status
    )
    with pytest.raises(SecretUnavailable) as caught:
        SharedSecret(sm_settings(sm)).get()
    assert "bz-shared-secret" in str(caught.value)
    assert "projects/proj/secrets/bz-shared-secret" in str(caught.value)
    assert access_count(sm) == 1  # not retried (counted, not timed: load can slow one call)


def test_failure_is_not_cached(sm: HTTPServer) -> None:
    sm.expect_ordered_request(ACCESS).respond_with_json(
        {"error": {"code": 404, "message": "not yet", "status": "NOT_FOUND"}}, status=404
    )
    sm.expect_ordered_request(ACCESS).respond_with_json(version(b"now-it-exists"))
    shared = SharedSecret(sm_settings(sm))
    with pytest.raises(SecretUnavailable):
        shared.get()
    assert shared.get() == b"now-it-exists"


@pytest.mark.parametrize("data", [b"", b"  \n"])
def test_empty_secret(sm: HTTPServer, data: bytes) -> None:
    sm.expect_request(ACCESS).respond_with_json(version(data))
    with pytest.raises(SecretUnavailable, match="empty"):
        SharedSecret(sm_settings(sm)).get()


# -- the project from the metadata server ----------------------------------------------------------


def test_project_from_metadata(
    sm: HTTPServer, monkeypatch: pytest.MonkeyPatch, no_project: None
) -> None:
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{sm.port}")
    sm.expect_request(
        METADATA, method="GET", headers={"Metadata-Flavor": "Google"}
    ).respond_with_data("proj\n", content_type="application/text")
    sm.expect_request(ACCESS).respond_with_json(version(b"via-metadata"))
    shared = SharedSecret(sm_settings(sm, project=None))
    assert shared.get() == b"via-metadata"
    assert shared.get() == b"via-metadata"
    metadata_calls = [r for r, _ in sm.log if r.path == METADATA]
    assert len(metadata_calls) == 1
    assert metadata_calls[0].headers["Metadata-Flavor"] == "Google"
    assert access_count(sm) == 1


def test_project_setting_beats_metadata(
    sm: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{sm.port}")
    sm.expect_request(ACCESS).respond_with_json(version(b"no-metadata-needed"))
    assert SharedSecret(sm_settings(sm)).get() == b"no-metadata-needed"
    assert not [r for r, _ in sm.log if r.path == METADATA]


def test_metadata_server_down(
    sm: HTTPServer, monkeypatch: pytest.MonkeyPatch, no_project: None
) -> None:
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{closed_port()}")
    with pytest.raises(SecretUnavailable, match="GOOGLE_CLOUD_PROJECT"):
        SharedSecret(sm_settings(sm, project=None)).get()
    assert access_count(sm) == 0


def test_metadata_server_error(
    sm: HTTPServer, monkeypatch: pytest.MonkeyPatch, no_project: None
) -> None:
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{sm.port}")
    sm.expect_request(METADATA).respond_with_data("no", status=500)
    with pytest.raises(SecretUnavailable, match="GOOGLE_CLOUD_PROJECT"):
        SharedSecret(sm_settings(sm, project=None)).get()


# -- redaction -------------------------------------------------------------------------------------


@pytest.fixture
def log_buffer(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """setup_logging into a buffer; the root logger's handlers and level restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(logs, "_handler", None)
    buffer = io.StringIO()
    logs.setup_logging(project="proj", stream=buffer)
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)


def test_secret_from_secret_manager_is_redacted(sm: HTTPServer, log_buffer: io.StringIO) -> None:
    value = f"sm-{uuid.uuid4().hex}"
    sm.expect_request(ACCESS).respond_with_json(version(value.encode()))
    assert SharedSecret(sm_settings(sm)).get() == value.encode()
    logging.getLogger("test.secret").warning("x-bz-secret was %s", value)
    logging.getLogger("test.secret").warning(f"again: {value}")
    output = log_buffer.getvalue()
    assert value not in output
    assert output.count("[redacted]") == 2


def test_secret_manager_unavailable_fails_after_one_attempt(sm: HTTPServer) -> None:
    """Requests wait on the secret's lock: a 503 must not be retried for seconds on end."""
    sm.expect_request(ACCESS).respond_with_json({"error": {"code": 503}}, status=503)
    with pytest.raises(SecretUnavailable):
        SharedSecret(sm_settings(sm)).get()
    assert access_count(sm) == 1


# -- the application token (bz-iconik-token) ----------------------------------------------------

APP_ACCESS = "/v1/projects/proj/secrets/bz-iconik-token/versions/latest:access"


def test_app_token_from_the_environment_wins(sm: HTTPServer) -> None:
    token = secret.AppToken(settings(ICONIK_TOKEN="env-app-token",
                                     SECRET_MANAGER_ENDPOINT=endpoint(sm),
                                     GOOGLE_CLOUD_PROJECT="proj"))
    assert token.get() == "env-app-token"
    assert sm.log == []


def test_no_app_token_off_google_cloud_asks_nobody(sm: HTTPServer) -> None:
    assert secret.AppToken(settings()).get() is None
    assert sm.log == []


def test_app_token_from_secret_manager_is_read_once(sm: HTTPServer) -> None:
    sm.expect_request(APP_ACCESS).respond_with_json(version(b"sm-app-token\n"))
    token = secret.AppToken(sm_settings(sm))
    assert token.get() == token.get() == "sm-app-token"
    assert sum(1 for request, _ in sm.log if request.path == APP_ACCESS) == 1


def test_an_app_token_secret_that_does_not_exist_is_none_for_a_minute(sm: HTTPServer) -> None:
    sm.expect_request(APP_ACCESS).respond_with_json(
        {"error": {"code": 404, "message": "Secret not found", "status": "NOT_FOUND"}},
        status=404)
    now = [1000.0]
    token = secret.AppToken(sm_settings(sm), clock=lambda: now[0])
    assert token.get() is None and token.get() is None
    assert sum(1 for request, _ in sm.log if request.path == APP_ACCESS) == 1
    now[0] += secret.MISSING_SECONDS + 1
    assert token.get() is None
    assert sum(1 for request, _ in sm.log if request.path == APP_ACCESS) == 2


def test_an_unreadable_app_token_secret_is_a_passing_failure(sm: HTTPServer) -> None:
    sm.expect_request(APP_ACCESS).respond_with_json(
        {"error": {"code": 503, "message": "unavailable", "status": "UNAVAILABLE"}}, status=503)
    with pytest.raises(SecretUnavailable) as caught:
        secret.AppToken(sm_settings(sm)).get()
    assert not isinstance(caught.value, secret.SecretMissing)


def test_on_cloud_run_the_app_token_is_looked_up_in_secret_manager() -> None:
    # Cloud Run and Cloud Functions gen2 set K_SERVICE; off Google Cloud nothing is asked.
    assert settings(K_SERVICE="b2-iconik").on_google_cloud
    assert not settings().on_google_cloud
