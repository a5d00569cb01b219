"""What an automation sends to a custom action's URL, in each shape the admin API can set, and
how every delivery is recorded: received by a local receiver standing in for the plugin."""

from __future__ import annotations

import threading

import pytest
import requests

from iconik_sandbox import Sandbox
from iconik_sandbox.automation_bodies import collection_trigger, review_trigger
from iconik_sandbox.state.tables import APP_USER_ID, SYSTEM_DOMAIN_ID

BASE = "/API/automations/v1/automations/"
PAYLOAD_KEYS = {
    "user_id",
    "system_domain_id",
    "context",
    "action_id",
    "asset_ids",
    "collection_ids",
    "saved_search_ids",
    "metadata_view_id",
    "metadata_values",
    "date_created",
}


def _whose(sandbox: Sandbox, token: str) -> str:
    """The user a token acts for, as the plugin would find out from iconik."""
    answer = requests.get(
        sandbox.url + "/API/auth/v1/auth/token/",
        headers={"App-ID": sandbox.app_id, "Auth-Token": token},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["user_id"]  # type: ignore[no-any-return]


def _approve_one(sandbox: Sandbox, action: dict) -> tuple[str, dict]:
    asset = sandbox.state.add_asset("a")["id"]
    automation = sandbox.create_automation(
        "approved", [review_trigger("APPROVED")], action["id"], metadata_values={"f": {}}
    )
    sandbox.set_approval(asset)
    sandbox.wait_for_deliveries(timeout=30)
    return asset, automation


def test_user_token_shape(sandbox: Sandbox, action, receiver) -> None:
    asset, automation = _approve_one(sandbox, action)
    [request] = receiver.received
    body = request["body"]
    assert set(body) == PAYLOAD_KEYS | {"auth_token"}
    assert (body["context"], body["asset_ids"]) == ("ASSET", [asset])
    assert body["action_id"] == action["id"]
    assert body["system_domain_id"] == SYSTEM_DOMAIN_ID
    assert body["user_id"] == automation["created_by"]
    assert body["metadata_values"] == {"f": {}}
    assert body["collection_ids"] == [] and body["saved_search_ids"] == []
    assert request["headers"]["x-bz-secret"] == action["headers"]["x-bz-secret"]
    assert request["query"] == {"b2_storage_id": "b2", "ll_storage_id": "ll"}
    assert body["auth_token"] != sandbox.token
    assert _whose(sandbox, body["auth_token"]) == automation["created_by"]


def test_app_token_shape(sandbox: Sandbox, action, receiver) -> None:
    sandbox.set_delivery_shape(token="app")
    _approve_one(sandbox, action)
    [request] = receiver.received
    assert _whose(sandbox, request["body"]["auth_token"]) == APP_USER_ID
    [delivery] = sandbox.deliveries
    assert delivery["token_mode"] == "app" and delivery["payload"]["auth_token"] == "<token>"


def test_no_token_shape(sandbox: Sandbox, action, receiver) -> None:
    sandbox.set_delivery_shape(token="none")
    _approve_one(sandbox, action)
    [request] = receiver.received
    assert set(request["body"]) == PAYLOAD_KEYS
    assert "auth_token" not in sandbox.deliveries[0]["payload"]


def test_bulk_shape_batches_a_run(sandbox: Sandbox, api, action, receiver) -> None:
    sandbox.set_delivery_shape("runs", context="BULK", batch_size=2)
    collection = sandbox.state.add_collection("Finished")
    assets = [sandbox.state.add_asset(f"a{n}")["id"] for n in range(5)]
    sandbox.state.add_to_collection(collection["id"], *assets)
    trigger = collection_trigger(collection["id"])
    automation = sandbox.create_automation("finished", [trigger], action["id"])
    api.post(f"{BASE}{automation['id']}/runs/")
    deliveries = sandbox.wait_for_deliveries(timeout=30)
    assert sorted(len(ids) for ids in receiver.asset_ids()) == [1, 2, 2]
    assert sorted(i for ids in receiver.asset_ids() for i in ids) == sorted(assets)
    assert {r["body"]["context"] for r in receiver.received} == {"BULK"}
    assert sorted(len(d["object_ids"]) for d in deliveries) == [1, 2, 2]
    assert sandbox.automations.deliveries.shape("events").context == "ASSET"  # runs only


def test_bulk_shape_batches_events_that_come_together(sandbox: Sandbox, action, receiver) -> None:
    sandbox.set_delivery_shape(context="BULK", batch_size=10)
    collection = sandbox.state.add_collection("Finished")
    assets = [sandbox.state.add_asset(f"a{n}")["id"] for n in range(3)]
    sandbox.create_automation("finished", [collection_trigger(collection["id"])], action["id"])
    sandbox.add_to_collection(collection["id"], *assets)
    sandbox.wait_for_deliveries(timeout=30)
    assert receiver.asset_ids() == [assets]


def test_asset_shape_sends_one_asset_a_request(sandbox: Sandbox, action, receiver) -> None:
    collection = sandbox.state.add_collection("Finished")
    assets = [sandbox.state.add_asset(f"a{n}")["id"] for n in range(3)]
    sandbox.create_automation("finished", [collection_trigger(collection["id"])], action["id"])
    sandbox.add_to_collection(collection["id"], *assets)
    sandbox.wait_for_deliveries(timeout=30)
    assert sorted(receiver.asset_ids()) == sorted([a] for a in assets)


def test_failures_are_recorded(sandbox: Sandbox, action, receiver) -> None:
    receiver.status = 500
    asset, _ = _approve_one(sandbox, action)
    [delivery] = sandbox.deliveries
    assert delivery["status"] == 500 and delivery["job_id"]  # the answer's job_id, if any
    [history] = sandbox.automation_history
    assert (history["status"], history["object_id"]) == ("FAILED", asset)
    assert history["error_message"].startswith("HTTP 500")


def test_unreachable_url_is_recorded(sandbox: Sandbox, api, action) -> None:
    path = f"/API/assets/v1/custom_actions/ASSET/{action['id']}/"
    api.patch(path, json={"url": "http://127.0.0.1:9/nowhere"})
    _approve_one(sandbox, action)
    [delivery] = sandbox.deliveries
    assert delivery["status"] is None and "ConnectionError" in delivery["error"]
    assert sandbox.automation_history[0]["status"] == "FAILED"


def test_delivery_runs_after_the_request_that_caused_it(
    sandbox: Sandbox, api, action, receiver
) -> None:
    receiver.gate = threading.Event()
    asset = sandbox.state.add_asset("a")["id"]
    sandbox.create_automation("approved", [review_trigger("APPROVED")], action["id"])
    answer = api.put(f"/API/assets/v1/assets/{asset}/approvals/", json={"status": "APPROVED"})
    assert answer.status_code == 200
    assert sandbox.automations.deliveries.pending == 1 and sandbox.deliveries == []
    with pytest.raises(TimeoutError):
        sandbox.wait_for_deliveries(timeout=0.05)
    receiver.gate.set()
    [delivery] = sandbox.wait_for_deliveries(timeout=30)
    assert delivery["status"] == 200 and delivery["object_ids"] == [asset]


def test_bad_shapes_are_refused(sandbox: Sandbox) -> None:
    for fields in ({"token": "root"}, {"context": "COLLECTION"}, {"batch_size": 0}, {"size": 2}):
        with pytest.raises(ValueError):
            sandbox.set_delivery_shape(**fields)
    with pytest.raises(ValueError):
        sandbox.set_delivery_shape("clicks", token="app")
    assert sandbox.automations.deliveries.describe()["events"]["token"] == "user"
