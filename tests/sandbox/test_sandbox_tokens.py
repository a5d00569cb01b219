"""Tokens that expire, as iconik's do: check, renew without invalidating, refresh, expire."""

from __future__ import annotations

from datetime import datetime

import requests

from iconik_sandbox import Sandbox
from iconik_sandbox.tokens import Tokens

TOKEN_PATH = "/API/auth/v1/auth/token/"


def _get(sandbox: Sandbox, token: str) -> requests.Response:
    headers = {"App-ID": sandbox.app_id, "Auth-Token": token}
    return requests.get(sandbox.url + "/API/files/v1/storages/", headers=headers, timeout=5)


def test_check_answers_the_expiry(sandbox: Sandbox, api) -> None:
    answer = api.get(TOKEN_PATH)
    assert answer.status_code == 200
    expires = datetime.fromisoformat(answer.json()["expires"]).timestamp()
    assert abs(expires - sandbox.tokens.expires(sandbox.app_id, sandbox.token)) < 0.001


def test_new_token_leaves_the_old_one_valid(sandbox: Sandbox, api) -> None:
    answer = api.post(TOKEN_PATH, json={})
    assert answer.status_code == 201
    new = answer.json()["token"]
    assert new and new != sandbox.token
    assert _get(sandbox, new).status_code == 200
    assert _get(sandbox, sandbox.token).status_code == 200


def test_expired_token_gets_401_everywhere(sandbox: Sandbox, api) -> None:
    sandbox.tokens.expire(sandbox.token)
    assert _get(sandbox, sandbox.token).status_code == 401
    assert api.get(TOKEN_PATH).status_code == 401
    assert api.post(TOKEN_PATH, json={}).status_code == 401


def test_renewals_can_be_refused(sandbox: Sandbox, api) -> None:
    sandbox.tokens.refused_renewals = True
    assert api.post(TOKEN_PATH, json={}).status_code == 403
    sandbox.reset()
    assert api.post(TOKEN_PATH, json={}).status_code == 201


def test_lifetime_counts_from_creation_on_the_given_clock() -> None:
    now = [1000.0]
    tokens = Tokens(lifetime=60, clock=lambda: now[0])
    tokens.add("app", "t")
    assert tokens.valid("app", "t") and tokens.expires("app", "t") == 1060
    now[0] = 1061
    assert not tokens.valid("app", "t")
    assert tokens.refresh("app", "t") == 1121 and tokens.valid("app", "t")
    never = Tokens(lifetime=None)
    never.add("app", "t")
    assert never.valid("app", "t") and never.expires("app", "t") is None


def test_refresh_extends_the_same_token(sandbox: Sandbox, api) -> None:
    before = sandbox.tokens.expires(sandbox.app_id, sandbox.token)
    answer = api.put(TOKEN_PATH, json={})
    assert answer.status_code == 200 and answer.json()["token"] == sandbox.token
    assert sandbox.tokens.expires(sandbox.app_id, sandbox.token) >= before


def test_tokens_carry_every_role_unless_told_otherwise() -> None:
    tokens = Tokens()
    tokens.add("app", "full")
    tokens.add("app", "limited", user_id="u-2", without_roles=["can_run_automations"])
    assert tokens.has_role("app", "full", "can_run_automations")
    assert not tokens.has_role("app", "limited", "can_run_automations")
    assert tokens.has_role("app", "limited", "can_read_automations")
    tokens.refresh("app", "limited")  # a refresh keeps whose it is and what it lacks
    renewed, _ = tokens.renew("app", like="limited")
    for token in ("limited", renewed):
        assert tokens.holder("app", token).user_id == "u-2"
        assert not tokens.has_role("app", token, "can_run_automations")


def test_token_check_names_its_user(sandbox: Sandbox) -> None:
    sandbox.add_token(sandbox.app_id, "someone", user_id="11111111-1111-4111-8111-111111111111")
    answer = requests.get(
        sandbox.url + TOKEN_PATH,
        headers={"App-ID": sandbox.app_id, "Auth-Token": "someone"},
        timeout=5,
    )
    assert answer.json()["user_id"] == "11111111-1111-4111-8111-111111111111"
