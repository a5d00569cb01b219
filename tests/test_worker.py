"""The worker: expansion into chunks, chunk ends, passing and lasting failures, the last attempt,
tokens, and knowing a step was already done."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import IconikHTTPError, IconikUnavailable
from b2_iconik.engine import worker
from b2_iconik.engine.tokens import NO_EXPIRY
from b2_iconik.engine.worker import Worker
from b2_iconik.rules import remove
from b2_iconik.rules.payload import ActionOptions, CustomAction
from b2_iconik.rules.steps import CHUNK, END, EXPAND, WATCHDOG, Step
from tests.fakes import FakeIconik, FakeQueue

OPTIONS = ActionOptions(FakeIconik.B2, FakeIconik.LL, ("ORIGINAL",))
NOW = 1_000.0


def assets(count: int, prefix: str = "a") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "object_type": "assets"} for i in range(count)]


@pytest.fixture
def fake() -> FakeIconik:
    return FakeIconik({"c": assets(2), "big": assets(remove.CHUNK * 2 + 1)})


def make(fake: FakeIconik, now: float = NOW, **settings: Any) -> Worker:
    config = Settings(iconik_id="app", remove_recheck_seconds=2, remove_wait_seconds=60,
                      **settings)
    return Worker(config, clock=lambda: now, client_factory=lambda token: fake)  # type: ignore


def expand_step(fake: FakeIconik, collection: str = "c", **changes: Any) -> Step:
    job_id = fake.create_job({"title": "t", "status": "STARTED", "metadata": {"shards": 1}})
    selection = CustomAction("COLLECTION", collection_ids=(collection,))
    return Step("remove", job_id, OPTIONS, "token", kind=EXPAND, selection=selection, **changes)


def chunk_step(fake: FakeIconik, **changes: Any) -> Step:
    job_id = fake.create_job({"title": "t", "status": "STARTED",
                              "metadata": {"shards": 1, "chunks": 1, "assets": 2}})
    base = Step("remove", job_id, OPTIONS, "token", kind=CHUNK, seq=1, remaining=("a1", "a2"),
                total=2, deadline=NOW + 60, token_expires=NO_EXPIRY)
    return replace(base, **changes)


# -- expansion ----------------------------------------------------------------------------------


def test_a_small_selection_is_one_chunk_handled_in_the_same_step(fake):
    """No second task, and nothing written after the chunk may have ended the job."""
    queue, step = FakeQueue(), expand_step(fake)
    make(fake).execute(step, queue)
    assert not queue.of_kind(CHUNK)
    assert fake.deleted == [("a0", "a0-ll"), ("a1", "a1-ll")]
    job = fake.jobs[step.job_id]
    assert job["title"] == "Remove 2 assets from LucidLink"
    assert job["metadata"]["chunks"] == 1
    assert fake.statuses(step.job_id) == ["FINISHED"]
    assert fake.updates[-1][1].get("status") == "FINISHED"  # the end is the last word
    assert not fake.child_jobs(step.job_id)
    assert queue.of_kind(WATCHDOG)  # someone looks in if the work ever stops


def test_a_one_chunk_action_that_waits_goes_on_as_that_chunk(fake):
    fake.asset_files = lambda a: [{"file_set_id": f"{a}-ll", "size": 1, "status": "CLOSED"}]  # type: ignore[method-assign]
    queue, step = FakeQueue(), expand_step(fake)
    make(fake).execute(step, queue)
    (chunk,) = queue.of_kind(CHUNK)
    assert (chunk.remaining, chunk.total, chunk.deadline) == (("a0", "a1"), 2, NOW + 60)
    assert (chunk.unit_job_id, chunk.seq, chunk.round, chunk.selection) == ("", 2, 1, None)
    assert fake.jobs[step.job_id]["metadata"]["seq_done"] == 1
    assert chunk.token_expires > NOW and chunk.auth_token == "token" and not fake.renewed


def test_a_large_selection_becomes_parallel_chunks_each_with_a_child_job(fake):
    queue, step = FakeQueue(), expand_step(fake, "big")
    make(fake).execute(step, queue)
    chunks = queue.of_kind(CHUNK)
    assert [len(c.remaining) for c in chunks] == [remove.CHUNK, remove.CHUNK, 1]
    children = fake.child_jobs(step.job_id)
    assert sorted(c["id"] for c in children) == sorted(c.unit_job_id for c in chunks)
    assert [c["metadata"]["chunk"] for c in children] == [0, 1, 2]
    assert children[0]["title"] == "Remove 250 assets from LucidLink (part 1 of 3)"
    assert fake.jobs[step.job_id]["metadata"]["chunks"] == 3
    assert all(c.seq == 0 for c in chunks)


def test_expanding_again_reuses_child_jobs_and_queues_nothing_new(fake):
    queue, step = FakeQueue(), expand_step(fake, "big")
    make(fake).execute(step, queue)
    jobs_before = len(fake.jobs)
    make(fake).execute(step, queue)
    assert len(fake.jobs) == jobs_before
    assert len(queue.of_kind(CHUNK)) == 3 and len(queue.refused) >= 3


def test_an_empty_selection_ends_the_job_at_once(fake):
    fake.contents["empty"] = []
    queue, step = FakeQueue(), expand_step(fake, "empty")
    make(fake).execute(step, queue)
    assert fake.statuses(step.job_id) == ["FINISHED"]
    assert not queue.of_kind(CHUNK) and queue.of_kind(END)


def test_missing_collection_ends_the_job_failed_at_once(fake):
    queue, step = FakeQueue(), expand_step(fake, "nope")
    make(fake).execute(step, queue)
    assert fake.statuses(step.job_id) == ["FAILED"]
    assert "Collection not found" in fake.jobs[step.job_id]["message"]


# -- chunks --------------------------------------------------------------------------------------


def test_a_one_chunk_action_ends_its_own_job_once(fake):
    queue, step = FakeQueue(), chunk_step(fake)
    make(fake).execute(step, queue)
    assert fake.deleted == [("a1", "a1-ll"), ("a2", "a2-ll")]
    assert fake.statuses(step.job_id) == ["FINISHED"]
    (end,) = queue.of_kind(END)  # the claim on the end, and its safety net a minute later
    assert end.not_before == NOW + 60 and end.done == 2
    make(fake).execute(step, queue)  # delivered again: the end is claimed already
    assert fake.statuses(step.job_id) == ["FINISHED"]


def test_a_part_ends_its_child_job_and_the_last_part_ends_the_action(fake):
    queue, step = FakeQueue(), expand_step(fake, "big")
    make(fake).execute(step, queue)
    chunks = queue.of_kind(CHUNK)
    for chunk in reversed(chunks):  # any order
        make(fake).execute(chunk, queue)
        assert (fake.statuses(step.job_id) == ["FINISHED"]) == (chunk is chunks[0])
    for chunk in chunks:
        assert fake.jobs[chunk.unit_job_id]["status"] == "FINISHED"
        assert fake.jobs[chunk.unit_job_id]["metadata"]["done"] == len(chunk.remaining)
    assert fake.jobs[step.job_id]["progress_processed"] == remove.CHUNK * 2 + 1
    assert len(queue.of_kind(END)) == 1


def test_a_chunks_wait_counts_from_its_first_round_not_from_the_click(fake):
    """In a large action the last chunks start long after the first: same wait for each."""
    fake.asset_files = lambda a: [{"file_set_id": f"{a}-ll", "size": 1, "status": "CLOSED"}]  # type: ignore[method-assign]
    queue, step = FakeQueue(), chunk_step(fake, deadline=0.0)
    make(fake, now=NOW + 5_000).execute(step, queue)
    (following,) = queue.of_kind(CHUNK)
    assert following.deadline == NOW + 5_000 + 60  # REMOVE_WAIT_SECONDS from this round
    make(fake, now=NOW + 5_030).execute(following, queue)
    assert queue.of_kind(CHUNK)[-1].deadline == NOW + 5_060  # kept by the rounds after


def test_a_round_with_waiting_assets_queues_the_next_and_records_it_done(fake):
    fake.asset_files = lambda a: [{"file_set_id": f"{a}-ll", "size": 1, "status": "CLOSED"},  # type: ignore[method-assign]
                                  {"file_set_id": f"{a}-b2", "size": 1, "status": "OPEN"}]
    queue, step = FakeQueue(), chunk_step(fake)
    make(fake).execute(step, queue)
    (following,) = queue.of_kind(CHUNK)
    assert (following.seq, following.remaining, following.not_before) == (2, ("a1", "a2"),
                                                                          NOW + 2)
    assert fake.jobs[step.job_id]["metadata"]["seq_done"] == 1


def test_a_rounds_progress_is_written_before_its_next_round_can_end_the_job(fake):
    """Once the next round is queued it may run (elsewhere) and end the job at once: the
    round's progress must already be written, or it would land on the ended job."""
    fake.asset_files = lambda a: [{"file_set_id": f"{a}-ll", "size": 1, "status": "CLOSED"},  # type: ignore[method-assign]
                                  {"file_set_id": f"{a}-b2", "size": 1, "status": "OPEN"}]
    step = chunk_step(fake)
    seen: list[int] = []

    class Watching(FakeQueue):
        def enqueue(self, following: Step) -> bool:
            seen.append(len(fake.updates))
            return super().enqueue(following)

    make(fake).execute(step, Watching())
    progress = [i for i, (job, fields) in enumerate(fake.updates)
                if job == step.job_id and "message" in fields]
    assert progress and progress[0] < seen[0]
    assert all("message" not in fields for _, fields in fake.updates[seen[0]:])


