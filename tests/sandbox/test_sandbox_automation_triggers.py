"""The triggers the sandbox fires: each once per automation, object and version, only while the
automation is ACTIVE, and only when every trigger of it has happened (in any order)."""

from __future__ import annotations

from typing import Any

from iconik_sandbox import Sandbox
from iconik_sandbox.automation_bodies import (
    collection_trigger,
    created_trigger,
    modified_trigger,
    review_trigger,
)
from iconik_sandbox.state.tables import epoch

BASE = "/API/automations/v1/automations/"


def _approve(api, asset_id: str, status: str = "APPROVED") -> dict[str, Any]:
    """iconik's own route for an asset's approval status."""
    answer = api.put(f"/API/assets/v1/assets/{asset_id}/approvals/", json={"status": status})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _add(api, collection_id: str, asset_id: str) -> None:
    """iconik's own route for adding an asset to a collection."""
    answer = api.post(
        f"/API/assets/v1/collections/{collection_id}/contents/",
        json={"object_id": asset_id, "object_type": "assets"},
    )
    assert answer.status_code == 201, answer.text


def _sent(sandbox: Sandbox) -> list[str]:
    """The asset ids of every delivery, once none is pending."""
    return [i for d in sandbox.wait_for_deliveries(timeout=30) for i in d["object_ids"]]


def test_review_status_fires_once_per_version(sandbox: Sandbox, api, action, receiver) -> None:
    asset = sandbox.state.add_asset("a")["id"]
    automation = sandbox.create_automation("approved", [review_trigger("APPROVED")], action["id"])
    _approve(api, asset, "NOT_APPROVED")
    assert _sent(sandbox) == []
    approval = _approve(api, asset)
    assert approval["status"] == "APPROVED" and approval["version_id"]
    assert _sent(sandbox) == [asset]
    _approve(api, asset, "NOT_APPROVED")
    _approve(api, asset)  # the same version again: not twice
    assert _sent(sandbox) == [asset]
    sandbox.state.new_version(asset)
    _approve(api, asset, "NOT_APPROVED")
    _approve(api, asset)
    assert _sent(sandbox) == [asset, asset]
    [first, second] = sandbox.automation_history
    assert first["version_id"] != second["version_id"]
    assert {h["automation_id"] for h in (first, second)} == {automation["id"]}
    assert len(receiver.received) == 2


def test_approvals_read_back(sandbox: Sandbox, api) -> None:
    asset = sandbox.state.add_asset("a")["id"]
    path = f"/API/assets/v1/assets/{asset}/approvals/"
    assert api.get(path).json()["objects"] == []
    _approve(api, asset)
    [record] = api.get(path).json()["objects"]
    assert (record["object_id"], record["status"]) == (asset, "APPROVED")
    assert api.put(path, json={"status": "SHINY"}).status_code == 400
    wrong_kind = api.put("/API/assets/v1/collections/x/approvals/", json={"status": "APPROVED"})
    assert wrong_kind.status_code == 400


def test_inactive_automations_do_not_fire(sandbox: Sandbox, api, action, receiver) -> None:
    first, second = (sandbox.state.add_asset(n)["id"] for n in ("a", "b"))
    automation = sandbox.create_automation(
        "off", [review_trigger("APPROVED")], action["id"], status="INACTIVE"
    )
    _approve(api, first)
    assert _sent(sandbox) == []
    api.patch(f"{BASE}{automation['id']}/", json={"status": "ACTIVE"})
    _approve(api, second)
    assert _sent(sandbox) == [second]
    assert receiver.asset_ids() == [[second]]


def test_added_to_collection_fires_for_that_collection(
    sandbox: Sandbox, api, action, receiver
) -> None:
    top = sandbox.state.add_collection("Finished")
    sub = sandbox.state.add_collection("Week 1", parent_id=top["id"])
    other = sandbox.state.add_collection("Rushes")
    a, b, c = (sandbox.state.add_asset(n)["id"] for n in "abc")
    sandbox.create_automation("finished", [collection_trigger(top["id"])], action["id"])
    _add(api, other["id"], a)
    _add(api, sub["id"], b)  # a sub-collection does not count without include_subcollections
    assert _sent(sandbox) == []
    _add(api, top["id"], c)
    _add(api, top["id"], c)  # already in it: no second event
    assert _sent(sandbox) == [c]
    assert receiver.asset_ids() == [[c]]


