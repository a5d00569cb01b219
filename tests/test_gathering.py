"""Gathering automations' requests (b2_iconik.engine): batches, ledgers, closing, the guard.

Against the in-memory iconik of ``tests/fakes.py``, with a clock the tests move: two Gatherers
stand for two instances sharing one iconik and one queue.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import IconikHTTPError
from b2_iconik.engine import batch, closing, gathering
from b2_iconik.engine.batch import Source
from b2_iconik.engine.gathering import Gatherer
from b2_iconik.rules import jobs
from b2_iconik.rules.payload import ActionOptions
from b2_iconik.rules.steps import CLOSE, EXPAND
from tests.fakes import FakeIconik, FakeQueue

OPTIONS = ActionOptions(FakeIconik.B2, FakeIconik.LL, ("ORIGINAL",))
POLICY = Source("remove-when-approved", application=True)
START = 1_800_000_000.0  # a window boundary for 60-second windows


def asset(n: int) -> str:
    return f"a{n:07d}-0000-4000-8000-000000000000"


class Clock:
    def __init__(self, now: float = START + 5) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def settings() -> Settings:
    """On Cloud Tasks: every instance writes its ledger before it answers."""
    return Settings.from_env(environ={
        "ICONIK_ID": "app", "TASKS_QUEUE": "projects/p/locations/l/queues/q",
        "TASKS_URL": "https://function.example/"}, dotenv_path=None)


@pytest.fixture
def in_process() -> Settings:
    """In-process: the ledger is written when the batch closes, in the same process."""
    return Settings.from_env(environ={"ICONIK_ID": "app"}, dotenv_path=None)


def join(g: Gatherer, iconik: FakeIconik, queue: FakeQueue, ids: list[str],
         operation: str = "remove", source: Source = POLICY) -> gathering.Joined:
    return g.join(iconik, queue, operation, OPTIONS, source, "app-token", tuple(ids))  # type: ignore[arg-type]


def ledger(iconik: FakeIconik, job_id: str) -> list[list[str]]:
    return [j["metadata"]["asset_ids"] for j in iconik.child_jobs(job_id)
            if j["metadata"].get("part") == jobs.GATHERED_PART]


def test_two_instances_share_one_batch_each_with_its_own_ledger(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    one, two = Gatherer(settings, clock, clock.sleep), Gatherer(settings, clock, clock.sleep)
    first = join(one, iconik, queue, [asset(1)])
    second = join(two, iconik, queue, [asset(2)])
    third = join(one, iconik, queue, [asset(3), asset(1)])
    assert first.job_id == second.job_id == third.job_id
    assert first.closes_at == START + 60 + 10
    assert sorted(ledger(iconik, first.job_id)) == [[asset(1), asset(3)], [asset(2)]]
    [close] = queue.of_kind(CLOSE)
    assert close.job_id == first.job_id and close.not_before == START + 70
    batch = iconik.jobs[first.job_id]
    assert batch["title"] == (
        "Remove assets from LucidLink (automation: remove-when-approved, as the application)")
    assert batch["metadata"]["runner"] == jobs.CLOUD_TASKS
    assert batch["metadata"]["acting"] == "application"


def test_other_sources_users_and_windows_get_batches_of_their_own(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    g = Gatherer(settings, clock, clock.sleep)
    a = join(g, iconik, queue, [asset(1)]).job_id
    b = join(g, iconik, queue, [asset(1)], source=Source("remove-when-unmodified-30d")).job_id
    c = join(g, iconik, queue, [asset(1)], operation="add").job_id
    d = g.join(iconik, queue, "remove", OPTIONS, Source("remove-when-approved"),  # type: ignore[arg-type]
               "a-users-token", (asset(1),)).job_id
    iconik.user_of_token = "u2"
    f = g.join(iconik, queue, "remove", OPTIONS, Source("remove-when-approved"),  # type: ignore[arg-type]
               "another-users-token", (asset(1),)).job_id
    clock.now += 60
    e = join(g, iconik, queue, [asset(1)]).job_id
    assert len({a, b, c, d, e, f}) == 6


def test_new_tokens_of_one_user_share_a_batch_and_each_is_checked_once(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    g = Gatherer(settings, clock, clock.sleep)
    policy = Source("remove-when-approved")
    joined = {g.join(iconik, queue, "remove", OPTIONS, policy, f"token-{n % 3}",  # type: ignore[arg-type]
                     (asset(n),)).job_id for n in range(9)}
    assert len(joined) == 1
    assert iconik.token_checks == 3


def test_a_token_iconik_refuses_writes_nothing(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    iconik.refuse_token = True
    with pytest.raises(IconikHTTPError):
        Gatherer(settings, clock, clock.sleep).join(
            iconik, queue, "remove", OPTIONS, Source("p"), "bad-token", (asset(1),))  # type: ignore[arg-type]
    assert iconik.jobs == {} and queue.steps == []


def test_requests_that_arrive_together_are_written_in_one_call(settings):
    """The first write is held; every request that comes meanwhile goes in the next one."""
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    g = Gatherer(settings, clock, clock.sleep)
    batch = join(g, iconik, queue, [asset(0)]).job_id
    release, holding = threading.Event(), threading.Event()
    original = iconik.update_job

    def slow(job_id: str, **fields: Any) -> None:
        if "asset_ids" in (fields.get("metadata") or {}) and not release.is_set():
            holding.set()
            release.wait(30)
        original(job_id, **fields)

    iconik.update_job = slow  # type: ignore[method-assign]
    writes_before = sum(1 for _, f in iconik.updates if "asset_ids" in f.get("metadata", {}))
    threads = [threading.Thread(target=join, args=(g, iconik, queue, [asset(n)]))
               for n in range(1, 11)]
    threads[0].start()
    assert holding.wait(30)
    for thread in threads[1:]:
        thread.start()
    here = next(iter(g._open.values()))
    deadline = time.monotonic() + 30
    while not (here.pending and len(here.pending.ids) == 9):
        assert time.monotonic() < deadline, "the requests did not queue up"
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(30)
    writes = sum(1 for _, f in iconik.updates if "asset_ids" in f.get("metadata", {}))
    assert writes - writes_before == 2
    assert sorted(ledger(iconik, batch)[0]) == sorted(asset(n) for n in range(11))


def test_a_ledger_part_holds_at_most_its_cap(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    joined = join(Gatherer(settings, clock, clock.sleep), iconik, queue,
                  [asset(n) for n in range(600)])
    assert sorted(len(p) for p in ledger(iconik, joined.job_id)) == [100, 250, 250]


def test_a_write_that_ends_after_the_window_closed_joins_the_next_window(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock(START + 59)
    g = Gatherer(settings, clock, clock.sleep)
    first = join(g, iconik, queue, [asset(1)]).job_id
    original = iconik.update_job

    def late(job_id: str, **fields: Any) -> None:
        original(job_id, **fields)
        if asset(2) in (fields.get("metadata") or {}).get("asset_ids", []):
            clock.now = START + 60 + 6  # past the end plus half the grace

    iconik.update_job = late  # type: ignore[method-assign]
    second = join(g, iconik, queue, [asset(2)])
    assert second.job_id != first
    assert asset(2) in ledger(iconik, second.job_id)[0]


def test_a_ledger_part_deleted_by_hand_is_written_again_whole(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    g = Gatherer(settings, clock, clock.sleep)
    batch = join(g, iconik, queue, [asset(1)]).job_id
    [part] = [j["id"] for j in iconik.child_jobs(batch)]
    original = iconik.update_job

    def gone(job_id: str, **fields: Any) -> None:
        if job_id == part:
            raise IconikHTTPError(404, ["Job not found"], "PATCH", f"/jobs/{job_id}/")
        original(job_id, **fields)

    iconik.update_job = gone  # type: ignore[method-assign]
    join(g, iconik, queue, [asset(2)])
    del iconik.jobs[part]
    assert ledger(iconik, batch) == [[asset(1), asset(2)]]


def test_an_instance_that_claimed_the_batch_and_died_is_replaced(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    window = batch.Window.at("remove", OPTIONS, POLICY, "application", clock(), 60)
    queue.claim(window.name)  # taken by an instance that never made the batch
    joined = join(Gatherer(settings, clock, clock.sleep), iconik, queue, [asset(1)])
    assert clock.now >= START + 5 + gathering.FIND_SECONDS
    assert iconik.jobs[joined.job_id]["metadata"]["batch"] == window.key


# -- closing ---------------------------------------------------------------------------------


def close(iconik: FakeIconik, queue: FakeQueue, settings: Settings, now: float) -> None:
    for step in list(queue.of_kind(CLOSE)):
        closing.close(iconik, queue, step, now, settings)  # type: ignore[arg-type]


def test_closing_starts_one_action_of_every_asset_once(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    one, two = Gatherer(settings, clock, clock.sleep), Gatherer(settings, clock, clock.sleep)
    batch = join(one, iconik, queue, [asset(1), asset(2)]).job_id
    join(two, iconik, queue, [asset(2), asset(3)])
    close(iconik, queue, settings, START + 70)
    [expand] = queue.of_kind(EXPAND)
    assert expand.job_id == batch and expand.source == POLICY.label
    assert expand.selection is not None
    assert sorted(expand.selection.asset_ids) == [asset(1), asset(2), asset(3)]
    job = iconik.jobs[batch]
    assert job["title"] == (
        "Remove 3 assets from LucidLink (automation: remove-when-approved, as the application)")
    assert job["metadata"]["closed"] is True
    assert all(j["status"] == "FINISHED" for j in iconik.child_jobs(batch))
    close(iconik, queue, settings, START + 91)  # delivered again: nothing new
    assert len(queue.of_kind(EXPAND)) == 1


def test_a_batch_of_thousands_is_split_into_shards(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    batch = join(Gatherer(settings, clock, clock.sleep), iconik, queue,
                 [asset(n) for n in range(5000)]).job_id
    close(iconik, queue, settings, START + 70)
    shards = queue.of_kind(EXPAND)
    assert len(shards) > 1 and {s.shards for s in shards} == {len(shards)}
    assert sum(len(s.selection.asset_ids) for s in shards if s.selection) == 5000
    assert iconik.jobs[batch]["metadata"]["shards"] == len(shards)


def test_the_loop_guard_holds_back_what_the_opposite_policy_just_gathered(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    g = Gatherer(settings, clock, clock.sleep)
    join(g, iconik, queue, [asset(1), asset(2)], operation="remove")
    clock.now += 600
    add = join(g, iconik, queue, [asset(2), asset(3)], operation="add",
               source=Source("add-when-in-collection-1234abcd", True)).job_id
    steps = [s for s in queue.of_kind(CLOSE) if s.job_id == add]
    closing.close(iconik, queue, steps[0], clock.now + 90, settings)  # type: ignore[arg-type]
    [expand] = queue.of_kind(EXPAND)
    assert expand.selection is not None and expand.selection.asset_ids == (asset(3),)
    [held] = [j for j in iconik.child_jobs(add) if j["metadata"].get("part") == jobs.HELD_PART]
    assert held["status"] == "FAILED" and asset(2) in held["message"]
    assert "loop guard" in held["message"]


def test_the_loop_guard_forgets_after_its_time(settings):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    g = Gatherer(settings, clock, clock.sleep)
    join(g, iconik, queue, [asset(1)], operation="remove")
    clock.now += settings.loop_guard_seconds + 120
    add = join(g, iconik, queue, [asset(1)], operation="add").job_id
    steps = [s for s in queue.of_kind(CLOSE) if s.job_id == add]
    closing.close(iconik, queue, steps[0], clock.now + 90, settings)  # type: ignore[arg-type]
    [expand] = queue.of_kind(EXPAND)
    assert expand.selection is not None and expand.selection.asset_ids == (asset(1),)


def test_a_batch_whose_requests_all_moved_on_ends_with_nothing_to_do(settings):
    iconik, queue = FakeIconik(), FakeQueue()
    clock = Clock()
    g = Gatherer(settings, clock, clock.sleep)
    batch = join(g, iconik, queue, [asset(1)]).job_id
    for child in iconik.child_jobs(batch):
        iconik.jobs[child["id"]]["metadata"]["asset_ids"] = []
    close(iconik, queue, settings, START + 70)
    assert queue.of_kind(EXPAND) == []
    assert iconik.jobs[batch]["status"] == "FINISHED"


# -- in-process: the ledger is kept in memory until the batch closes --------------------------


def ledger_writes(iconik: FakeIconik) -> int:
    return sum(1 for _, f in iconik.updates if "asset_ids" in f.get("metadata", {}))


def test_in_process_a_burst_costs_no_call_until_its_batch_closes(in_process):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    g = Gatherer(in_process, clock, clock.sleep)
    job_ids = {join(g, iconik, queue, [asset(n), asset(n % 7)]).job_id for n in range(600)}
    assert len(job_ids) == 1 and len(iconik.jobs) == 1  # the batch; no find, no ledger yet
    assert ledger_writes(iconik) == 0
    [close_step] = queue.of_kind(CLOSE)
    g.flush(iconik, close_step.job_id)
    assert sorted(len(p) for p in ledger(iconik, close_step.job_id)) == [100, 250, 250]
    closing.close(iconik, queue, close_step, START + 70, in_process)  # type: ignore[arg-type]
    assert sum(len(s.selection.asset_ids) for s in queue.of_kind(EXPAND) if s.selection) == 600


def test_in_process_a_request_after_the_flush_joins_the_next_batch(in_process):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    g = Gatherer(in_process, clock, clock.sleep)
    first = join(g, iconik, queue, [asset(1)]).job_id
    g.flush(iconik, first)
    second = join(g, iconik, queue, [asset(2)]).job_id
    assert second != first
    g.flush(iconik, second)
    assert ledger(iconik, first) == [[asset(1)]] and ledger(iconik, second) == [[asset(2)]]


def test_in_process_a_failed_flush_keeps_what_it_did_not_write(in_process):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    g = Gatherer(in_process, clock, clock.sleep)
    batch = join(g, iconik, queue, [asset(n) for n in range(300)]).job_id
    original, calls = iconik.update_job, []

    def flaky(job_id: str, **fields: Any) -> None:
        calls.append(job_id)
        if len(calls) == 2:
            raise IconikHTTPError(503, ["down"], "PATCH", f"/jobs/{job_id}/")
        original(job_id, **fields)

    iconik.update_job = flaky  # type: ignore[method-assign]
    with pytest.raises(IconikHTTPError):
        g.flush(iconik, batch)
    g.flush(iconik, batch)  # the CLOSE step's next try
    assert sorted(a for p in ledger(iconik, batch) for a in p) == sorted(
        asset(n) for n in range(300))


def test_in_process_instances_never_share_a_batch(in_process):
    iconik, queue, clock = FakeIconik(), FakeQueue(), Clock()
    one, two = Gatherer(in_process, clock, clock.sleep), Gatherer(in_process, clock, clock.sleep)
    assert join(one, iconik, queue, [asset(1)]).job_id != join(two, iconik, queue,
                                                                 [asset(2)]).job_id
