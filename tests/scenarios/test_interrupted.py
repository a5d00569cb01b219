"""In-process work dies with its instance: the next action ends such a job FAILED
("interrupted"), while a job that is merely waiting stays alive (its heartbeat says so)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from b2_iconik.engine.stale import INTERRUPTED, modified
from iconik_sandbox import Sandbox
from tests.scenarios.actions import click, on_storage, seed, terminal_patches, wait_for_job
from tests.scenarios.servers import PluginServer, free_port

pytestmark = pytest.mark.e2e

STALE = 6  # seconds: an in-process job untouched this long was interrupted (heartbeat: 2 s)


@pytest.fixture
def in_process(sb: Sandbox, tmp_path) -> Iterator[PluginServer]:
    server = PluginServer(sb, tmp_path / "plugin.log", free_port(),
                          INPROCESS_STALE_SECONDS=str(STALE), REMOVE_WAIT_SECONDS="120").start()
    yield server
    server.stop()


def wait_until(predicate, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.05)


def waiting_remove(sb: Sandbox, server: PluginServer) -> tuple[str, object]:
    """A Remove left waiting on a copy to B2 that the sandbox holds open."""
    ids = seed(sb, assets=4, on_ll=1.0, b2_missing=1, b2_wrong_size=0, b2_bad_status=0,
               formats=("ORIGINAL",), saved_searches=0)
    sb.faults.copy_stays_open = list(ids.b2_missing)
    answer = click({"url": server.url}, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token,
                   query="&formats=ORIGINAL")
    job_id = answer.json()["job_id"]
    wait_until(lambda: sb.state.open_copies, what="the copy held open")
    return job_id, ids


def another_click(sb: Sandbox, server: PluginServer, ids) -> str:
    answer = click({"url": server.url}, "add", ids, {"asset_ids": ids.asset_ids[:1]}, sb.token,
                   query="&formats=ORIGINAL")
    return answer.json()["job_id"]


def test_the_next_action_ends_a_job_whose_instance_died(sb, in_process):
    job_id, ids = waiting_remove(sb, in_process)
    in_process.kill()  # a redeploy: the waiting re-check dies with the process
    in_process.start()
    wait_until(lambda: time.time() - modified(sb.state.job(job_id)) > STALE,
               what="the lost job going stale")
    wait_for_job(sb, another_click(sb, in_process, ids), timeout=30)
    job = wait_for_job(sb, job_id, timeout=30)
    assert job["status"] == "FAILED" and job["message"] == INTERRUPTED
    assert on_storage(sb, ids.b2_missing[0], ids.ll_storage_id)  # nothing unverified removed


def test_a_job_that_is_only_waiting_stays_alive(sb, in_process):
    job_id, ids = waiting_remove(sb, in_process)
    started = time.time()
    wait_until(lambda: time.time() - started > STALE + 1, what="longer than the staleness")
    wait_for_job(sb, another_click(sb, in_process, ids), timeout=30)
    assert sb.state.job(job_id)["status"] == "STARTED"  # the heartbeat kept it fresh
    sb.state.complete_open_copies()
    job = wait_for_job(sb, job_id, timeout=60)
    assert job["status"] == "FINISHED", job["message"]
    assert terminal_patches(sb, job_id) == 1
