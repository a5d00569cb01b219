"""Requests from iconik's Automation engine, end to end: every shape nobody can confirm.

An automation's request may carry the user's token, an application's, or none; name one asset
(ASSET), many (BULK) or a collection; arrive by the thousand. The plugin serves each, gathers
bursts into one job per window, and keeps the safety rule. The plugin here runs with an
application token of its own (``ICONIK_TOKEN``) and one-second gathering windows (as every
end-to-end plugin has: ``GATHER_SECONDS=1``), in-process
and on the Cloud Tasks emulator.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from iconik_sandbox import Sandbox, SeedResult
from tests import leaks
from tests.scenarios.actions import (
    LONG,
    click,
    endings,
    on_storage,
    plugin_jobs,
    seed,
    settle,
    terminal_patches,
    wait_for_job,
)
from tests.scenarios.servers import SECRET, WAIT_SECONDS

pytestmark = pytest.mark.e2e

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def automation(server: dict, operation: str, ids: SeedResult, selection: dict,
               token: str | None = None, policy: str | None = "remove-when-approved",
               context: str = "ASSET") -> requests.Response:
    """POST as iconik's Automation engine might: the policy's own URL, a token or none."""
    body: dict[str, Any] = {
        "context": context, "asset_ids": [], "collection_ids": [], "saved_search_ids": [],
        "user_id": None, "system_domain_id": "0d0d0d0d-0000-4000-8000-000000000000",
        "action_id": "0a0a0a0a-0000-4000-8000-000000000000",
        "date_created": "2026-12-02T10:00:00.000000", **selection,
    }
    if token is not None:
        body["auth_token"] = token
    prefix = f"/policies/{policy}" if policy else ""
    url = (f"{server['url']}{prefix}/{operation}?b2_storage_id={ids.b2_storage_id}"
           f"&ll_storage_id={ids.ll_storage_id}")
    answer = requests.post(url, data=json.dumps(body), timeout=10,
                           headers={"x-bz-secret": SECRET, "Content-Type": "application/json"})
    leaks.record(f"answer to automation POST {operation}", answer.text)
    return answer


def burst(server: dict, operation: str, ids: SeedResult, asset_ids: list[str],
          token: str | None = None, clients: int = 8) -> list[requests.Response]:
    """One request per asset, from several clients at once."""
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(
            lambda a: automation(server, operation, ids, {"asset_ids": [a]}, token), asset_ids))


def removed(sb: Sandbox, ids: SeedResult, assets: list[str]) -> list[str]:
    return [a for a in assets if not on_storage(sb, a, ids.ll_storage_id)]


def batch_jobs(sb: Sandbox) -> list[dict]:
    """The plugin's top-level jobs (batches and actions, not their parts)."""
    return [j for j in plugin_jobs(sb) if not j.get("parent_id")]


def one_batch_a_window(answers: list[requests.Response]) -> bool:
    """Each window the answers name has one batch, and each batch one window.

    How many windows a burst spans depends on the machine's pace (a loaded one stretches it),
    so the tests count batches against the windows, not against a fixed number.
    """
    pairs = {(a.json()["job_id"], a.json()["starts_at"]) for a in answers}
    return len(pairs) == len({j for j, _ in pairs}) == len({w for _, w in pairs})


def good(ids: SeedResult) -> list[str]:
    """Assets whose B2 copy verifies (the seed's bad ones left out)."""
    bad = set(ids.b2_missing + ids.b2_wrong_size + ids.b2_bad_status)
    return [a for a in ids.asset_ids if a not in bad]


# -- shapes ----------------------------------------------------------------------------------


