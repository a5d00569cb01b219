"""Requests from iconik's automations (policies) at the HTTP edge, as the application."""

from __future__ import annotations

import json

import pytest
import responses

from tests import leaks
from tests.web.support import (
    B2,
    COLLECTION,
    ICONIK,
    JOB,
    QUERY,
    RecordingRunner,
    body,
    post,
)

# -- requests from iconik's automations (policies) ---------------------------------------------

APP_TOKEN = "app-token-for-tests-0123"
leaks.secret(APP_TOKEN)


class StaticAppToken:
    """The plugin's application token, as configured (or not), or unreadable."""

    where = "ICONIK_TOKEN, or the Secret Manager secret bz-iconik-token"

    def __init__(self, token=None, error=None) -> None:
        self.token, self.error = token, error

    def get(self):
        if self.error is not None:
            raise self.error
        return self.token


@pytest.fixture
def automations(app_module, client, iconik):
    """The plugin with an application token and fresh gathering windows; iconik answers the
    batch's calls (no batch yet, create the batch and its ledger part, write the ledger)."""
    from b2_iconik.engine.gathering import Gatherer

    main = app_module[1]
    main.plugin.app_token = StaticAppToken(APP_TOKEN)
    main.plugin.worker.gatherer = Gatherer(main.plugin.settings)
    iconik.get(f"{ICONIK}/API/jobs/v1/jobs/", json={"objects": [], "page": 1, "pages": 1})
    iconik.patch(f"{ICONIK}/API/jobs/v1/jobs/{JOB}/", json={"id": JOB})
    iconik.get(f"{ICONIK}/API/auth/v1/auth/token/",
               json={"user_id": "u0000000-0000-4000-8000-000000000001"})
    yield main.plugin
    main.plugin.app_token = StaticAppToken(None)


def auth_tokens(mock) -> set[str]:
    return {c.request.headers.get("Auth-Token") for c in mock.calls}


def test_a_policy_request_without_a_token_is_gathered_as_the_application(
        client, iconik, runner, automations):
    path = "/fn/policies/remove-when-approved/remove/" + QUERY
    answer = post(client, path, body(auth_token=None))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["job_id"] == JOB and answer.get_json()["gathered"] is True
    assert answer.get_json()["source"] == "automation: remove-when-approved, as the application"
    (close,) = runner.started
    assert close.kind == "close" and close.auth_token == APP_TOKEN
    assert auth_tokens(iconik) == {APP_TOKEN}
    batch = json.loads(next(c.request.body for c in iconik.calls if c.request.method == "POST"))
    assert batch["title"].endswith("(automation: remove-when-approved, as the application)")


def test_a_request_without_a_token_and_no_application_token_is_refused(client, iconik):
    answer = post(client, payload=body(auth_token=None))
    assert answer.status_code == 400
    assert "ICONIK_TOKEN" in answer.get_json()["error"]
    assert len(iconik.calls) == 0


def test_the_application_token_refused_by_iconik_is_the_operators_to_fix(
        client, automations):
    with responses.RequestsMock() as refusing:
        refusing.get(f"{ICONIK}/API/files/v1/storages/{B2}/", status=401,
                     json={"errors": ["Unauthorized"]})
        answer = post(client, payload=body(auth_token=None))
    assert answer.status_code == 502
    assert "application token" in answer.get_json()["error"]


def test_an_unreadable_application_token_asks_to_try_again(client, iconik, automations):
    from b2_iconik.base.errors import SecretUnavailable

    automations.app_token = StaticAppToken(error=SecretUnavailable("Secret Manager is down"))
    answer = post(client, payload=body(auth_token=None))
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert len(iconik.calls) == 0


def test_a_queue_that_refuses_the_batchs_start_is_503_and_the_batch_ends(
        client, iconik, automations):
    class Refusing(RecordingRunner):
        def enqueue(self, step) -> bool:
            raise RuntimeError("the queue is down")

    automations.runner = Refusing()
    answer = post(client, "/policies/remove-when-approved/remove" + QUERY, body())
    assert answer.status_code == 503
    ends = [json.loads(c.request.body) for c in iconik.calls if c.request.method == "PATCH"]
    assert any(e.get("status") == "FAILED" for e in ends)


def test_a_collection_from_an_automation_is_an_action_of_its_own(
        client, iconik, runner, automations):
    answer = post(client, "/policies/p1/remove" + QUERY,
                  body(context="COLLECTION", asset_ids=[], collection_ids=[COLLECTION],
                       auth_token=None))
    assert answer.status_code == 200
    assert "gathered" not in answer.get_json()
    (step,) = runner.started
    assert step.kind == "expand" and step.source == "automation: p1, as the application"


@pytest.mark.parametrize("name", ["Bad", "-x", "a" * 64, "a_b", "%20"])
def test_a_policy_name_that_is_not_one_is_refused(client, iconik, name):
    answer = post(client, f"/policies/{name}/remove" + QUERY)
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("policy:")
    assert len(iconik.calls) == 0