def test_include_subcollections_reaches_deeper(sandbox: Sandbox, api, action) -> None:
    top = sandbox.state.add_collection("Finished")
    sub = sandbox.state.add_collection("Week 1", parent_id=top["id"])
    deeper = sandbox.state.add_collection("Monday", parent_id=sub["id"])
    asset = sandbox.state.add_asset("a")["id"]
    trigger = collection_trigger(top["id"], include_subcollections=True)
    sandbox.create_automation("finished", [trigger], action["id"])
    _add(api, deeper["id"], asset)
    assert _sent(sandbox) == [asset]


def test_every_trigger_must_happen_in_any_order(sandbox: Sandbox, api, action) -> None:
    collection = sandbox.state.add_collection("Finished")
    first, second = (sandbox.state.add_asset(n)["id"] for n in ("a", "b"))
    triggers = [collection_trigger(collection["id"]), review_trigger("APPROVED")]
    sandbox.create_automation("both", triggers, action["id"])
    _approve(api, first)
    _add(api, collection["id"], second)
    assert _sent(sandbox) == []
    _add(api, collection["id"], first)  # approval first, then the collection
    assert _sent(sandbox) == [first]
    _approve(api, second)  # the collection first, then the approval
    assert _sent(sandbox) == [first, second]


def test_modified_transition_fires_when_the_days_pass(sandbox: Sandbox, action) -> None:
    asset = sandbox.state.add_asset("a")["id"]
    sandbox.create_automation("stale", [modified_trigger(30)], action["id"])
    assert sandbox.advance_clock(29) == 0
    assert _sent(sandbox) == []
    assert sandbox.advance_clock(1.5) == 1
    assert _sent(sandbox) == [asset]
    assert sandbox.advance_clock(60) == 0  # the line was crossed once
    sandbox.state.new_version(asset)  # modified now, on the sandbox's clock
    assert sandbox.advance_clock(10) == 0
    assert sandbox.advance_clock(25) == 1
    assert _sent(sandbox) == [asset, asset]


def test_day_lines_already_crossed_wait_for_a_run(sandbox: Sandbox, api, action) -> None:
    old = sandbox.state.add_asset("old")["id"]
    sandbox.state.touch_asset(old, days_ago=40)
    automation = sandbox.create_automation("stale", [modified_trigger(30)], action["id"])
    assert sandbox.advance_clock(1) == 0
    assert api.get(f"{BASE}{automation['id']}/runs/estimate/").json()["total"] == 1
    api.post(f"{BASE}{automation['id']}/runs/")
    assert _sent(sandbox) == [old]


def test_inactive_automations_skip_the_days_that_passed(sandbox: Sandbox, api, action) -> None:
    asset = sandbox.state.add_asset("a")["id"]
    automation = sandbox.create_automation(
        "stale", [modified_trigger(30)], action["id"], status="INACTIVE"
    )
    assert sandbox.advance_clock(31) == 0
    api.patch(f"{BASE}{automation['id']}/", json={"status": "ACTIVE"})
    assert sandbox.advance_clock(31) == 0  # crossed while it was off
    assert _sent(sandbox) == []
    assert asset in sandbox.automations.matching(automation)[0]


def test_created_transition_counts_from_creation(sandbox: Sandbox, action) -> None:
    asset = sandbox.state.add_asset("a")["id"]
    sandbox.create_automation("old", [created_trigger(7)], action["id"])
    sandbox.state.new_version(asset)  # modified: creation stays
    assert sandbox.advance_clock(6) == 0
    assert sandbox.advance_clock(1) == 1
    assert _sent(sandbox) == [asset]


def test_day_and_event_triggers_together(sandbox: Sandbox, api, action) -> None:
    asset = sandbox.state.add_asset("a")["id"]
    sandbox.create_automation(
        "approved and stale", [review_trigger("APPROVED"), modified_trigger(3)], action["id"]
    )
    assert sandbox.advance_clock(3) == 0
    _approve(api, asset)
    assert _sent(sandbox) == [asset]


def test_the_clock_dates_new_assets(sandbox: Sandbox) -> None:
    before = sandbox.state.add_asset("before")
    sandbox.advance_clock(10)
    after = sandbox.state.add_asset("after")
    gap = epoch(after["date_created"]) - epoch(before["date_created"])
    assert 10 * 86_400 <= gap < 10 * 86_400 + 60
