"""Cloud Tasks delivers at least once: the function on the queue under duplicate deliveries,
lost answers, a worker killed mid-step, a step that keeps failing, refused tasks and parts that
finish in any order.

Every scenario is checked through the sandbox: the safety oracle (no unverified delete), the
job ended exactly once, no LucidLink file set deleted twice, and few extra iconik calls compared
with a clean run of the same catalogue. The dispatcher (``dispatcher.py``) plays Cloud Tasks,
misbehaving on demand, because the emulator alone cannot.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from b2_iconik.rules import remove
from iconik_sandbox import Sandbox
from tests import figures
from tests.scenarios.actions import click, on_storage, seed, settle, terminal_patches, wait_for_job
from tests.scenarios.dispatcher import Dispatcher, Task
from tests.scenarios.servers import MAX_ATTEMPTS, PluginServer, free_port, serve_queued

pytestmark = pytest.mark.e2e

#: Two chunks of Remove, each asset on both storages, three whose B2 copy is a byte longer.
REMOVE_CATALOGUE = {"assets": remove.CHUNK + 50, "on_ll": 1.0, "b2_missing": 0,
                    "b2_wrong_size": 3, "b2_bad_status": 0, "duplicates": 20,
                    "formats": ("ORIGINAL",), "saved_searches": 0}


def calls(sb: Sandbox, since: float) -> int:
    """iconik calls made since a moment (a late safety-net check of an earlier test's job,
    answered 404 because the sandbox was reset since, is not this action's)."""
    return sum(1 for r in sb.requests.list() if r.wall >= since
               and not (r.status == 404 and "/jobs/" in r.path))


def deletes(sb: Sandbox, since: float) -> Counter[str]:
    return Counter(r.path for r in sb.requests.filter("DELETE", r"/file_sets/")
                   if r.wall >= since)


def run_remove(sb: Sandbox, server: dict, timeout: float = 60) -> tuple[dict, int, Counter, object]:
    ids = seed(sb, **REMOVE_CATALOGUE)
    started = time.time()
    answer = click(server, "remove", ids, {"collection_ids": [ids.root_collection_id]}, sb.token)
    assert answer.status_code == 200, answer.text
    job = wait_for_job(sb, answer.json()["job_id"], timeout=timeout)
    return job, calls(sb, started), deletes(sb, started), ids


def assert_remove_right(sb: Sandbox, job: dict, removed: Counter, ids) -> None:
    assert job["status"] == "FAILED", job["message"]
    assert f"Not handled ({len(ids.b2_wrong_size)})" in job["message"]
    for asset in ids.b2_wrong_size:
        assert asset in job["message"] and on_storage(sb, asset, ids.ll_storage_id)
    kept = set(ids.b2_wrong_size)
    for asset in ids.asset_ids:
        assert bool(on_storage(sb, asset, ids.ll_storage_id)) == (asset in kept)
    assert len(removed) == len(ids.asset_ids) - len(kept)
    assert max(removed.values()) == 1, "a LucidLink file set was deleted twice"
    assert terminal_patches(sb, job["id"]) == 1, "the job was ended more than once"


@pytest.fixture(scope="module")
def clean_remove(sandbox: Sandbox, queued_server: dict, dispatcher: Dispatcher) -> int:
    """The iconik calls of a clean Remove of REMOVE_CATALOGUE (the baseline)."""
    sandbox.reset()
    dispatcher.reset()
    job, count, removed, _ = run_remove(sandbox, queued_server)
    assert job["status"] == "FAILED" and max(removed.values()) == 1
    return count


# -- duplicates and lost answers ------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "bound"), [("sequential", 1.5), ("concurrent", 2.2)])
def test_every_task_delivered_twice(sb, queued_server, queue: Dispatcher, clean_remove, mode,
                                    bound):
    queue.faults.duplicate = mode
    job, count, removed, ids = run_remove(sb, queued_server)
    assert_remove_right(sb, job, removed, ids)
    settle(queue)
    assert {d.task for d in queue.deliveries() if d.twin} == {
        d.task for d in queue.deliveries() if not d.twin}  # every one of them, twice
    figures.report(f"cloud tasks, every task delivered twice ({mode}): {count} iconik calls, "
                   f"{count / clean_remove:.2f} x a clean run's {clean_remove}")
    assert count <= bound * clean_remove, (count, clean_remove)


def test_every_first_answer_lost(sb, queued_server, queue: Dispatcher, clean_remove):
    queue.faults.lose_first_answer = True
    job, count, removed, ids = run_remove(sb, queued_server)
    assert_remove_right(sb, job, removed, ids)
    settle(queue)
    assert any(d.attempt == 1 for d in queue.deliveries())  # Cloud Tasks retried them all
    figures.report(f"cloud tasks, every first answer lost: {count} iconik calls, "
                   f"{count / clean_remove:.2f} x a clean run's {clean_remove}")
    assert count <= 1.5 * clean_remove, (count, clean_remove)


# -- parts finishing in every order ---------------------------------------------------------------

@pytest.mark.parametrize("last", [0, 1])
def test_parts_finishing_in_either_order_end_the_job_once(sb, queued_server, queue: Dispatcher,
                                                         last):
    """Hold one part back until the other has answered: each order, on a condition."""
    other = f"-s0c{1 - last}-"

    def hold(task: Task) -> None:
        if task.kind == "chunk" and f"-s0c{last}-" in task.short:
            deadline = time.monotonic() + 30
            while not any(other in d.task and d.status == 200 for d in queue.deliveries()):
                assert time.monotonic() < deadline, "the other part never finished"
                time.sleep(0.02)

    queue.faults.before_delivery = hold
    job, _, removed, ids = run_remove(sb, queued_server)
    assert_remove_right(sb, job, removed, ids)
    parts = {c["metadata"]["chunk"]: c for c in sb.state.jobs(parent_id=job["id"])}
    assert parts[last]["completed_at"] > parts[1 - last]["completed_at"]  # the order held


# -- a worker killed in the middle of a step ------------------------------------------------------

@pytest.fixture
def own_server(sb, emulator, dispatcher, tmp_path) -> Iterator[PluginServer]:
    """A server of this test's own, which it may kill and start again on the same port."""
    holder = next(serve_queued(sb, emulator, tmp_path / "plugin.log", free_port(), dispatcher))
    server = holder["server"]
    yield server
    server.stop()


def test_a_worker_killed_mid_step_is_redelivered_and_finishes(sb, own_server, queue: Dispatcher):
    ids = seed(sb, **REMOVE_CATALOGUE)
    killed, back = threading.Event(), threading.Event()

    def kill_mid_chunk(task: Task) -> None:
        if killed.is_set():
            back.wait(120)  # Cloud Tasks keeps retrying while the instance comes back
            return
        if task.kind == "chunk":
            def killer() -> None:
                deadline = time.monotonic() + 20
                while sb.requests.count("DELETE", r"/file_sets/") < 5 and \
                        time.monotonic() < deadline:
                    time.sleep(0.01)
                killed.set()
                own_server.kill()
                own_server.start()
                back.set()
            threading.Thread(target=killer, daemon=True).start()

    queue.faults.before_delivery = kill_mid_chunk
    started = time.time()
    server = {"url": own_server.url}
    answer = click(server, "remove", ids, {"collection_ids": [ids.root_collection_id]}, sb.token)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=90)
    assert killed.is_set() and back.is_set()
    failed_deliveries = [d for d in queue.deliveries("chunk") if d.status != 200]
    assert failed_deliveries, "the kill did not cut a delivery"
    assert_remove_right(sb, job, deletes(sb, started), ids)