def test_progress_that_lands_after_the_end_is_overwritten_by_the_end(fake):
    """Two parts finish at once: one sums up and writes progress while the other ends the
    action; iconik has no conditional update, so the end's words are put back."""
    queue, step = FakeQueue(), expand_step(fake, "big")
    make(fake).execute(step, queue)
    first, *others = queue.of_kind(CHUNK)
    update = fake.update_job

    def slow_progress(job_id: str, **fields: Any) -> None:
        if job_id == step.job_id and str(fields.get("message", "")).startswith("Handled"):
            fake.update_job = update  # type: ignore[method-assign]
            for chunk in others:  # the other parts end the action meanwhile
                make(fake).execute(chunk, queue)
            assert fake.statuses(step.job_id) == ["FINISHED"]
        update(job_id, **fields)

    fake.update_job = slow_progress  # type: ignore[method-assign]
    make(fake).execute(first, queue)
    job = fake.jobs[step.job_id]
    assert job["status"] == "FINISHED"
    assert job["message"].startswith("Removed") and "still running" not in job["message"]
    assert job["message"] == job["metadata"]["ended"]["message"]
    assert job["progress_processed"] == job["progress_total"] == remove.CHUNK * 2 + 1
    assert fake.statuses(step.job_id) == ["FINISHED"]  # put back, not ended twice


