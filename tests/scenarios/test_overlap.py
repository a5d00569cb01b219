"""Actions that overlap, as they do in real use: a double click, two editors on one collection,
an Add and a Remove at once, a person deleting by hand in iconik while Remove runs.

What is already gone counts as done, nothing unverified is ever deleted, and every job ends once
with a report that is true: it names the assets kept on LucidLink and no asset that was removed.
Each scenario runs in-process and through the Cloud Tasks emulator.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from iconik_sandbox import Sandbox
from tests.scenarios.actions import click, on_storage, seed, terminal_patches, wait_for_job

pytestmark = pytest.mark.e2e

SERVERS = ["plugin_server", "queued_server"]


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, queue: Any) -> dict:
    """Each scenario once with steps in-process, once on the queue."""
    return request.getfixturevalue(request.param)


def named(job: dict) -> set[str]:
    """The asset ids a job's message names."""
    return set(re.findall(r"\(([0-9a-f-]{36})\)", job["message"]))


def clicks_at_once(server: dict, sb: Sandbox, ids: Any, operations: list[str],
                   selection: dict) -> list[str]:
    """Several clicks sent at the same moment; their job ids."""
    answers: list[Any] = [None] * len(operations)
    gate = threading.Barrier(len(operations))

    def send(index: int, operation: str) -> None:
        gate.wait(30)
        answers[index] = click(server, operation, ids, selection, sb.token,
                               query="&formats=ORIGINAL")

    threads = [threading.Thread(target=send, args=(i, op)) for i, op in enumerate(operations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert all(a is not None and a.status_code == 200 for a in answers)
    return [a.json()["job_id"] for a in answers]


def test_the_same_remove_twice_at_once_reports_truly(sb, server):
    ids = seed(sb, assets=40, on_ll=1.0, b2_missing=0, b2_wrong_size=2, b2_bad_status=0,
               formats=("ORIGINAL",), saved_searches=0)
    sb.faults.configure(latency=0.005)  # reads and deletes of the two runs interleave
    jobs = clicks_at_once(server, sb, ids, ["remove", "remove"],
                          {"collection_ids": [ids.root_collection_id]})
    kept = set(ids.b2_wrong_size)
    for job_id in jobs:
        job = wait_for_job(sb, job_id, timeout=60)
        assert job["status"] == "FAILED", job["message"]
        assert named(job) == kept, job["message"]  # no "LucidLink has 0 files" for the others
        assert terminal_patches(sb, job_id) == 1
    for asset in ids.asset_ids:
        assert bool(on_storage(sb, asset, ids.ll_storage_id)) == (asset in kept)


def test_a_person_deleting_by_hand_mid_run_counts_as_done(sb, server):
    """Between Remove's reading of an asset's file sets and of its files, someone deletes the
    LucidLink copy in iconik (to the recycle bin: its files read DELETED)."""
    ids = seed(sb, assets=6, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               formats=("ORIGINAL",), saved_searches=0)
    victim = ids.asset_ids[2]
    state = sb.state
    files_of = state.files_of
    deleted = threading.Event()

    def deleted_meanwhile(asset_id: str | None = None, **kwargs: Any) -> list[dict]:
        if asset_id == victim and not kwargs and not deleted.is_set():
            deleted.set()
            (ll_set,) = state.file_sets_of(victim, storage_id=ids.ll_storage_id)
            state.delete_file_set(victim, ll_set["id"])  # by hand, not by the plugin
        return files_of(asset_id, **kwargs)

    state.files_of = deleted_meanwhile  # type: ignore[method-assign]
    try:
        answer = click(server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token,
                       query="&formats=ORIGINAL")
        job = wait_for_job(sb, answer.json()["job_id"], timeout=60)
    finally:
        state.files_of = files_of  # type: ignore[method-assign]
    assert deleted.is_set()
    assert job["status"] == "FINISHED", job["message"]
    for asset in ids.asset_ids:
        assert not on_storage(sb, asset, ids.ll_storage_id)


def test_an_add_and_a_remove_at_once_keep_every_master(sb, server):
    ids = seed(sb, assets=30, on_ll=0.5, b2_missing=0, b2_wrong_size=2, b2_bad_status=0,
               formats=("ORIGINAL",), saved_searches=0)
    jobs = clicks_at_once(server, sb, ids, ["add", "remove"],
                          {"collection_ids": [ids.root_collection_id]})
    add_job, remove_job = (wait_for_job(sb, j, timeout=60) for j in jobs)
    for job_id in jobs:
        assert terminal_patches(sb, job_id) == 1
    # Remove names the assets it kept, and none it removed, whichever order the two ran in.
    on_ll = {a for a in ids.asset_ids if on_storage(sb, a, ids.ll_storage_id)}
    assert set(ids.b2_wrong_size) <= named(remove_job) <= on_ll, remove_job["message"]
    assert add_job["status"] in ("FINISHED", "FAILED")
    for asset in ids.asset_ids:  # every master still on B2
        assert sb.state.file_sets_of(asset, storage_id=ids.b2_storage_id)