# -- a step that keeps failing, and tasks the queue refuses ---------------------------------------

def test_a_step_that_never_succeeds_is_given_up_on_its_last_attempt(sb, queued_server,
                                                                    queue: Dispatcher):
    """Its re-check can never be queued (the queue keeps answering UNAVAILABLE)."""
    ids = seed(sb, assets=8, on_ll=1.0, b2_missing=2, b2_wrong_size=0, b2_bad_status=0,
               formats=("ORIGINAL",), duplicates=0, saved_searches=0)
    sb.faults.copy_stays_open = list(ids.b2_missing)  # so they wait for a re-check, always
    queue.faults.refuse = lambda name, kind, size: (
        "ServiceUnavailable" if kind == "chunk" and "-s0c0-2-" in name else None)
    answer = click(queued_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=60)
    settle(queue)  # the last delivery is recorded once answered, after the job's end
    rounds = [d for d in queue.deliveries("expand") if "-x0-0-" in d.task]  # with its round 0
    assert len(rounds) == MAX_ATTEMPTS  # retried by the queue, then given up, not dropped
    assert [d.status for d in rounds] == [500] * (MAX_ATTEMPTS - 1) + [200]
    assert job["status"] == "FAILED"
    assert f"Not handled ({len(ids.b2_missing)})" in job["message"]
    for asset in ids.asset_ids:
        assert bool(on_storage(sb, asset, ids.ll_storage_id)) == (asset in ids.b2_missing)
    assert terminal_patches(sb, job["id"]) == 1


def test_a_part_the_queue_refuses_ends_the_job_failed_not_a_loop(sb, queued_server,
                                                               queue: Dispatcher):
    queue.faults.refuse = lambda name, kind, size: (
        "PermissionDenied" if kind == "chunk" and "-s0c1-" in name else None)
    ids = seed(sb, **REMOVE_CATALOGUE)
    answer = click(queued_server, "remove", ids, {"collection_ids": [ids.root_collection_id]},
                   sb.token)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=60)
    assert job["status"] == "FAILED" and "the queue refused this part" in job["message"]
    settle(queue)
    expansions = queue.deliveries("expand")
    assert len(expansions) == 1 and expansions[0].status == 200  # no loop of retries
    assert terminal_patches(sb, job["id"]) == 1