# -- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [IconikUnavailable("no answer"),
                                   IconikHTTPError(429, ["slow down"], "GET", "/x"),
                                   IconikHTTPError(502, ["bad gateway"], "GET", "/x")])
def test_passing_failure_runs_the_step_again_later(fake, monkeypatch, error):
    def fail(*args: Any) -> None:
        raise error

    monkeypatch.setattr(remove, "run", fail)
    queue, step = FakeQueue(), chunk_step(fake, attempt=1)
    make(fake).execute(step, queue)
    (again,) = queue.steps
    assert (again.attempt, again.seq, again.not_before) == (2, step.seq, NOW + 4.0)
    assert again.task_id() != step.task_id()


def test_passing_failure_that_lasts_gives_the_assets_up_naming_them(fake, monkeypatch):
    def fail(*args: Any) -> None:
        raise IconikUnavailable("iconik unreachable")

    monkeypatch.setattr(remove, "run", fail)
    queue = FakeQueue()
    step = chunk_step(fake, attempt=worker.MAX_ATTEMPTS - 1)
    make(fake).execute(step, queue)
    assert fake.statuses(step.job_id) == ["FAILED"]
    message = fake.jobs[step.job_id]["message"]
    assert "a1" in message and "a2" in message and "iconik unreachable" in message


