"""The custom-action admin CLI's planning (b2_iconik.custom_actions), with no iconik."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from b2_iconik import custom_actions as ca
from tests.custom_actions.helpers import (
    APP_ID,
    B2,
    ENDPOINT,
    LL,
    OTHER_ENDPOINT,
    SECRET,
)


@pytest.mark.parametrize(
    ("url", "endpoint", "expected"),
    [
        (f"{ENDPOINT}/add?b2_storage_id=x", None, "add"),
        (f"{ENDPOINT}/remove/", None, "remove"),
        (f"{ENDPOINT}/add", ENDPOINT, "add"),
        (f"{ENDPOINT}/add", ENDPOINT + "/", "add"),
        (f"{ENDPOINT.upper().replace('/ICONIK_HANDLER', '/iconik_handler')}/add", ENDPOINT, "add"),
        (f"{OTHER_ENDPOINT}/add", ENDPOINT, None),
        (f"{ENDPOINT}/sub/add", ENDPOINT, None),
        (f"{ENDPOINT}/address", None, None),
        ("https://example.com/other", None, None),
        ("add", None, None),
        (None, None, None),
    ],
)
def test_operation_of(url: Any, endpoint: str | None, expected: str | None) -> None:
    assert ca.operation_of(url, endpoint) == expected


@pytest.mark.parametrize(
    ("operation", "formats", "title"),
    [
        ("add", ["ORIGINAL"], "Add original files to LucidLink"),
        (
            "add",
            ["ORIGINAL", "PPRO_PROXY"],
            "Add original and Premiere Pro proxy files to LucidLink",
        ),
        ("remove", ["ORIGINAL"], "Remove original files from LucidLink"),
        (
            "remove",
            ["ORIGINAL", "EDIT_PROXY", "MY_FORMAT"],
            "Remove original, edit proxy and MY_FORMAT files from LucidLink",
        ),
    ],
)
def test_titles(operation: str, formats: list[str], title: str) -> None:
    assert ca.action_title(operation, formats) == title


def test_endpoint_is_normalized_and_checked() -> None:
    assert ca.normalize_endpoint(ENDPOINT + "/") == ENDPOINT
    for bad in (
        "ftp://x/y",
        "not a url",
        f"{ENDPOINT}?a=b",
        f"{ENDPOINT}/add",
        f"{ENDPOINT}/remove/",
    ):
        with pytest.raises(ca.UsageError):
            ca.normalize_endpoint(bad)


def _spec(**overrides: Any) -> ca.ActionSpec:
    fields: dict[str, Any] = {
        "endpoint": ENDPOINT,
        "app_id": APP_ID,
        "secret": SECRET,
        "b2_storage_id": B2,
        "ll_storage_id": LL,
        "formats": ("ORIGINAL",),
    }
    fields.update(overrides)
    return ca.ActionSpec(**fields)


def test_plan_create_from_nothing_makes_eight_actions() -> None:
    changes = ca.plan_create([], _spec())
    assert [c.kind for c in changes] == ["create"] * 8
    assert {(c.context, ca.operation_of(c.action["url"])) for c in changes} == {
        (context, op) for context in ca.CONTEXTS for op in ca.OPERATIONS
    }
    add = changes[0].action
    assert add == {
        "type": "POST",
        "context": "ASSET",
        "title": "Add original files to LucidLink",
        "url": f"{ENDPOINT}/add?b2_storage_id={B2}&ll_storage_id={LL}&formats=ORIGINAL",
        "headers": {"x-bz-secret": SECRET},
        "app_id": APP_ID,
    }


def test_plan_create_updates_in_place_keeps_operator_fields_and_drops_duplicates() -> None:
    existing = [{**a.action, "id": str(uuid.uuid4())} for a in ca.plan_create([], _spec())]
    existing[0]["disabled"] = True
    duplicate = {**existing[1], "id": str(uuid.uuid4())}
    foreign = {**existing[2], "id": str(uuid.uuid4()), "url": f"{OTHER_ENDPOINT}/add"}
    changes = ca.plan_create(
        [*existing, duplicate, foreign], _spec(formats=("ORIGINAL", "PPRO_PROXY"))
    )
    kinds = [c.kind for c in changes]
    assert kinds.count("update") == 8
    assert kinds.count("delete") == 1
    assert [c.action_id for c in changes if c.kind == "delete"] == [duplicate["id"]]
    assert all(c.action_id != foreign["id"] for c in changes)
    first = changes[0]
    assert first.action_id == existing[0]["id"]
    assert first.action["disabled"] is True
    assert set(first.fields) == {"title", "url"}


def test_plan_create_again_with_same_spec_changes_nothing() -> None:
    existing = [{**c.action, "id": str(uuid.uuid4())} for c in ca.plan_create([], _spec())]
    assert {c.kind for c in ca.plan_create(existing, _spec())} == {"unchanged"}


def test_plan_without_storages_or_formats_leaves_them_to_the_function() -> None:
    change = ca.plan_create([], _spec(b2_storage_id=None, ll_storage_id=None, formats=None))[0]
    assert change.action["url"] == f"{ENDPOINT}/add"
    assert change.action["title"] == "Add original files to LucidLink"


def test_describe_masks_the_secret() -> None:
    for change in ca.plan_create([], _spec()):
        for dry_run in (True, False):
            line = ca.describe(change, dry_run)
            assert SECRET not in line
            assert "x-bz-secret: ****" in line


def test_display_url_masks_secret_like_query_values() -> None:
    url = f"{ENDPOINT}/add?b2_storage_id={B2}&secret=abc&auth_token=def&formats=A,B"
    shown = ca.display_url(url)
    assert "abc" not in shown and "def" not in shown
    assert f"b2_storage_id={B2}" in shown and "formats=A,B" in shown
