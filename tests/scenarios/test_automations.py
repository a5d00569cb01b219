"""Policies end to end: the sandbox's Automation engine calls the plugin, as iconik's would.

Each test registers a policy's custom action (its own URL, ``…/policies/<name>/<operation>``,
with the shared secret in its headers) and an automation that runs it, then does what a user
does in iconik (approves assets, adds them to a collection, lets days pass, runs the automation
on existing assets). The engine's request shape is set per test: the user's token, an
application's, or none; one asset a request, or batches. Every shape must end with the work
done, in few jobs, and the safety oracle clean.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from iconik_sandbox import Sandbox, SeedResult
from iconik_sandbox.automation_bodies import collection_trigger, modified_trigger, review_trigger
from tests.scenarios.actions import endings, on_storage, plugin_jobs, seed, wait_for_job
from tests.scenarios.servers import SECRET, WAIT_SECONDS

pytestmark = pytest.mark.e2e

SHAPES = [
    {"token": "user", "context": "ASSET"},
    {"token": "app", "context": "ASSET"},
    {"token": "none", "context": "ASSET"},
    {"token": "user", "context": "BULK", "batch_size": 4},
    {"token": "none", "context": "BULK", "batch_size": 4},
]


def policy_action(sb: Sandbox, server: dict, ids: SeedResult, name: str, operation: str) -> str:
    """Register a policy's own custom action in the sandbox; returns its id."""
    url = (f"{server['url']}/policies/{name}/{operation}?b2_storage_id={ids.b2_storage_id}"
           f"&ll_storage_id={ids.ll_storage_id}")
    body = {"type": "POST", "context": "ASSET", "title": f"B2 policy: {name}", "url": url,
            "headers": {"x-bz-secret": SECRET}}
    answer = requests.post(f"{sb.url}/API/assets/v1/custom_actions/ASSET/", json=body,
                           headers=sb.headers, timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def batches(sb: Sandbox) -> list[dict]:
    return [j for j in plugin_jobs(sb) if not j.get("parent_id")]


def wait_for_batches(sb: Sandbox, timeout: float = WAIT_SECONDS + 40) -> list[dict]:
    """Every delivery answered, then every batch the plugin made ended."""
    deliveries = sb.wait_for_deliveries(timeout=30)
    assert deliveries, "the automation called nobody"
    assert {d["status"] for d in deliveries} == {200}, deliveries[:3]
    return [wait_for_job(sb, job["id"], timeout=timeout) for job in batches(sb)]


def one_batch_a_window(jobs: list[dict]) -> bool:
    """The batches are gathered: no two for one window (their ``batch`` key).

    How many windows the deliveries span depends on the machine's pace (a loaded one stretches
    them), so the tests do not count the batches against a fixed number.
    """
    keys = [(j.get("metadata") or {}).get("batch") for j in jobs]
    return None not in keys and len(set(keys)) == len(keys)


def remove_when_approved(sb: Sandbox, server: dict, ids: SeedResult, **shape: Any) -> None:
    sb.set_delivery_shape(**shape)
    action = policy_action(sb, server, ids, "remove-when-approved", "remove")
    sb.create_automation("B2 LucidLink: remove when approved", [review_trigger("APPROVED")],
                         action)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(map(str, s.values())))
def test_approving_assets_removes_them_whatever_the_requests_shape(sbx, app_server, shape):
    ids = seed(sbx, assets=12, on_ll=1.0, b2_missing=0, b2_wrong_size=1, b2_bad_status=0)
    remove_when_approved(sbx, app_server, ids, **shape)
    for asset in ids.asset_ids:
        sbx.set_approval(asset, "APPROVED")
    jobs = wait_for_batches(sbx)
    assert one_batch_a_window(jobs)
    assert all("(automation: remove-when-approved" in j["title"] for j in jobs)
    kept = [a for a in ids.asset_ids if on_storage(sbx, a, ids.ll_storage_id)]
    assert kept == ids.b2_wrong_size  # its B2 copy differs: it stays, named on its job
    assert any(ids.b2_wrong_size[0] in j["message"] for j in jobs)
    assert all(count == 1 for count in endings(sbx).values())


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(map(str, s.values())))
def test_approving_on_cloud_tasks_removes_them(sbx, app_queued, queue, shape):
    ids = seed(sbx, assets=10, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    remove_when_approved(sbx, app_queued, ids, **shape)
    for asset in ids.asset_ids:
        sbx.set_approval(asset, "APPROVED")
    jobs = wait_for_batches(sbx)
    assert {j["status"] for j in jobs} == {"FINISHED"}
    assert not [a for a in ids.asset_ids if on_storage(sbx, a, ids.ll_storage_id)]
    assert all(count == 1 for count in endings(sbx).values())


def test_running_a_policy_on_existing_assets_is_a_few_jobs(sbx, app_queued, queue):
    ids = seed(sbx, assets=30, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    for asset in ids.asset_ids:
        sbx.state.set_approval(asset, "APPROVED")  # approved before the policy existed
    sbx.set_delivery_shape(token="user", context="ASSET")
    action = policy_action(sbx, app_queued, ids, "remove-when-approved", "remove")
    automation = sbx.create_automation("B2 LucidLink: remove when approved",
                                       [review_trigger("APPROVED")], action)
    run = requests.post(f"{sbx.url}/API/automations/v1/automations/{automation['id']}/runs/",
                        headers=sbx.headers, timeout=10)
    assert run.status_code == 202, run.text
    jobs = wait_for_batches(sbx)
    assert one_batch_a_window(jobs) and {j["status"] for j in jobs} == {"FINISHED"}
    assert not [a for a in ids.asset_ids if on_storage(sbx, a, ids.ll_storage_id)]


def test_not_modified_for_days_removes_them(sbx, app_server):
    ids = seed(sbx, assets=6, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    sbx.set_delivery_shape(token="none", context="BULK", batch_size=10)
    action = policy_action(sbx, app_server, ids, "remove-when-unmodified-30d", "remove")
    sbx.create_automation("B2 LucidLink: remove when not modified for 30 days",
                          [modified_trigger(30)], action)
    sbx.advance_clock(31)
    jobs = wait_for_batches(sbx)
    assert {j["status"] for j in jobs} == {"FINISHED"}
    assert not [a for a in ids.asset_ids if on_storage(sbx, a, ids.ll_storage_id)]


def test_a_remove_and_an_add_policy_on_overlapping_triggers_end_and_stay_safe(sbx, app_server):
    """Approval removes, adding to the collection adds back: done to the same assets at once,
    the loop guard holds the later one back, every job ends and nothing unsafe happens."""
    ids = seed(sbx, assets=8, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    sbx.set_delivery_shape(token="none", context="ASSET")
    remove = policy_action(sbx, app_server, ids, "remove-when-approved", "remove")
    add = policy_action(sbx, app_server, ids, "add-when-in-finishing", "add")
    sbx.create_automation("remove when approved", [review_trigger("APPROVED")], remove)
    finishing = sbx.state.add_collection("Finishing")["id"]
    sbx.create_automation("add when in Finishing",
                          [collection_trigger(finishing, include_subcollections=True)], add)
    for asset in ids.asset_ids:
        sbx.set_approval(asset, "APPROVED")
    sbx.add_to_collection(finishing, *ids.asset_ids)
    jobs = wait_for_batches(sbx)
    assert len(jobs) >= 2
    held = [j for j in plugin_jobs(sbx) if (j.get("metadata") or {}).get("part") == "held"]
    assert held, "the loop guard held nothing back"
    assert all(count == 1 for count in endings(sbx).values())
