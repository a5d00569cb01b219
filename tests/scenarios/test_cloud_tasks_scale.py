"""Cloud Tasks at size: selections that no single task could carry, run as parallel chunks.

In ``make test``: a Remove of 2,000 assets in nested, overlapping, paginated collections (some
B2 copies arrive late, some never, some differ) and an Add of 5,000. With ``B2_ICONIK_LONG=1``:
the sizes issue 8 asks for, an Add of 100,000 assets and a Remove of 20,000 (minutes each).
Each records the largest task body the queue saw: it stays far under Cloud Tasks' 100 KB.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from b2_iconik.engine.cloud_tasks import MAX_TASK_BODY
from b2_iconik.rules import add, remove
from iconik_sandbox import Sandbox
from tests import figures
from tests.scenarios.actions import click, on_storage, seed, terminal_patches, wait_for_job
from tests.scenarios.dispatcher import Dispatcher
from tests.scenarios.servers import free_port, serve_queued
from tests.scenarios.watch import SafetyOracle

pytestmark = pytest.mark.e2e

LONG = os.environ.get("B2_ICONIK_LONG") == "1"
#: How long Remove waits for copies that never come: longer than a round of every chunk.
WAIT = 8


@pytest.fixture(scope="module")
def big_sandbox() -> Iterator[Sandbox]:
    """A sandbox of its own with iconik's usual page size (100): the session's pages of 7 test
    paging, and would make a 100,000-asset listing take 14,000 pages."""
    with Sandbox(per_page_cap=100, copy_seconds=0.2) as sandbox:
        sandbox.oracle = SafetyOracle(sandbox)  # type: ignore[attr-defined]
        yield sandbox


@pytest.fixture
def sb(big_sandbox: Sandbox) -> Iterator[Sandbox]:
    """This module's sandbox, emptied; fails the test on a safety violation or a bad body."""
    big_sandbox.reset()
    yield big_sandbox
    assert big_sandbox.oracle.violations == []  # type: ignore[attr-defined]
    assert big_sandbox.spec_violations == []


@pytest.fixture(scope="module")
def big_server(big_sandbox: Sandbox, emulator: str, dispatcher: Dispatcher,
               tmp_path_factory) -> Iterator[dict]:
    """A server on the queue with iconik's rate cap lifted and a wait that outlasts a round."""
    log_path = tmp_path_factory.mktemp("scale") / "plugin.log"
    yield from serve_queued(big_sandbox, emulator, log_path, free_port(), dispatcher,
                            ICONIK_MAX_RPS="5000", REMOVE_WAIT_SECONDS=str(WAIT))


def report(name: str, queue: Dispatcher, started: float, assets: int) -> None:
    """Report what the run took, with the session's figures."""
    largest = queue.largest_body()
    kinds = Counter(kind for _, kind, _ in queue.created())
    figures.report(f"cloud tasks, {name} of {assets:,} assets: {time.time() - started:.1f} s; "
                   f"tasks {dict(kinds)}; largest task body {largest:,} bytes")
    assert 0 < largest < MAX_TASK_BODY // 2


def test_a_remove_of_thousands_in_overlapping_collections(sb, big_server, queue: Dispatcher):
    ids = seed(sb, assets=2_000, on_ll=1.0, b2_missing=60, b2_wrong_size=5, b2_bad_status=0,
               duplicates=400, collections_depth=3, collections_per_level=2,
               formats=("ORIGINAL",), saved_searches=1)
    never = ids.b2_missing[::2]  # their copies to B2 fail: they wait, and are reported
    sb.faults.copy_fail = list(never)
    started = time.time()
    selection = {"collection_ids": [ids.root_collection_id, ids.collection_ids[3]],
                 "saved_search_ids": ids.saved_search_ids}
    answer = click(big_server, "remove", ids, selection, sb.token)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=180)
    report("remove", queue, started, len(ids.asset_ids))

    kept = set(never) | set(ids.b2_wrong_size)
    assert job["status"] == "FAILED"
    assert f"Not handled ({len(kept)})" in job["message"]
    assert job["progress_processed"] == job["progress_total"] == len(ids.asset_ids)
    for asset in ids.asset_ids:  # late copies verified by a later round, the rest at once
        assert bool(on_storage(sb, asset, ids.ll_storage_id)) == (asset in kept), asset
    deleted = Counter(r.path for r in sb.requests.filter("DELETE", r"/file_sets/"))
    assert len(deleted) == len(ids.asset_ids) - len(kept) and max(deleted.values()) == 1
    reads = Counter(r.path for r in sb.requests.filter("GET", r"/assets/[^/]+/file_sets/$"))
    first_round = len(ids.asset_ids)
    assert sum(reads.values()) < first_round * 1.2  # each asset checked once, re-checks aside
    chunks = [c for c in sb.state.jobs(parent_id=job["id"])]
    assert len(chunks) == -(-len(ids.asset_ids) // remove.CHUNK)
    assert all(c["status"] in ("FINISHED", "FAILED") for c in chunks)
    assert terminal_patches(sb, job["id"]) == 1


@pytest.mark.parametrize("assets", [100_000] if LONG else [5_000])
def test_an_add_of_many_thousands(sb, big_server, queue: Dispatcher, assets):
    ids = seed(sb, assets=assets, on_ll=0.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               duplicates=assets // 20, collections_depth=2, collections_per_level=3,
               formats=("ORIGINAL",), saved_searches=0)
    started = time.time()
    answer = click(big_server, "add", ids, {"collection_ids": [ids.root_collection_id]},
                   sb.token, query="&formats=ORIGINAL")
    job = wait_for_job(sb, answer.json()["job_id"], timeout=3_600 if LONG else 120)
    report("add", queue, started, assets)
    assert job["status"] == "FINISHED", job["message"]
    assert job["progress_total"] == assets
    bulk = sb.requests.filter("POST", r"/bulk/$")
    assert len(bulk) == -(-assets // add.CHUNK)  # one bulk copy per 500 assets, no more
    assert sum(len(r.body["object_ids"]) for r in bulk) == assets
    assert terminal_patches(sb, job["id"]) == 1


@pytest.mark.skipif(not LONG, reason="the full size runs with B2_ICONIK_LONG=1")
def test_a_remove_of_twenty_thousand(sb, big_server, queue: Dispatcher):
    ids = seed(sb, assets=20_000, on_ll=1.0, b2_missing=0, b2_wrong_size=10, b2_bad_status=0,
               duplicates=1_000, collections_depth=3, collections_per_level=2,
               formats=("ORIGINAL",), saved_searches=0)
    started = time.time()
    answer = click(big_server, "remove", ids, {"collection_ids": [ids.root_collection_id]},
                   sb.token)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=3_600)
    report("remove", queue, started, len(ids.asset_ids))
    assert job["status"] == "FAILED" and "Not handled (10)" in job["message"]
    deleted = Counter(r.path for r in sb.requests.filter("DELETE", r"/file_sets/"))
    assert len(deleted) == 20_000 - 10 and max(deleted.values()) == 1
    assert terminal_patches(sb, job["id"]) == 1
