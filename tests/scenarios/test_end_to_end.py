"""Add and Remove end to end, as iconik would click them, under every fault the sandbox has.

Every test here also passes through the safety oracle (see conftest): no LucidLink file set
may be deleted unless B2 holds a matching CLOSED copy at that moment.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from tests.scenarios.actions import click, on_storage, seed, wait_for_job
from tests.scenarios.servers import SECRET, WAIT_SECONDS

pytestmark = pytest.mark.e2e


def test_add_copies_every_selected_asset_to_lucidlink(sb, plugin_server):
    ids = seed(sb, assets=30, on_ll=0.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               duplicates=4)
    answer = click(plugin_server, "add", ids, {"context": "COLLECTION",
                                              "collection_ids": [ids.root_collection_id]},
                   sb.token)
    assert answer.status_code == 200
    job = wait_for_job(sb, answer.json()["job_id"])
    assert job["status"] == "FINISHED", job["message"]
    assert job["title"] == "Add 30 assets to LucidLink"
    assert job["progress_processed"] == job["progress_total"] == 30
    for asset in ids.asset_ids:
        for fmt in ("ORIGINAL", "PPRO_PROXY"):
            assert on_storage(sb, asset, ids.ll_storage_id, fmt), (asset, fmt)
    bulk = [r for r in sb.requests if r.method == "POST" and r.path.endswith("/bulk/")]
    assert len(bulk) == 2  # one call per format: 30 assets fit in one call
    assert all(r.body["preferred_original_storage_id"] == ids.b2_storage_id for r in bulk)
    assert all(len(r.body["object_ids"]) <= 500 for r in bulk)
    assert sb.spec_violations == []


def test_remove_deletes_only_verified_copies_and_reports_the_rest(sb, plugin_server):
    ids = seed(sb, assets=24, on_ll=1.0, b2_missing=2, b2_wrong_size=2, b2_bad_status=1)
    answer = click(plugin_server, "remove", ids, {"context": "COLLECTION",
                                                 "collection_ids": [ids.root_collection_id]},
                   sb.token)
    assert answer.status_code == 200
    job = wait_for_job(sb, answer.json()["job_id"], timeout=WAIT_SECONDS + 20)
    assert job["status"] == "FAILED"
    assert job["title"] == "Remove 24 assets from LucidLink"
    for asset in ids.b2_wrong_size + ids.b2_bad_status:
        assert on_storage(sb, asset, ids.ll_storage_id), f"{asset} lost its only good copy"
        assert f"{sb.state.asset(asset)['title']} ({asset})" in job["message"]
    verified = [a for a in ids.asset_ids if a not in ids.b2_wrong_size + ids.b2_bad_status]
    for asset in verified:
        assert not on_storage(sb, asset, ids.ll_storage_id), asset
        assert on_storage(sb, asset, ids.b2_storage_id)
    # The assets missing on B2 got a copy to B2 requested, and were removed once it verified.
    to_b2 = [r for r in sb.requests if r.method == "POST"
             and r.path == f"/API/files/v1/storages/{ids.b2_storage_id}/bulk/"]
    asked = {a for r in to_b2 for a in r.body["object_ids"]}
    assert set(ids.b2_missing) <= asked
    assert not set(ids.b2_wrong_size) & asked  # never overwrite a differing B2 master
    assert sb.spec_violations == []


def test_remove_is_few_reads_per_asset(sb, plugin_server):
    ids = seed(sb, assets=20, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               duplicates=0)
    sb.requests.clear()
    answer = click(plugin_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token)
    job = wait_for_job(sb, answer.json()["job_id"])
    assert job["status"] == "FINISHED", job["message"]
    per_asset = sb.requests.count(method="GET", path_regex=r"/API/files/v1/assets/")
    assert per_asset <= 3 * 20  # file sets, formats, files: not per format


def test_saved_search_and_duplicates_handle_each_asset_once(sb, plugin_server):
    ids = seed(sb, assets=12, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               duplicates=4, saved_searches=1)
    selection = {"asset_ids": ids.asset_ids[:3], "collection_ids": ids.collection_ids,
                 "saved_search_ids": ids.saved_search_ids}
    job = wait_for_job(sb, click(plugin_server, "remove", ids, selection, sb.token)
                       .json()["job_id"])
    assert job["status"] == "FINISHED", job["message"]
    assert job["progress_total"] == 12
    assert sorted(sb.oracle.deleted) == sorted(ids.asset_ids * 2)  # 2 formats each, once


def test_dry_run_changes_nothing(sb, plugin_server):
    ids = seed(sb, assets=10, on_ll=1.0, b2_missing=2, b2_wrong_size=1, b2_bad_status=0)
    before = sb.state.snapshot()
    answer = click(plugin_server, "remove", ids, {"collection_ids": [ids.root_collection_id]},
                   sb.token, query="&dry_run=true")
    job = wait_for_job(sb, answer.json()["job_id"])
    after = sb.state.snapshot()
    for key in ("file_sets", "files"):
        assert after[key] == before[key]
    assert not [r for r in sb.requests if r.method in ("DELETE",) or r.path.endswith("/bulk/")]
    assert job["status"] == "FINISHED"
    assert job["title"].startswith("Dry run: Remove 10 assets")
    assert "would request a copy to B2" in job["message"]
    for asset in ids.b2_missing + ids.b2_wrong_size:
        assert asset in job["message"]


@pytest.mark.parametrize(
    "faults",
    [
        {"rate_limit_rps": 25},
        {"error_rate": 0.2, "seed": 3},
        {"latency": 0.05},
        {"error_rate": 0.3, "error_method": "DELETE", "seed": 5},
    ],
    ids=["429", "5xx", "slow", "5xx-on-delete"],
)
def test_remove_keeps_the_rule_under_http_faults(sb, plugin_server, faults):
    ids = seed(sb, assets=14, on_ll=1.0, b2_missing=1, b2_wrong_size=2, b2_bad_status=1)
    answer = click(plugin_server, "remove", ids, {"collection_ids": [ids.root_collection_id]},
                   sb.token)
    assert answer.status_code == 200
    sb.faults.configure(**faults)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=WAIT_SECONDS + 60)
    sb.faults.clear()
    assert job["status"] in ("FINISHED", "FAILED")
    for asset in ids.b2_wrong_size + ids.b2_bad_status:
        assert on_storage(sb, asset, ids.ll_storage_id)
        assert asset in job["message"]


def test_rate_limit_answers_429_and_the_plugin_recovers(sb, plugin_server):
    ids = seed(sb, assets=10, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    # Two of the background deletes are refused whatever the pace: a loaded machine may keep
    # the plugin under 10 requests a second, and the rate limit alone would then refuse none.
    sb.faults.fail_next("DELETE", r"/file_sets/", status=429, count=2, retry_after=1)
    answer = click(plugin_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token)
    sb.faults.configure(rate_limit_rps=10)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=60)
    assert job["status"] == "FINISHED", job["message"]
    assert sb.requests.count("DELETE", r"/file_sets/", status=429) >= 2
    for asset in ids.asset_ids:
        assert not on_storage(sb, asset, ids.ll_storage_id)


@pytest.mark.parametrize("fault", ["copy_fail", "copy_wrong_size", "copy_stays_open"])
def test_failed_copies_to_b2_leave_lucidlink_untouched(sb, plugin_server, fault):
    ids = seed(sb, assets=6, on_ll=1.0, b2_missing=3, b2_wrong_size=0, b2_bad_status=0)
    sb.faults.configure(**{fault: list(ids.b2_missing)})
    answer = click(plugin_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=WAIT_SECONDS + 20)
    assert job["status"] == "FAILED"
    for asset in ids.b2_missing:
        assert on_storage(sb, asset, ids.ll_storage_id), f"{fault}: {asset} lost"
        assert asset in job["message"]
    for asset in set(ids.asset_ids) - set(ids.b2_missing):
        assert not on_storage(sb, asset, ids.ll_storage_id)


def test_remove_twice_is_harmless(sb, plugin_server):
    ids = seed(sb, assets=8, on_ll=1.0, b2_missing=0, b2_wrong_size=1, b2_bad_status=0)
    for _ in range(2):
        answer = click(plugin_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token)
        job = wait_for_job(sb, answer.json()["job_id"], timeout=WAIT_SECONDS + 20)
        assert job["status"] == "FAILED"
        assert ids.b2_wrong_size[0] in job["message"]
    assert on_storage(sb, ids.b2_wrong_size[0], ids.ll_storage_id)


def test_missing_collection_fails_the_job_and_deletes_nothing(sb, plugin_server):
    ids = seed(sb, assets=4, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    missing = "deadbeef-0000-4000-8000-000000000000"
    answer = click(plugin_server, "remove", ids, {"collection_ids": [missing]}, sb.token)
    job = wait_for_job(sb, answer.json()["job_id"])
    assert job["status"] == "FAILED"
    assert missing in job["message"]
    assert not sb.oracle.deleted


def test_contract_errors_over_the_real_server(sb, plugin_server):
    ids = seed(sb, assets=1, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    url = plugin_server["url"]
    assert requests.get(url + "/add", timeout=5).status_code == 405
    assert requests.post(url + "/nope", timeout=5).status_code == 404
    wrong = requests.post(url + "/remove", json={}, headers={"x-bz-secret": "x"}, timeout=5)
    assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers
    ids.b2_storage_id = "5e000000-0000-4000-8000-000000000000"
    unknown = click(plugin_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token)
    assert unknown.status_code == 400
    assert "b2_storage_id" in unknown.json()["error"]
    bad_token = click(plugin_server, "add", ids, {"asset_ids": ids.asset_ids}, "not-a-token")
    assert bad_token.status_code == 400
    assert "auth_token" in bad_token.json()["error"]


def test_the_answer_does_not_wait_for_the_selection_to_be_listed(sb, plugin_server):
    """Listing a collection is held until the click has been answered: an answer that waited
    for the expansion would never come (a condition, not a timing)."""
    ids = seed(sb, assets=200, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               collections_depth=4)
    answered = threading.Event()
    collection = sb.state.collection

    def held(collection_id: str):
        answered.wait(30)
        return collection(collection_id)

    sb.state.collection = held  # type: ignore[method-assign]
    try:
        answer = click(plugin_server, "remove", ids,
                       {"collection_ids": [ids.root_collection_id]}, sb.token,
                       query="&dry_run=true")
        answered.set()
        assert answer.status_code == 200
        wait_for_job(sb, answer.json()["job_id"], timeout=60)
    finally:
        answered.set()
        sb.state.collection = collection  # type: ignore[method-assign]


def test_log_lines_are_json_with_trace_and_job_and_no_secrets(sb, plugin_server):
    ids = seed(sb, assets=3, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    answer = click(plugin_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token,
                   headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    job_id = answer.json()["job_id"]
    wait_for_job(sb, job_id)
    deadline = time.monotonic() + 60  # the job's last log line follows its final PATCH
    while f"job {job_id} finished" not in plugin_server["log"].read_text():
        assert time.monotonic() < deadline, "the job's last log line never came"
        time.sleep(0.05)
    text = plugin_server["log"].read_text()
    assert SECRET not in text and sb.token not in text
    # Split on "\n" as Cloud Logging does, not splitlines(): a URL logged in httpRequest may
    # hold U+2028 or U+0085 (the fuzz tests send them), which JSON leaves unescaped.
    lines = [json.loads(line) for line in text.split("\n") if line.startswith("{")]
    mine = [line for line in lines if line.get("job_id") == job_id]
    assert len(mine) >= 3
    start = next(i for i, line in enumerate(lines) if line.get("job_id") == job_id)
    deletions = [line for line in lines[start:] if "deleted LucidLink file set" in
                 line.get("message", "") and ids.asset_ids[0] in line["message"]]
    assert deletions and all(line in mine for line in deletions)  # pool threads keep the id
    assert all(line["severity"] in ("INFO", "WARNING", "ERROR") for line in mine)
    assert all(trace in line["logging.googleapis.com/trace"] for line in mine)


def test_add_names_exactly_the_assets_whose_copies_failed(sb, plugin_server):
    ids = seed(sb, assets=8, on_ll=0.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               duplicates=0)
    failing = ids.asset_ids[:2]
    sb.faults.configure(copy_fail=failing)
    answer = click(plugin_server, "add", ids, {"asset_ids": ids.asset_ids}, sb.token)
    job = wait_for_job(sb, answer.json()["job_id"])
    assert job["status"] == "FAILED"
    for asset in failing:
        assert asset in job["message"]
        assert not on_storage(sb, asset, ids.ll_storage_id)
    for asset in ids.asset_ids[2:]:
        assert asset not in job["message"]
        assert on_storage(sb, asset, ids.ll_storage_id)
    assert "Copied 6 of 8 assets" in job["message"]


def test_add_reports_copies_still_open_after_the_wait(sb, plugin_server):
    ids = seed(sb, assets=3, on_ll=0.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               duplicates=0)
    sb.faults.configure(copy_stays_open=[ids.asset_ids[0]])
    answer = click(plugin_server, "add", ids, {"asset_ids": ids.asset_ids}, sb.token,
                   query="&formats=ORIGINAL")
    job = wait_for_job(sb, answer.json()["job_id"], timeout=WAIT_SECONDS + 20)
    assert job["status"] == "FAILED"
    assert "after the wait" in job["message"]