def test_unexpected_error_before_the_last_attempt_is_raised_for_the_queue(fake, monkeypatch):
    monkeypatch.setattr(remove, "run", lambda *a: 1 / 0)
    step = chunk_step(fake)
    with pytest.raises(ZeroDivisionError):
        make(fake).execute(step, FakeQueue(), last_attempt=False)
    assert fake.statuses(step.job_id) == []


def test_unexpected_error_on_the_last_attempt_keeps_and_names_the_assets(fake, monkeypatch,
                                                                        caplog):
    monkeypatch.setattr(remove, "run", lambda *a: 1 / 0)
    step = chunk_step(fake)
    make(fake).execute(step, FakeQueue(), last_attempt=True)
    assert fake.statuses(step.job_id) == ["FAILED"]
    assert "internal error: ZeroDivisionError" in fake.jobs[step.job_id]["message"]
    assert any(r.exc_info for r in caplog.records if r.name == "b2_iconik.engine.worker")


def test_the_queue_refusing_a_successor_ends_the_chunk_not_a_loop(fake, monkeypatch):
    from b2_iconik.base.errors import QueueRefused

    fake.asset_files = lambda a: [{"file_set_id": f"{a}-ll", "size": 1, "status": "CLOSED"}]  # type: ignore[method-assign]
    refusing = FakeQueue(refuse=lambda s: s.kind == CHUNK,
                         error=QueueRefused("Cloud Tasks refused the step: too large"))
    step = chunk_step(fake)
    make(fake).execute(step, refusing, last_attempt=False)
    assert fake.statuses(step.job_id) == ["FAILED"]
    assert "refused the step" in fake.jobs[step.job_id]["message"]


# -- tokens -------------------------------------------------------------------------------------


def test_a_token_near_its_end_is_renewed_for_the_steps_that_follow(fake):
    fake.asset_files = lambda a: [{"file_set_id": f"{a}-ll", "size": 1, "status": "CLOSED"},  # type: ignore[method-assign]
                                  {"file_set_id": f"{a}-b2", "size": 1, "status": "OPEN"}]
    queue = FakeQueue()
    step = chunk_step(fake, token_expires=NOW + 100)  # within the hour of margin
    make(fake).execute(step, queue)
    (following,) = queue.of_kind(CHUNK)
    assert following.auth_token == "renewed-1" and following.token_expires > NOW + 3600


def test_a_refused_renewal_ends_the_work_failed_with_the_assets_kept(fake):
    fake.refuse_renewal = True
    step = chunk_step(fake, token_expires=NOW + 100)
    make(fake).execute(step, FakeQueue())
    assert fake.deleted == []
    assert fake.statuses(step.job_id) == ["FAILED"]
    assert "would not renew the user's token" in fake.jobs[step.job_id]["message"]


# -- already done -------------------------------------------------------------------------------


def test_a_step_is_done_once_its_marker_says_so(fake):
    queue, step = FakeQueue(), chunk_step(fake, seq=3)
    w = make(fake)
    assert not w.already_done(step, queue)
    fake.update_job(step.job_id, metadata={"seq_done": 2})
    assert not w.already_done(step, queue)
    fake.update_job(step.job_id, metadata={"seq_done": 3})
    assert w.already_done(step, queue)
    assert w.already_done(replace(step, seq=2), queue)


def test_an_ended_job_means_done(fake):
    step = chunk_step(fake)
    fake.update_job(step.job_id, status="FINISHED")
    assert make(fake).already_done(step, FakeQueue())
    assert make(fake).already_done(replace(step, kind=END), FakeQueue())


def test_an_expansion_is_done_once_recorded(fake):
    step = expand_step(fake)
    w = make(fake)
    assert not w.already_done(step, FakeQueue())
    fake.update_job(step.job_id, metadata={"chunks": 1})
    assert not w.already_done(step, FakeQueue())  # one chunk: its first round is this step's
    fake.update_job(step.job_id, metadata={"seq_done": 1})
    assert w.already_done(step, FakeQueue())
    fake.update_job(step.job_id, metadata={"chunks": 3, "seq_done": 0})
    assert w.already_done(step, FakeQueue())  # several: recorded once their steps are queued


