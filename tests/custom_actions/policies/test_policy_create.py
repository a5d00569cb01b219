"""``b2-iconik-actions policy create``: an inactive automation and its own action, end to end."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.custom_actions.helpers import (
    SECRET,
    run,
)
from tests.custom_actions.policies.backends import (
    AUTOMATIONS,
    PolicyBackend,
    SandboxIconik,
)
from tests.custom_actions.policies.helpers import (
    APPROVED,
    policy,
    policy_actions,
    the_one,
)


@pytest.mark.parametrize(
    ("argv", "slug", "operation", "trigger"),
    [
        (
            (APPROVED,),
            APPROVED,
            "remove",
            {"type": "REVIEW_STATUS_CHANGED", "parameters": {"statuses": ["APPROVED"]}},
        ),
        (
            ("remove-when-unmodified", "--days", "30"),
            "remove-when-unmodified-30d",
            "remove",
            {"type": "MODIFIED_AT_TRANSITION", "parameters": {"days_since_modified": 30}},
        ),
    ],
)
def test_create_makes_an_inactive_automation_and_its_own_action(
    registered: PolicyBackend,
    capsys: Any,
    argv: tuple[str, ...],
    slug: str,
    operation: str,
    trigger: dict[str, Any],
) -> None:
    endpoint, before = registered.endpoint, set(registered.actions)
    status, out, err = policy(capsys, "create", endpoint, *argv)
    assert status == 0, err

    (action,) = [a for k, a in registered.actions.items() if k not in before]
    assert action["context"] == "ASSET" and action["type"] == "POST"
    assert action["url"] == (
        f"{endpoint}/policies/{slug}/{operation}?b2_storage_id={registered.b2}"
        f"&ll_storage_id={registered.ll}&formats=ORIGINAL,PPRO_PROXY"
    )
    assert action["headers"] == {"x-bz-secret": SECRET}
    assert action["app_id"] == registered.app_id

    (automation,) = registered.automations().values()
    assert automation["status"] == "INACTIVE"
    assert automation["name"].startswith("B2 LucidLink: ")
    assert slug in automation["description"] and endpoint in automation["description"]
    assert automation["triggers"] == [trigger]
    assert automation["actions"] == [
        {"type": "CUSTOM_ACTION", "parameters": {"action_id": action["id"], "context": "ASSET"}}
    ]
    assert f"estimate: {registered.estimate(slug)} asset(s) match it now" in out
    assert "not active" in out
    assert registered.requests("PATCH", "/") == []
    assert registered.runs() == []


def test_create_when_added_to_a_collection_checks_it_exists(
    registered: PolicyBackend, capsys: Any
) -> None:
    endpoint = registered.endpoint
    collection = registered.add_collection("Finishing")
    status, out, err = policy(
        capsys, "create", endpoint, "add-when-in-collection", "--collection", collection
    )
    assert status == 0, err
    slug = f"add-when-in-collection-{collection.replace('-', '')[:8]}"
    assert the_one(registered)["triggers"] == [
        {
            "type": "OBJECT_ADDED_TO_COLLECTION",
            "parameters": {
                "collection_ids": [collection],
                "object_type": "assets",
                "include_subcollections": True,
            },
        }
    ]
    assert "Finishing" in the_one(registered)["name"]
    assert f"estimate: {registered.estimate(slug)} asset(s)" in out
    (action,) = policy_actions(registered, slug)
    assert action["url"].startswith(f"{endpoint}/policies/{slug}/add?")

    writes = registered.writes()
    missing = str(uuid.uuid4())
    status, _, err = policy(
        capsys, "create", endpoint, "add-when-in-collection", "--collection", missing
    )
    assert status == 2
    assert f"--collection {missing}: iconik has no such collection" in err
    assert registered.writes() == writes


def test_create_again_is_unchanged_and_sends_nothing(
    registered: PolicyBackend, capsys: Any
) -> None:
    assert policy(capsys, "create", registered.endpoint, APPROVED)[0] == 0
    before, writes = json.dumps(registered.automations()), registered.writes()
    status, out, _ = policy(capsys, "create", registered.endpoint, APPROVED)
    assert status == 0
    assert "custom action: unchanged" in out and "automation: unchanged" in out
    assert registered.writes() == writes
    assert json.dumps(registered.automations()) == before


def test_create_with_other_parameters_updates_ours_in_place(
    registered: PolicyBackend, capsys: Any
) -> None:
    endpoint = registered.endpoint
    assert policy(capsys, "create", endpoint, APPROVED, "--activate")[0] == 0
    (action,) = policy_actions(registered)
    automation = the_one(registered)
    registered.automations()[automation["id"]]["name"] = "renamed by hand in iconik"

    status, out, err = policy(
        capsys,
        "create",
        endpoint,
        APPROVED,
        "--formats",
        "ORIGINAL",
        "--ll-storage",
        registered.other,
    )
    assert status == 0, err
    assert "custom action: updated" in out and "automation: updated" in out
    assert [a["id"] for a in policy_actions(registered)] == [action["id"]]
    updated = policy_actions(registered)[0]["url"]
    assert f"ll_storage_id={registered.other}" in updated and updated.endswith("formats=ORIGINAL")
    again = the_one(registered)
    assert again["id"] == automation["id"]
    assert again["name"] == "B2 LucidLink: remove from LucidLink when approved"
    assert again["status"] == "ACTIVE"  # an update keeps the status


def test_dry_run_prints_the_requests_and_sends_no_write(
    registered: PolicyBackend, capsys: Any
) -> None:
    writes = registered.writes()
    argv = ("create", registered.endpoint, "remove-when-unmodified", "--days", "14", "--dry-run")
    status, out, err = policy(capsys, *argv, "--activate", "--run-existing")
    assert status == 0, err
    assert registered.writes() == writes
    assert registered.automations() == {} and policy_actions(registered) == []
    sent = [line for line in out.splitlines() if line.startswith("would send ")]
    assert [line.split()[2:4] for line in sent] == [
        ["POST", "/API/assets/v1/custom_actions/ASSET/"],
        ["POST", AUTOMATIONS],
        ["PATCH", f"{AUTOMATIONS}<new-id>/"],
        ["POST", f"{AUTOMATIONS}<new-id>/runs/"],
    ]
    assert '"x-bz-secret": "****"' in sent[0]
    assert '"days_since_modified": 14' in sent[1] and '"status": "INACTIVE"' in sent[1]
    assert "automation: would create" in out
    assert "dry run: nothing was changed" in out


def test_activate_and_run_existing_only_when_asked(
    registered: PolicyBackend, capsys: Any
) -> None:
    endpoint = registered.endpoint
    status, out, _ = policy(capsys, "create", endpoint, APPROVED, "--activate")
    assert status == 0
    automation = the_one(registered)
    assert automation["status"] == "ACTIVE"
    path = f"{AUTOMATIONS}{automation['id']}/"
    assert registered.requests("PATCH", "/") == [(path, {"status": "ACTIVE"})]
    assert out.index("estimate:") < out.index("status: INACTIVE -> ACTIVE")
    assert registered.runs() == []

    status, out, _ = policy(capsys, "create", endpoint, APPROVED, "--run-existing")
    assert status == 0
    assert registered.runs() == [automation["id"]]
    assert "existing assets" in out


def test_a_run_reaches_the_policy_url_with_the_secret(
    iconik: PolicyBackend, capsys: Any, httpserver: HTTPServer
) -> None:
    """In the sandbox, a run delivers to ENDPOINT/policies/SLUG/remove as the plugin expects."""
    if not isinstance(iconik, SandboxIconik):
        pytest.skip("the fake runs nothing")
    endpoint = iconik.endpoint
    argv = ("create", endpoint, "--b2-storage", iconik.b2, "--ll-storage", iconik.ll)
    assert run(capsys, *argv)[0] == 0
    path = f"/iconik_handler/policies/{APPROVED}/remove"
    httpserver.expect_request(path, method="POST").respond_with_json({"job_id": "j-1"})
    assert policy(capsys, "create", endpoint, APPROVED, "--run-existing")[0] == 0

    deliveries = iconik.sb.wait_for_deliveries(timeout=30)
    assert [d["status"] for d in deliveries] == [200] * len(deliveries), deliveries
    requests = [request for request, _ in httpserver.log]
    assert {r.headers["x-bz-secret"] for r in requests} == {SECRET}
    assert {r.args["b2_storage_id"] for r in requests} == {iconik.b2}
    delivered = [asset for r in requests for asset in r.get_json()["asset_ids"]]
    assert sorted(delivered) == sorted(iconik.assets[:2])  # the two approved assets
