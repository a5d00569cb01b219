"""``GET /`` and ``GET /healthz`` (issue 17): open to anyone, revealing nothing configured."""

from __future__ import annotations

import sys
import threading

import pytest
import responses
from functions_framework import create_app

import b2_iconik
from b2_iconik.base.errors import SecretUnavailable
from b2_iconik.edge import status
from tests import leaks

ICONIK = "https://iconik.test"
SECRET = "status-secret-for-tests"
B2 = "b2000000-0000-4000-8000-00000000b2b2"
LL = "11000000-0000-4000-8000-000000001111"
QUEUE = "projects/p/locations/l/queues/q"
leaks.secret(SECRET)


class FakeSecret:
    """A shared secret that fails while ``failing`` is set, counting reads."""

    def __init__(self, failing: bool = False) -> None:
        self.failing, self.reads = failing, 0

    def get(self) -> bytes:
        self.reads += 1
        if self.failing:
            raise SecretUnavailable("Secret Manager said 503")
        return SECRET.encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def app():
    """The function, configured with everything ``GET /`` must not reveal."""
    mp = pytest.MonkeyPatch()
    for name, value in (("ICONIK_ID", "app-id-for-tests"), ("ICONIK_URL", ICONIK),
                        ("BZ_SHARED_SECRET", SECRET), ("B2_STORAGE_ID", B2),
                        ("LL_STORAGE_ID", LL)):
        mp.setenv(name, value)
    mp.delenv("TASKS_QUEUE", raising=False)
    app = create_app("iconik_handler", "main.py")
    yield app, sys.modules["main"]
    mp.undo()


@pytest.fixture
def client(app):
    with responses.RequestsMock() as mock:  # any call to iconik fails the test
        yield app[0].test_client()
        assert not mock.calls


# -- GET / -----------------------------------------------------------------------------------


def test_root_names_the_plugin_its_version_and_endpoints(client):
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.get_json()
    assert body["name"] == status.NAME
    assert body["version"] == b2_iconik.__version__
    listed = {(e["method"], e["path"]) for e in body["endpoints"]}
    assert {("POST", "…/add"), ("POST", "…/remove"), ("GET", "/healthz"), ("GET", "/health"),
            ("GET", "/")} <= listed


def test_root_reveals_no_setting(client):
    text = client.get("/").get_data(as_text=True)
    for setting in (SECRET, ICONIK, "iconik.test", B2, LL, "app-id-for-tests", "queues"):
        assert setting not in text


def test_root_needs_no_secret_and_ignores_a_wrong_one(client):
    assert client.get("/", headers={"x-bz-secret": "wrong"}).status_code == 200


# -- GET /healthz ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/healthz/", "/health", "/health/"])
def test_healthz_is_200_when_the_secret_is_readable(client, path):
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok", "configuration": "loaded",
                                 "shared_secret": "readable"}
    assert SECRET not in answer.get_data(as_text=True)


def test_healthz_is_503_with_retry_after_when_the_secret_is_unreadable():
    answer = status.answer("GET", "/healthz", status.Health(FakeSecret(failing=True)))
    assert answer is not None
    assert answer.status == 503
    assert answer.headers == {"Retry-After": str(status.RETRY_SECONDS)}
    assert answer.body["shared_secret"] == "unreadable"
    assert "Secret Manager said" not in str(answer.body)  # the reason goes to the log only


def test_an_unreadable_secret_is_asked_again_only_after_retry_after():
    secret, clock = FakeSecret(failing=True), Clock()
    health = status.Health(secret, clock)
    for _ in range(5):
        assert not health.secret_readable()
    assert secret.reads == 1
    secret.failing = False
    clock.now += status.RETRY_SECONDS - 0.5
    assert not health.secret_readable()
    clock.now += 1
    assert health.secret_readable() and health.secret_readable()
    assert secret.reads == 3  # the real secret caches its value: reading it again is free


def test_checks_arriving_together_read_the_secret_once():
    gate, secret = threading.Event(), FakeSecret(failing=True)
    slow_get = secret.get

    def slow() -> bytes:
        gate.wait(5)
        return slow_get()

    secret.get = slow  # type: ignore[method-assign]
    health = status.Health(secret)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(health.secret_readable()))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(5)
    assert results == [False] * 4
    assert secret.reads == 1


def test_any_failure_to_read_is_unhealthy_not_a_500():
    class Broken:
        def get(self) -> bytes:
            raise RuntimeError("no credentials")

    assert not status.Health(Broken()).secret_readable()


# -- methods and paths -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/healthz", "/health"])
def test_head_answers_like_get_without_a_body(client, path):
    answer = client.head(path)
    assert answer.status_code == 200
    assert answer.get_data() == b""


@pytest.mark.parametrize("path", ["/", "/healthz", "/health"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_other_methods_are_404_as_on_any_other_path(client, path, method):
    """DESIGN §3: only …/add and …/remove answer 405; a POST to the bare URL stays a 404."""
    answer = getattr(client, method)(path, headers={"x-bz-secret": SECRET})
    assert answer.status_code == 404
    assert "Allow" not in answer.headers
    assert answer.get_json()["message"] == answer.get_json()["error"]


@pytest.mark.parametrize("path", ["/healthz/add", "/healthz/remove", "/x/healthz/add"])
def test_healthz_prefixed_operations_are_still_action_paths(client, path):
    assert client.get(path).status_code == 405  # as GET on any …/add: POST only
    assert client.post(path, json={}).status_code == 401  # the secret is checked


@pytest.mark.parametrize("path", ["/healthzz", "/x/healthz", "/healthz/x", "/x/health", "/healthy"])
def test_near_misses_are_still_404(client, path):
    assert client.get(path).status_code == 404


def test_other_paths_are_left_to_the_web_layer():
    health = status.Health(FakeSecret())
    assert status.answer("GET", "/add", health) is None
    assert status.answer("POST", "/remove", health) is None
