"""The Automations API: create, read, list, update, delete; what a body must hold; the roles;
the estimate and runs on existing objects; the history records; the admin calls."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from iconik_sandbox import Sandbox
from iconik_sandbox.automation_bodies import (
    automation_body,
    collection_trigger,
    custom_action,
    modified_trigger,
    review_trigger,
)
from iconik_sandbox.spec import SpecValidator

BASE = "/API/automations/v1/automations/"


def _strip_nulls(errors: list[str]) -> list[str]:
    """iconik answers null for fields its spec calls plain strings (as in test_sandbox_spec)."""
    return [
        e for e in errors if "None is not of type" not in e and "None for not nullable" not in e
    ]


def _conforms(method: str, spec_path: str, status: int, document: Any) -> None:
    errors = SpecValidator().check_response("automations", method, spec_path, status, document)
    assert _strip_nulls(errors) == [], errors


def _body(action: dict[str, Any], *triggers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    triggers = triggers or (review_trigger("APPROVED"),)
    body = automation_body("Tidy", triggers, custom_action(action["id"]))
    body.update(fields)
    return body


def test_automation_crud(sandbox: Sandbox, api, action) -> None:
    created = api.post(BASE, json={**_body(action), "description": "approved leaves LucidLink"})
    assert created.status_code == 201, created.text
    automation = created.json()
    _conforms("POST", "/v1/automations/", 201, automation)
    assert automation["id"] and automation["system_domain_id"] and automation["created_by"]
    assert automation["status"] == "ACTIVE" and automation["date_created"]
    path = f"{BASE}{automation['id']}/"
    assert api.get(path).json() == automation
    patched = api.patch(path, json={"status": "INACTIVE"}).json()
    assert (patched["status"], patched["description"]) == ("INACTIVE", "approved leaves LucidLink")
    _conforms("PATCH", "/v1/automations/{automation_id}/", 200, patched)
    replaced = api.put(path, json=_body(action, name="Tidy 2")).json()
    assert (replaced["name"], replaced["description"], replaced["status"]) == (
        "Tidy 2",
        None,
        "ACTIVE",
    )
    assert replaced["id"] == automation["id"] and replaced["created_by"] == automation["created_by"]
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404


def test_list_is_paged(sandbox: Sandbox, api, action) -> None:
    for n in range(4):
        assert api.post(BASE, json=_body(action, name=f"a{n}")).status_code == 201
    first = api.get(BASE).json()
    _conforms("GET", "/v1/automations/", 200, first)
    assert (first["total"], first["pages"], first["per_page"], first["page"]) == (4, 2, 3, 1)
    assert first["next_url"]
    assert [a["name"] for a in api.all_pages(BASE)] == ["a0", "a1", "a2", "a3"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"name": None}, "name"),
        ({"status": "ON"}, "status"),
        ({"triggers": []}, "triggers"),
        ({"triggers": [review_trigger()] * 11}, "triggers"),
        ({"triggers": [{"type": "SUNRISE", "parameters": {}}]}, "triggers/0"),
        ({"triggers": [modified_trigger(0)]}, "triggers/0"),
        ({"actions": []}, "actions"),
    ],
)
def test_spec_refuses_bad_bodies(sandbox: Sandbox, api, action, change, named) -> None:
    body = {k: v for k, v in {**_body(action), **change}.items() if v is not None}
    answer = api.post(BASE, json=body)
    assert answer.status_code == 400
    assert any(named in e for e in answer.json()["errors"]), answer.json()
    assert api.get(BASE).json()["total"] == 0


def test_two_actions_are_refused(sandbox: Sandbox, api, action) -> None:
    body = _body(action)
    body["actions"] = body["actions"] * 2
    assert api.post(BASE, json=body).status_code == 400


def test_unknown_custom_action_and_collection_are_named(sandbox: Sandbox, api, action) -> None:
    ghost = "00000000-0000-4000-8000-00000000abcd"
    unknown_action = api.post(BASE, json={**_body(action), "actions": [custom_action(ghost)]})
    assert unknown_action.status_code == 400
    assert any(ghost in e for e in unknown_action.json()["errors"])
    unknown_collection = api.post(BASE, json=_body(action, collection_trigger(ghost)))
    assert unknown_collection.status_code == 400
    [message] = unknown_collection.json()["errors"]
    assert "collection_ids" in message and ghost in message
    real = sandbox.state.add_collection("Finished")
    assert api.post(BASE, json=_body(action, collection_trigger(real["id"]))).status_code == 201


def test_patch_is_checked_too(sandbox: Sandbox, api, action) -> None:
    automation = api.post(BASE, json=_body(action)).json()
    ghost = "00000000-0000-4000-8000-00000000abcd"
    answer = api.patch(f"{BASE}{automation['id']}/", json={"actions": [custom_action(ghost)]})
    assert answer.status_code == 400 and ghost in answer.json()["errors"][0]
    assert api.get(f"{BASE}{automation['id']}/").json()["actions"] == automation["actions"]


ROLE_CALLS = [
    ("can_read_automations", "GET", "{base}"),
    ("can_read_automations", "GET", "{one}"),
    ("can_write_automations", "POST", "{base}"),
    ("can_write_automations", "PATCH", "{one}"),
    ("can_write_automations", "PUT", "{one}"),
    ("can_delete_automations", "DELETE", "{one}"),
    ("can_run_automations", "GET", "{one}runs/estimate/"),
    ("can_run_automations", "POST", "{one}runs/"),
]


@pytest.mark.parametrize(("role", "method", "template"), ROLE_CALLS)
def test_a_token_without_the_role_gets_403(
    sandbox: Sandbox, api, action, role, method, template
) -> None:
    automation = api.post(BASE, json=_body(action)).json()
    answer = requests.post(
        sandbox.url + "/_sandbox/tokens",
        json={"app_id": sandbox.app_id, "token": "limited", "without_roles": [role]},
        timeout=5,
    )
    assert answer.status_code == 204
    limited = {"App-ID": sandbox.app_id, "Auth-Token": "limited"}
    url = sandbox.url + template.format(base=BASE, one=f"{BASE}{automation['id']}/")
    body = _body(action) if method in ("POST", "PUT", "PATCH") else None
    refused = requests.request(method, url, json=body, headers=limited, timeout=5)
    assert refused.status_code == 403
    assert refused.json() == {"errors": [f"Missing required role: {role}"]}
    assert api.get(f"{BASE}{automation['id']}/").json() == automation  # nothing changed
    allowed = api(method, template.format(base=BASE, one=f"{BASE}{automation['id']}/"), json=body)
    assert allowed.status_code in (200, 201, 202, 204)


def test_estimate_counts_what_a_run_would_touch(sandbox: Sandbox, api, action) -> None:
    top = sandbox.state.add_collection("Finished")
    sub = sandbox.state.add_collection("Week 1", parent_id=top["id"])
    direct = [sandbox.state.add_asset(f"d{n}")["id"] for n in range(2)]
    deep = [sandbox.state.add_asset(f"s{n}")["id"] for n in range(3)]
    sandbox.state.add_to_collection(top["id"], *direct)
    sandbox.state.add_to_collection(sub["id"], *deep)
    sandbox.state.add_asset("elsewhere")

    def estimate(*triggers: dict[str, Any]) -> dict[str, Any]:
        automation = api.post(BASE, json=_body(action, *triggers)).json()
        answer = api.get(f"{BASE}{automation['id']}/runs/estimate/")
        assert answer.status_code == 200
        _conforms("GET", "/v1/automations/{automation_id}/runs/estimate/", 200, answer.json())
        return answer.json()  # type: ignore[no-any-return]

    assert estimate(collection_trigger(top["id"])) == {"total": 2, "facets": {}, "errors": []}
    assert estimate(collection_trigger(top["id"], include_subcollections=True))["total"] == 5
    sandbox.set_approval(deep[0])
    deep_trigger = collection_trigger(top["id"], include_subcollections=True)
    both = estimate(deep_trigger, review_trigger("APPROVED"))
    assert both["total"] == 1
    metadata = {
        "type": "METADATA_UPDATE",
        "parameters": {"event_type": "ASSETS", "metadata_values": {}},
    }
    unplayed = estimate(metadata)
    assert unplayed["total"] == 0 and "METADATA_UPDATE" in unplayed["errors"][0]


def test_run_acts_on_existing_objects_in_the_background(
    sandbox: Sandbox, api, action, receiver
) -> None:
    collection = sandbox.state.add_collection("Finished")
    assets = [sandbox.state.add_asset(f"a{n}")["id"] for n in range(3)]
    sandbox.state.add_to_collection(collection["id"], *assets)  # seeding: no event
    automation = api.post(BASE, json=_body(action, collection_trigger(collection["id"]))).json()
    assert sandbox.wait_for_deliveries(timeout=30) == []
    answer = api.post(f"{BASE}{automation['id']}/runs/")
    assert answer.status_code == 202
    deliveries = sandbox.wait_for_deliveries(timeout=30)
    assert sorted(d["object_ids"][0] for d in deliveries) == sorted(assets)
    assert all(d["source"] == "runs" and d["status"] == 200 for d in deliveries)
    assert sorted(ids for [ids] in receiver.asset_ids()) == sorted(assets)
    history = sandbox.automation_history
    assert {h["object_id"] for h in history} == set(assets)
    assert all(h["status"] == "SUCCEED" and h["job_id"] for h in history)
    api.post(f"{BASE}{automation['id']}/runs/")  # a run asked for again runs again
    assert len(sandbox.wait_for_deliveries(timeout=30)) == 6


def test_history_records_read_delete_and_post(sandbox: Sandbox, api, action, receiver) -> None:
    asset = sandbox.state.add_asset("a")["id"]
    automation = api.post(BASE, json=_body(action)).json()
    sandbox.set_approval(asset)
    [delivery] = sandbox.wait_for_deliveries(timeout=30)
    version = sandbox.state.version_of(asset)
    path = f"{BASE}{automation['id']}/history/assets/{asset}/{version}/"
    record = api.get(path).json()
    spec_path = "/v1/automations/{automation_id}/history/{object_type}/{object_id}/{version_id}/"
    _conforms("GET", spec_path, 200, record)
    assert (record["status"], record["job_id"]) == ("SUCCEED", delivery["job_id"])
    assert record["automation_id"] == automation["id"] and record["date_executed"]
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    other = sandbox.state.add_asset("b")["id"]
    posted = api.post(
        f"{BASE}{automation['id']}/history/",
        json={
            "automation_id": automation["id"],
            "object_type": "assets",
            "object_id": other,
            "version_id": sandbox.state.version_of(other),
            "status": "SUCCEED",
            "system_domain_id": automation["system_domain_id"],
        },
    )
    assert posted.status_code == 201
    sandbox.set_approval(other)  # already executed for this version: nothing is sent
    assert len(sandbox.wait_for_deliveries(timeout=30)) == 1 and len(receiver.received) == 1


def test_admin_api_drives_and_reports(sandbox: Sandbox, api, action, receiver) -> None:
    admin = sandbox.url + "/_sandbox"
    shape = requests.post(admin + "/automations/shape", json={"context": "BULK"}, timeout=5)
    assert shape.json()["events"]["context"] == "BULK" and shape.json()["runs"]["context"] == "BULK"
    bad = requests.post(admin + "/automations/shape", json={"token": "root"}, timeout=5)
    assert bad.status_code == 400 and "token" in bad.json()["errors"][0]
    collection = sandbox.state.add_collection("Finished")
    asset = sandbox.state.add_asset("a")["id"]
    trigger = collection_trigger(collection["id"])
    automation = api.post(BASE, json=_body(action, trigger, review_trigger("APPROVED"))).json()
    added = requests.post(
        f"{admin}/collections/{collection['id']}/contents", json={"asset_ids": [asset]}, timeout=5
    )
    assert added.json() == {"added": [asset]}
    approved = requests.post(f"{admin}/assets/{asset}/approval", json={}, timeout=5)
    assert approved.json()["status"] == "APPROVED"
    waited = requests.get(admin + "/automations/deliveries/wait", params={"timeout": 5}, timeout=10)
    assert waited.json() == {"idle": True, "pending": 0}
    listed = requests.get(admin + "/automations/deliveries", timeout=5).json()
    assert listed["total"] == 1 and listed["objects"][0]["automation_id"] == automation["id"]
    assert listed["objects"][0]["payload"]["auth_token"] == "<token>"  # never the token itself
    history = requests.get(admin + "/automations/history", timeout=5).json()
    assert [h["object_id"] for h in history["objects"]] == [asset]
    everything = requests.get(admin + "/state", timeout=5).json()
    assert [a["id"] for a in everything["automations"]] == [automation["id"]]
    moved = requests.post(admin + "/clock", json={"days": 2}, timeout=5).json()
    assert moved["started"] == 0
    assert requests.get(admin + "/clock", timeout=5).json()["offset_days"] == 2
    requests.post(admin + "/reset", timeout=5)
    assert requests.get(admin + "/automations/deliveries", timeout=5).json()["total"] == 0
    assert requests.get(admin + "/clock", timeout=5).json()["offset_days"] == 0
    shapes = requests.get(admin + "/automations/shape", timeout=5).json()
    assert shapes["events"]["context"] == "ASSET"
    assert api.get(BASE).json()["total"] == 0
