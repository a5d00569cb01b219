"""Routing and refusals at the HTTP edge (edge.router, edge.click): paths, secret, bodies."""

from __future__ import annotations

import json

import pytest

from tests.web.support import (
    B2,
    ICONIK,
    LL,
    QUERY,
    SECRET,
    TOKEN,
    body,
    iconik_paths,
    post,
)


@pytest.mark.parametrize("prefix", ["", "/iconik_handler", "/a/b"])
@pytest.mark.parametrize("operation", ["add", "remove"])
@pytest.mark.parametrize("slash", ["", "/"])
def test_routing_on_the_path_suffix(client, iconik, runner, prefix, operation, slash):
    answer = post(client, path=f"{prefix}/{operation}{slash}{QUERY}")
    assert answer.status_code == 200
    assert runner.started[-1].operation == operation


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_get_405_with_a_message(client, iconik, method):
    answer = getattr(client, method)("/add" + QUERY, headers={"x-bz-secret": SECRET})
    assert answer.status_code == 405
    assert answer.get_json()["message"]
    assert answer.headers["Allow"] == "POST"
    assert not iconik.calls


@pytest.mark.parametrize(
    "path", ["/", "/copy", "/addx", "/add/more", "/readd", "/healthzz", "/health"]
)
def test_other_paths_get_404_json(client, iconik, path):
    answer = post(client, path=path)
    assert answer.status_code == 404
    assert answer.is_json
    assert not iconik.calls


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
def test_missing_or_wrong_secret_gets_401(client, iconik, runner, secret):
    answer = post(client, secret=secret)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"]
    assert answer.is_json
    assert not iconik.calls and not runner.started


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(context="ASSET_SUBCLIP"), "context"),
        (body(context=None), "context"),
        (body(context=["ASSET"]), "context"),
        (body(context={"ASSET": 1}), "context"),
        (body(asset_ids=["not-a-uuid"]), "asset_ids"),
        (body(collection_ids=[42]), "collection_ids"),
        (body(asset_ids="a0000000-0000-4000-8000-000000000001"), "asset_ids"),
        (body(asset_ids=[], collection_ids=[], saved_search_ids=[]), "asset_ids"),
        (body(auth_token=None), "auth_token"),
        (body(auth_token=" "), "auth_token"),
        ([1, 2], "body"),
    ],
)
def test_bad_payload_gets_400_naming_the_field_and_changes_nothing(
    client, iconik, runner, payload, field
):
    answer = post(client, payload=payload)
    assert answer.status_code == 400
    assert field in answer.get_json()["error"]
    assert not iconik.calls and not runner.started


@pytest.mark.parametrize("data", [b"", b"{not json", b"\xff\xfe"])
def test_body_that_is_not_json_gets_400(client, iconik, data):
    answer = post(client, data=data, content_type="application/json")
    assert answer.status_code == 400
    assert "body" in answer.get_json()["error"]


def test_body_over_one_mebibyte_gets_413(client, iconik, runner):
    big = json.dumps(body(padding="x" * (1024 * 1024)))
    answer = post(client, data=big, content_type="application/json")
    assert answer.status_code == 413
    assert "body" in answer.get_json()["error"]
    assert not runner.started


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"?ll_storage_id={LL}", "b2_storage_id"),
        (f"?b2_storage_id={B2}", "ll_storage_id"),
        (f"?b2_storage_id={B2}&ll_storage_id={B2}", "ll_storage_id"),
        (f"?b2_storage_id=nope&ll_storage_id={LL}", "b2_storage_id"),
        (QUERY + "&formats=,", "formats"),
        (QUERY + "&dry_run=maybe", "dry_run"),
    ],
)
def test_bad_storages_or_options_get_400_naming_them(client, iconik, runner, query, field):
    answer = post(client, path="/remove" + query)
    assert answer.status_code == 400
    assert field in answer.get_json()["error"]
    assert not runner.started


def test_storage_unknown_to_iconik_gets_400_naming_it(client, iconik, runner):
    unknown = "5e000000-0000-4000-8000-000000000000"
    iconik.get(f"{ICONIK}/API/files/v1/storages/{unknown}/", status=404,
               json={"errors": ["Storage not found"]})
    answer = post(client, path=f"/add?b2_storage_id={unknown}&ll_storage_id={LL}")
    assert answer.status_code == 400
    assert "b2_storage_id" in answer.get_json()["error"]
    assert unknown in answer.get_json()["error"]
    assert not runner.started
    assert "POST /API/jobs/v1/jobs/" not in iconik_paths(iconik)


@pytest.mark.parametrize("data", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_deeply_nested_body_gets_400_not_500(client, iconik, runner, data):
    answer = post(client, data=data, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("body:")
    assert not iconik.calls and not runner.started


@pytest.mark.parametrize("key", ["auth_token", "context", "asset_ids", "padding"])
def test_body_with_a_duplicate_key_gets_400_naming_it(client, iconik, runner, key):
    # Two parsers may pick different copies; iconik never sends one, so none is guessed at.
    text = json.dumps(body(padding=1))
    data = text[:-1] + f', "{key}": {json.dumps(body(padding=1)[key])}}}'
    answer = post(client, data=data, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"] == f"body: has the key {key!r} twice"
    assert not iconik.calls and not runner.started


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_body_with_non_standard_numbers_gets_400(client, iconik, runner, constant):
    data = json.dumps(body())[:-1] + f', "padding": {constant}}}'
    answer = post(client, data=data, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "body: is not valid JSON"
    assert not runner.started


@pytest.mark.parametrize("token", [TOKEN + "\u00e9", TOKEN + "\r\nX-Evil: 1", TOKEN + "\x00"],
                         ids=["unicode", "crlf", "nul"])
def test_token_that_cannot_be_a_header_gets_400_and_no_iconik_call(client, iconik, runner,
                                                                     token):
    answer = post(client, payload=body(auth_token=token))
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("auth_token:")
    assert not iconik.calls and not runner.started


@pytest.mark.parametrize("secret", [SECRET, "wrong", SECRET + "x", "", "\u00e9" * 8])
def test_secret_is_compared_in_constant_time_as_bytes(client, iconik, monkeypatch, secret):
    import hmac
    from types import SimpleNamespace

    from b2_iconik.edge import click

    calls: list[tuple[type, type]] = []

    def spy(a, b):
        calls.append((type(a), type(b)))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(click, "hmac", SimpleNamespace(compare_digest=spy))
    answer = post(client, secret=secret)
    assert calls == [(bytes, bytes)]  # once, whatever the length, never str against bytes
    assert answer.status_code == (200 if secret == SECRET else 401)


def test_missing_and_wrong_secrets_get_the_same_answer(client, iconik):
    missing, wrong = post(client, secret=None), post(client, secret=SECRET[:-1])
    assert (missing.status_code, missing.get_json()) == (wrong.status_code, wrong.get_json())
    assert missing.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]