def test_a_burst_without_tokens_is_one_job_acting_as_the_application(sbx, app_server):
    ids = seed(sbx, assets=24, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    assets = ids.asset_ids + ids.asset_ids[:6]  # six named twice
    answers = burst(app_server, "remove", ids, assets)
    assert [a.status_code for a in answers] == [200] * len(assets), answers[0].text
    job_ids = {a.json()["job_id"] for a in answers}
    assert one_batch_a_window(answers)
    assert all(a.json()["gathered"] for a in answers)
    for job_id in job_ids:
        job = wait_for_job(sbx, job_id, timeout=WAIT_SECONDS + 30)
        assert job["status"] == "FINISHED", job["message"]
        assert job["title"].endswith(
            "from LucidLink (automation: remove-when-approved, as the application)")
        assert job["metadata"]["acting"] == "application"
        assert terminal_patches(sbx, job_id) == 1
    assert removed(sbx, ids, ids.asset_ids) == ids.asset_ids
    deletes = [r for r in sbx.requests if r.method == "DELETE" and "/file_sets/" in r.path]
    assert len(deletes) == len({r.path for r in deletes}), "a file set was deleted twice"


def test_bulk_with_the_users_token_is_gathered_too(sbx, app_server):
    ids = seed(sbx, assets=12, on_ll=1.0, b2_missing=0, b2_wrong_size=2, b2_bad_status=0)
    answer = automation(app_server, "remove", ids, {"asset_ids": ids.asset_ids},
                        token=sbx.token, context="BULK")
    assert answer.status_code == 200, answer.text
    job = wait_for_job(sbx, answer.json()["job_id"], timeout=WAIT_SECONDS + 30)
    assert job["status"] == "FAILED"  # the two without a B2 copy stay, named
    assert job["metadata"]["acting"] == "the token it carried"
    assert job["title"] == "Remove 12 assets from LucidLink (automation: remove-when-approved)"
    assert removed(sbx, ids, ids.asset_ids) == good(ids)
    for asset in ids.b2_wrong_size:
        assert asset in job["message"]


def test_a_collection_from_an_automation_runs_as_its_own_job(sbx, app_server):
    ids = seed(sbx, assets=10, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    answer = automation(app_server, "remove", ids,
                        {"collection_ids": [ids.root_collection_id]}, context="COLLECTION")
    assert answer.status_code == 200, answer.text
    assert "gathered" not in answer.json()
    job = wait_for_job(sbx, answer.json()["job_id"], timeout=WAIT_SECONDS + 30)
    assert job["status"] == "FINISHED", job["message"]
    assert job["title"] == (
        "Remove 10 assets from LucidLink (automation: remove-when-approved, as the application)")
    assert removed(sbx, ids, ids.asset_ids) == ids.asset_ids


def test_a_collection_from_an_automation_on_cloud_tasks(sbx, app_queued, queue):
    ids = seed(sbx, assets=8, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    answer = automation(app_queued, "remove", ids,
                        {"collection_ids": [ids.root_collection_id]}, context="COLLECTION")
    assert answer.status_code == 200, answer.text
    job = wait_for_job(sbx, answer.json()["job_id"], timeout=WAIT_SECONDS + 40)
    assert job["status"] == "FINISHED", job["message"]
    assert removed(sbx, ids, ids.asset_ids) == ids.asset_ids


def test_no_token_and_no_application_token_is_refused_and_changes_nothing(sb, plugin_server):
    ids = seed(sb, assets=3, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    before = len(sb.requests)
    answer = automation(plugin_server, "remove", ids, {"asset_ids": ids.asset_ids[:1]})
    assert answer.status_code == 400
    assert "ICONIK_TOKEN" in answer.json()["error"] and "bz-iconik-token" in answer.json()["error"]
    assert sb.requests.list()[before:] == []  # iconik was not even asked
    assert removed(sb, ids, ids.asset_ids) == []


def test_a_refused_token_is_never_retried_with_the_application_token(sbx, app_server):
    ids = seed(sbx, assets=3, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    before = len(sbx.requests)
    answer = automation(app_server, "remove", ids, {"asset_ids": ids.asset_ids[:1]},
                        token="not-a-token-iconik-knows")
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith("auth_token: iconik refused it")
    after = sbx.requests.list()[before:]
    assert after and all(r.status == 401 for r in after), [(r.path, r.status) for r in after]
    assert not [r for r in after if r.method in WRITES]


def test_a_click_during_a_burst_gets_its_own_job_at_once(sbx, app_server):
    ids = seed(sbx, assets=20, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    policy_assets, clicked = ids.asset_ids[:16], ids.asset_ids[16:]
    answers: list[requests.Response] = []
    worker = threading.Thread(target=lambda: answers.extend(
        burst(app_server, "remove", ids, policy_assets)))
    worker.start()
    mine = click(app_server, "remove", ids, {"asset_ids": clicked}, sbx.token)
    worker.join()
    assert mine.status_code == 200
    assert "gathered" not in mine.json()
    assert mine.json()["job_id"] not in {a.json()["job_id"] for a in answers}
    job = wait_for_job(sbx, mine.json()["job_id"], timeout=WAIT_SECONDS + 30)
    assert job["title"] == "Remove 4 assets from LucidLink"
    for answer in answers:
        wait_for_job(sbx, answer.json()["job_id"], timeout=WAIT_SECONDS + 30)
    assert removed(sbx, ids, ids.asset_ids) == ids.asset_ids


def test_a_policy_name_that_is_not_one_is_refused(sbx, app_server):
    ids = seed(sbx, assets=1, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    answer = automation(app_server, "remove", ids, {"asset_ids": ids.asset_ids},
                        policy="Not_A_Policy")
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("policy:")


# -- loops ------------------------------------------------------------------------------------


def test_an_add_and_a_remove_policy_on_the_same_assets_end_and_hold_back(sbx, app_server):
    ids = seed(sbx, assets=8, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    first = burst(app_server, "remove", ids, ids.asset_ids)
    for job_id in {a.json()["job_id"] for a in first}:  # the burst may span two windows
        job = wait_for_job(sbx, job_id, timeout=WAIT_SECONDS + 30)
        assert job["status"] == "FINISHED", job["message"]
    again = automation(app_server, "add", ids, {"asset_ids": ids.asset_ids[:3]},
                       policy="add-when-in-collection-0c0c0c0c")
    assert again.status_code == 200, again.text
    held = wait_for_job(sbx, again.json()["job_id"], timeout=WAIT_SECONDS + 30)
    assert held["status"] == "FAILED"
    assert "loop guard" in held["message"]
    assert removed(sbx, ids, ids.asset_ids) == ids.asset_ids  # nothing was added back


# -- Cloud Tasks ------------------------------------------------------------------------------


def test_a_burst_on_cloud_tasks_is_one_job_each_asset_once(sbx, app_queued, queue):
    ids = seed(sbx, assets=20, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    answers = burst(app_queued, "remove", ids, ids.asset_ids + ids.asset_ids[:5])
    assert {a.status_code for a in answers} == {200}
    job_ids = {a.json()["job_id"] for a in answers}
    assert one_batch_a_window(answers)
    for job_id in job_ids:
        job = wait_for_job(sbx, job_id, timeout=WAIT_SECONDS + 40)
        assert job["status"] == "FINISHED", job["message"]
    assert removed(sbx, ids, ids.asset_ids) == ids.asset_ids
    assert all(count == 1 for count in endings(sbx).values())


#: A burst of single-asset requests under Cloud Tasks' faults (thousands with B2_ICONIK_LONG=1).
FAULTY_BURST = 5_000 if LONG else 1_000


@pytest.mark.parametrize("fault", ["every task twice at once", "every first answer lost"])
def test_a_burst_of_a_thousand_on_cloud_tasks_holds_under_its_faults(sbx, app_queued, queue,
                                                                     fault):
    """No token, one asset a request; every step (ledger parts, CLOSE, chunks, END) twice or
    its answer lost: each asset handled once, the bad B2 copies kept, each job ended once."""
    if fault.startswith("every task twice"):
        queue.faults.duplicate = "concurrent"
    else:
        queue.faults.lose_first_answer = True
    ids = seed(sbx, assets=FAULTY_BURST, on_ll=1.0, b2_missing=0, b2_wrong_size=3,
               b2_bad_status=0)
    answers = burst(app_queued, "remove", ids, ids.asset_ids, clients=16)
    assert {a.status_code for a in answers} == {200}
    assert one_batch_a_window(answers)
    for job_id in {a.json()["job_id"] for a in answers}:
        wait_for_job(sbx, job_id, timeout=WAIT_SECONDS + 600)
    kept = [a for a in ids.asset_ids if on_storage(sbx, a, ids.ll_storage_id)]
    assert kept == ids.b2_wrong_size  # B2's copy differs: kept (the oracle checks every delete)
    assert all(count == 1 for count in endings(sbx).values())
    deletes = [r for r in sbx.requests if r.method == "DELETE" and "/file_sets/" in r.path]
    assert len(deletes) == len({r.path for r in deletes}), "a file set was deleted twice"
    settle(queue)
    kinds = {d.kind for d in queue.deliveries() if d.twin or d.attempt == 1}
    assert {"close", "chunk"} <= kinds, kinds  # the fault hit the batch's steps


def test_close_steps_delivered_twice_at_once_start_the_work_once(sbx, app_queued, queue):
    queue.faults.duplicate = "concurrent"
    queue.faults.only = lambda task: task.kind == "close"
    ids = seed(sbx, assets=6, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    answers = burst(app_queued, "remove", ids, ids.asset_ids)
    for job_id in {a.json()["job_id"] for a in answers}:
        job = wait_for_job(sbx, job_id, timeout=WAIT_SECONDS + 40)
        assert job["status"] == "FINISHED", job["message"]
        assert terminal_patches(sbx, job_id) == 1
    assert removed(sbx, ids, ids.asset_ids) == ids.asset_ids
    settle(queue)
    twins = [d for d in queue.deliveries("close") if d.twin]
    assert twins and all(d.status == 200 for d in twins)


def test_two_instances_gather_one_burst_into_one_batch_a_window(sbx, app_queued, app_queued_too,
                                                                 queue):
    ids = seed(sbx, assets=24, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    servers = [app_queued, app_queued_too]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda n: automation(servers[n % 2], "remove", ids,
                                 {"asset_ids": [ids.asset_ids[n % 24]]}), range(36)))
    assert {a.status_code for a in answers} == {200}
    job_ids = {a.json()["job_id"] for a in answers}
    assert one_batch_a_window(answers)  # whichever instance was asked
    for job_id in job_ids:
        job = wait_for_job(sbx, job_id, timeout=WAIT_SECONDS + 40)
        assert job["status"] == "FINISHED", job["message"]
    assert removed(sbx, ids, ids.asset_ids) == ids.asset_ids
    assert all(count == 1 for count in endings(sbx).values())
    ledgers = [j for j in plugin_jobs(sbx) if j["metadata"].get("part") == "gathered"]
    assert len(ledgers) >= 2  # each instance wrote its own
