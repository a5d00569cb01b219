"""Regression tests for what the property-based tests (tests/test_properties.py) found.

Each test is the smallest form of a failing example, written against the in-memory fakes so it
reads as the rule it checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import IconikHTTPError
from b2_iconik.engine.tokens import NO_EXPIRY
from b2_iconik.engine.worker import Worker
from b2_iconik.rules import jobs
from b2_iconik.rules.payload import ActionOptions, CustomAction
from b2_iconik.rules.steps import CHUNK, EXPAND, WATCH, CopyRequest, Step
from tests.fakes import FakeIconik, FakeQueue

OPTIONS = ActionOptions(FakeIconik.B2, FakeIconik.LL, ("ORIGINAL",))
NOW = 1_000.0


def _worker(fake: FakeIconik) -> Worker:
    config = Settings(iconik_id="app", remove_recheck_seconds=2, remove_wait_seconds=60)
    return Worker(config, clock=lambda: NOW, client_factory=lambda token: fake)  # type: ignore


class _FirstShardEndFails(FakeIconik):
    """iconik fails the first attempt to end a shard record (a 503 after the client's retries,
    or the process stopping right there)."""

    failed = False

    def update_job(self, job_id: str, **fields: Any) -> None:
        part = (self.jobs.get(job_id) or {}).get("metadata", {}).get("part")
        if part == jobs.SHARD_PART and fields.get("status") == "FINISHED" and not self.failed:
            self.failed = True
            raise IconikHTTPError(503, ["Service unavailable"], "PATCH", f"/jobs/{job_id}/")
        super().update_job(job_id, **fields)


def test_a_shard_record_left_started_by_a_failed_step_is_ended_when_the_step_runs_again():
    """Found as: "its part 'Remove 0 assets from LucidLink (listing part 1 of 2)' never ended".

    A split selection's EXPAND step makes a shard record (a child job), then ends it FINISHED.
    When that second call failed, the step ran again, found the record, and returned: the
    record stayed STARTED in the Jobs tab for ever (the action itself still ended).
    """
    fake = _FirstShardEndFails({"c": [{"id": "a1", "object_type": "assets"}]})
    job_id = fake.create_job({"title": "t", "status": "STARTED", "metadata": {"shards": 2}})
    selection = CustomAction("COLLECTION", collection_ids=("c",))
    step = Step("remove", job_id, OPTIONS, "token", kind=EXPAND, shard=0, shards=2,
                selection=selection)
    queue = FakeQueue()
    _worker(fake).execute(step, queue, last_attempt=False)
    (retry,) = [s for s in queue.steps if s.kind == EXPAND]
    assert fake.failed and retry.attempt == 1
    _worker(fake).execute(retry, queue, last_attempt=False)
    records = [j for j in fake.child_jobs(job_id) if j["metadata"].get("part") == jobs.SHARD_PART]
    assert [r["status"] for r in records] == ["FINISHED"]


class _ListingFailsOnce(FakeIconik):
    """iconik answers 503 (after the client's retries) the first time a copy's transfers are
    listed."""

    failed = False

    def child_jobs(self, parent_id: str) -> list[dict[str, Any]]:
        if parent_id.startswith("copy") and not self.failed:
            self.failed = True
            raise IconikHTTPError(503, ["Service unavailable"], "GET", "/jobs/")
        return super().child_jobs(parent_id)


def test_add_reads_a_partly_failed_copy_again_instead_of_naming_every_asset():
    """Found as: "named clip-02 although it was copied: ... clip-02: ORIGINAL: iconik copy job
    c470... Asset clip-01: asset has no format ORIGINAL".

    A bulk copy of two assets ended FINISHED_WITH_WARNING: one transfer failed. Listing the
    transfers answered 503 once, and Add then reported both assets failed, the copied one with
    the other's error. A passing failure now has the round run again.
    """
    fake = _ListingFailsOnce()
    job_id = fake.create_job({"title": "t", "status": "STARTED",
                              "metadata": {"shards": 1, "chunks": 1, "assets": 2}})
    fake.jobs["copy-1"] = {"id": "copy-1", "status": "FINISHED_WITH_WARNING", "metadata": {}}
    for asset, status in (("a1", "FAILED"), ("a2", "FINISHED")):
        fake.create_job({"title": asset, "status": status, "parent_id": "copy-1",
                         "object_id": asset, "error_message": f"{asset}: no source"})
    step = Step("add", job_id, OPTIONS, "token", kind=CHUNK, phase=WATCH, seq=2,
                waiting=("a1", "a2"), total=2, copies=(CopyRequest("copy-1", "ORIGINAL"),),
                deadline=NOW + 60, token_expires=NO_EXPIRY)
    queue = FakeQueue()
    _worker(fake).execute(step, queue, last_attempt=False)
    (again,) = queue.steps
    assert fake.failed and fake.statuses(job_id) == [] and again.attempt == 1
    _worker(fake).execute(again, queue, last_attempt=False)
    message = fake.jobs[job_id]["message"]
    assert fake.statuses(job_id) == ["FAILED"]
    assert "Not handled (1)" in message and "(a1)" not in message  # untitled ids: "a1: ..."
    assert "a1: ORIGINAL: copy failed: a1: no source" in message and "a2:" not in message


def test_an_expansion_run_again_after_its_action_ended_keeps_the_final_message():
    """Found as: "left clip-00 on LucidLink without naming it: Started".

    An EXPAND step that ran again after the action's one chunk had ended the action wrote
    "Started" over the final message: the job said FAILED, and nothing about why. (Fixed first
    by leaving the message out of that record; an action of one chunk is now expanded and
    handled in one step, and the record still carries no message.)
    """
    fake = FakeIconik({"c": [{"id": "a1", "object_type": "assets"}]})
    fake.asset_files = lambda a: [
        {"file_set_id": f"{a}-ll", "size": 1, "status": "CLOSED"},
        {"file_set_id": f"{a}-b2", "size": 2, "status": "CLOSED"},  # a byte longer: kept
    ]
    job_id = fake.create_job({"title": "t", "status": "STARTED", "metadata": {"shards": 1}})
    step = Step("remove", job_id, OPTIONS, "token", kind=EXPAND,
                selection=CustomAction("COLLECTION", collection_ids=("c",)))
    queue = FakeQueue()
    _worker(fake).execute(step, queue, last_attempt=False)
    ended = fake.jobs[job_id]["message"]
    assert fake.statuses(job_id) == ["FAILED"] and "Not handled (1): a1: " in ended
    _worker(fake).execute(step, queue, last_attempt=False)  # delivered again, after the end
    assert fake.jobs[job_id]["message"] == ended
    assert fake.jobs[job_id]["status"] == "FAILED"


class _Died(BaseException):
    """The process stopped: nothing more of the step runs."""


class _DiesBeforeEndingTheShard(FakeIconik):
    """The process running the step stops right after creating the shard record."""

    died = False

    def update_job(self, job_id: str, **fields: Any) -> None:
        part = (self.jobs.get(job_id) or {}).get("metadata", {}).get("part")
        if part == jobs.SHARD_PART and fields.get("status") == "FINISHED" and not self.died:
            self.died = True
            raise _Died
        super().update_job(job_id, **fields)


def test_a_shard_record_left_started_by_a_dead_process_is_not_taken_for_done():
    """Found by a long run as: "its part 'Remove 0 assets from LucidLink (listing part 1 of 2)'
    never ended" (2 shards, Cloud Tasks, the process dying at the 8th request).

    Cloud Tasks delivered the step again; it asked whether the step was done, found the shard
    record and said yes, so the record stayed STARTED. A record not ended is not done.
    """
    fake = _DiesBeforeEndingTheShard({"c": [{"id": "a1", "object_type": "assets"}]})
    job_id = fake.create_job({"title": "t", "status": "STARTED", "metadata": {"shards": 2}})
    step = Step("remove", job_id, OPTIONS, "token", kind=EXPAND, shard=0, shards=2,
                selection=CustomAction("COLLECTION", collection_ids=("c",)))
    queue, worker = FakeQueue(), _worker(fake)
    with pytest.raises(_Died):
        worker.execute(step, queue, last_attempt=False)
    assert fake.died
    assert not worker.already_done(step, queue)
    worker.execute(step, queue, last_attempt=False)
    records = [j for j in fake.child_jobs(job_id) if j["metadata"].get("part") == jobs.SHARD_PART]
    assert [r["status"] for r in records] == ["FINISHED"]
    assert worker.already_done(step, queue)