def test_abandon_fails_a_job_whose_work_could_not_be_queued(fake):
    step = expand_step(fake)
    make(fake).abandon(step, "could not start the work: Unavailable")
    assert fake.statuses(step.job_id) == ["FAILED"]
    assert "could not start the work" in fake.jobs[step.job_id]["message"]


def test_a_round_whose_next_cannot_be_queued_reports_only_what_still_waits(fake):
    from b2_iconik.base.errors import QueueRefused

    waiting = {"a2"}
    fake.asset_files = lambda a: [  # type: ignore[method-assign]
        {"file_set_id": f"{a}-ll", "size": 1, "status": "CLOSED"},
        {"file_set_id": f"{a}-b2", "size": 1, "status": "OPEN" if a in waiting else "CLOSED"}]

    refusing = FakeQueue(refuse=lambda s: s.kind == CHUNK,
                         error=QueueRefused("Cloud Tasks refused the step"))
    step = chunk_step(fake)
    make(fake).execute(step, refusing, last_attempt=False)
    assert fake.deleted == [("a1", "a1-ll")]
    message = fake.jobs[step.job_id]["message"]
    assert "Not handled (1)" in message and "a2" in message and "a1:" not in message


def test_a_part_the_queue_refuses_ends_failed_and_the_others_go_on(fake):
    from b2_iconik.base.errors import QueueRefused

    queue = FakeQueue(refuse=lambda s: s.kind == CHUNK and s.chunk == 1,
                      error=QueueRefused("Cloud Tasks refused the step: PermissionDenied"))
    step = expand_step(fake, "big")
    make(fake).execute(step, queue)
    refused = next(c for c in fake.child_jobs(step.job_id) if c["metadata"]["chunk"] == 1)
    assert refused["status"] == "FAILED" and "refused this part" in refused["message"]
    for chunk in queue.of_kind(CHUNK):
        make(fake).execute(chunk, queue)
    assert fake.statuses(step.job_id) == ["FAILED"]
    assert f"Not handled ({remove.CHUNK})" in fake.jobs[step.job_id]["message"]
    assert len(fake.deleted) == remove.CHUNK + 1


def test_a_split_selection_ends_once_every_shard_is_expanded_and_done(fake):
    """Two shards of directly selected assets: each expands on its own, records itself, and
    the action ends only when both shards' chunks have."""
    from b2_iconik.rules.plan import shard_of

    assets = [f"a{i}" for i in range(remove.CHUNK + 40)]
    parts = [tuple(a for a in assets if shard_of(a, 2) == r) for r in (0, 1)]
    job_id = fake.create_job({"title": "t", "status": "STARTED", "metadata": {"shards": 2}})
    queue = FakeQueue()
    shards = [Step("remove", job_id, OPTIONS, "token", kind=EXPAND, shard=r, shards=2,
                   selection=CustomAction("BULK", asset_ids=part)) for r, part in enumerate(parts)]
    make(fake).execute(shards[0], queue)
    for chunk in queue.of_kind(CHUNK):  # shard 0's chunks all end before shard 1 is listed
        make(fake).execute(chunk, queue)
    assert fake.statuses(job_id) == []  # not over: shard 1 is not expanded yet
    make(fake).execute(shards[1], queue)
    for chunk in queue.of_kind(CHUNK)[-2:]:
        if chunk.shard == 1:
            make(fake).execute(chunk, queue)
    assert fake.statuses(job_id) == ["FINISHED"]
    assert fake.jobs[job_id]["progress_total"] == len(assets)
    assert "Remove 290 assets" in fake.jobs[job_id]["title"]
    records = [c for c in fake.child_jobs(job_id) if c["metadata"]["part"] == "shard"]
    assert sorted(r["metadata"]["shard"] for r in records) == [0, 1]
    assert sorted(a for a, _ in fake.deleted) == sorted(assets)
