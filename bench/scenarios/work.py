"""Scenarios of the plugin's work (issue 11, with issue 8's Cloud Tasks comparison): Remove at
scale, at high latency and at growing sizes, a large Remove in-process beside Cloud Tasks, and
Add.

The floor of a Remove is the issue's: the calls the safety rule cannot do without (3 reads per
asset: formats, file sets, files; and 1 call per LucidLink file set deleted) divided by iconik's
rate limit. Everything else the plugin asks (listing the collections, its own job's progress,
checking the token) is overhead the ratio includes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from b2_iconik.iconik.client import BULK_LIMIT
from bench import queue
from bench.figures import Figure, Result
from bench.lab import FORMATS, Calls, Lab, epoch
from bench.processes import BenchError, PluginServer
from bench.scenarios.common import (
    BULK,
    CONTENTS,
    DELETE,
    FILE_SETS,
    HANDFUL,
    PURGE,
    REMOVE_TARGET,
    Sizes,
    timeout_for,
)
from iconik_sandbox import SeedResult

#: Add ends "within about 1 s" of iconik finishing the copies.
ADD_LAG_TARGET = 1.0
#: "Growth is linear": the largest run's time per asset within 10% of the smallest's; "memory
#: stays bounded": its peak RSS within 25% of the smallest's (our reading of both words).
GROWTH_TARGET = 1.10
MEMORY_TARGET = 1.25


# -- Remove --------------------------------------------------------------------------------------


@dataclass
class RemoveRun:
    """One Remove of a whole seeded catalogue (its root collection), measured."""

    assets: int
    deleted: int
    wall: float
    answer: float
    calls: Calls
    job: dict[str, Any]
    verified: bool
    floor: float
    clicked: float


def remove_once(lab: Lab, server: PluginServer, ids: SeedResult) -> RemoveRun:
    """Click Remove on the root collection and wait until its job ends.

    Raises:
        BenchError: the click was refused or the job did not end in time.
    """
    assets = list(dict.fromkeys(ids.asset_ids))
    ll_before = lab.active_sets(assets, ids.ll_storage_id)
    b2_before = lab.complete_sets(assets, ids.b2_storage_id)
    rps = lab.knobs.rps
    lab.forget_requests()
    clicked = time.time()
    answer, reply = lab.click(server, "remove", ids,
                              {"context": "COLLECTION", "collection_ids": [ids.root_collection_id]})
    (job,) = lab.wait_for_jobs([lab.accepted(reply)], timeout_for(3 * len(assets) + ll_before, rps))
    wall = epoch(job["completed_at"]) - clicked
    calls = lab.calls()
    ll_after = lab.active_sets(assets, ids.ll_storage_id)
    verified = (job["status"] == "FINISHED" and ll_after == 0
                and lab.complete_sets(assets, ids.b2_storage_id) == b2_before)
    deleted = ll_before - ll_after
    return RemoveRun(len(assets), deleted, wall, answer, calls, job, verified,
                     (3 * len(assets) + deleted) / rps, clicked)


def remove_figures(run: RemoveRun, rps: float, prefix: str = "") -> list[Figure]:
    """The figures of a Remove: wall time against its floor, calls, 429s, outcome."""
    deletes = run.calls.served("DELETE", DELETE) + run.calls.served("DELETE", PURGE)
    return [
        Figure(f"{prefix}wall time, click to job end", run.wall, "s", floor=run.floor,
               target=REMOVE_TARGET,
               note=f"(3 reads x {run.assets:,} assets + {run.deleted:,} deletes) ÷ {rps:g}/s"),
        Figure(f"{prefix}reads per asset", run.calls.reads / max(1, run.assets), "", target=3),
        Figure(f"{prefix}calls per LucidLink file set deleted", deletes / max(1, run.deleted),
               "", target=1),
        Figure(f"{prefix}429s received", run.calls.throttled, "", target=HANDFUL),
        Figure(f"{prefix}most requests in any second", run.calls.busiest_second(), "",
               target=rps),
        Figure(f"{prefix}job FINISHED, LucidLink copies gone, B2 intact", run.verified,
               target=True),
    ]


def remove_details(run: RemoveRun) -> dict[str, Any]:
    return {
        "assets": run.assets,
        "lucidlink_file_sets_deleted": run.deleted,
        "wall_seconds": run.wall,
        "floor_seconds": run.floor,
        "answer_seconds": run.answer,
        "calls": run.calls.total,
        "calls_per_second": run.calls.total / run.wall if run.wall > 0 else None,
        "calls_by_endpoint": run.calls.by_endpoint(),
        "job_status": run.job["status"],
        "job_message": run.job.get("message"),
        "timeline_seconds": {
            "last_collection_listed": run.calls.last("GET", CONTENTS, run.clicked),
            "first_asset_read": run.calls.first("GET", FILE_SETS, run.clicked),
            "last_delete": run.calls.last("DELETE", DELETE, run.clicked),
        },
    }


def _remove_scenario(lab: Lab, key: str, title: str, assets: int,
                     latency: float | None = None) -> Result:
    result = Result(key, title)
    lab.reset(latency)
    ids = lab.seed(assets, on_ll=True)
    with lab.server(key) as server:
        run = remove_once(lab, server, ids)
    result.add(*remove_figures(run, lab.knobs.rps))
    result.details = remove_details(run)
    return result


def remove_at_scale(lab: Lab, sizes: Sizes) -> Result:
    """(1) Remove of a nested catalogue, every B2 copy good, at the default latency."""
    return _remove_scenario(lab, "remove", f"Remove {sizes.remove:,} assets", sizes.remove)


def remove_slow(lab: Lab, sizes: Sizes) -> Result:
    """(3) The same Remove with every iconik request slower: still rate-bound, not latency-bound."""
    latency = lab.knobs.slow_latency
    return _remove_scenario(lab, "remove_slow",
                            f"Remove {sizes.slow_remove:,} assets at {latency * 1000:.0f} ms",
                            sizes.slow_remove, latency=latency)


# -- Add -----------------------------------------------------------------------------------------


def add_at_scale(lab: Lab, sizes: Sizes) -> Result:
    """(2) Add of the same shape of catalogue, every asset on B2 only."""
    result = Result("add", f"Add {sizes.add:,} assets")
    lab.reset()
    ids = lab.seed(sizes.add, on_ll=False)
    assets = list(dict.fromkeys(ids.asset_ids))
    rps = lab.knobs.rps
    bulk_needed = math.ceil(len(assets) / BULK_LIMIT) * len(FORMATS)
    pages = lab.listing_pages(ids)
    copy_seconds = lab.iconik.copy_seconds
    with lab.server("add") as server:
        lab.forget_requests()
        clicked = time.time()
        _, reply = lab.click(server, "add", ids,
                             {"context": "COLLECTION", "collection_ids": [ids.root_collection_id]})
        (job,) = lab.wait_for_jobs([lab.accepted(reply)], timeout_for(pages + bulk_needed, rps))
    calls = lab.calls()
    ended = epoch(job["completed_at"])
    copies = lab.copies()
    last_copy = max((epoch(c.get("completed_at")) for c in copies), default=0.0)
    if not last_copy:
        raise BenchError(f"no copy job ended; the Add job says: {job.get('message')}")
    copied = lab.complete_sets(assets, ids.ll_storage_id)
    floor = (pages + bulk_needed) / rps + copy_seconds
    result.add(
        Figure("wall time, click to job end", ended - clicked, "s", floor=floor,
               note=f"({pages} listing pages + {bulk_needed} bulk copies) ÷ {rps:g}/s "
                    f"+ the sandbox's copy time {copy_seconds:g} s"),
        Figure("last copy ended → job end", ended - last_copy, "s", target=ADD_LAG_TARGET),
        Figure("bulk copy calls", calls.served("POST", BULK), "", target=bulk_needed),
        Figure("collection listing calls", calls.served("GET", CONTENTS), "", target=pages),
        Figure("429s received", calls.throttled, "", target=HANDFUL),
        Figure("job FINISHED, every format of every asset on LucidLink",
               job["status"] == "FINISHED" and copied == len(assets) * len(FORMATS),
               target=True),
    )
    result.details = {
        "assets": len(assets),
        "timeline_seconds": {
            "last_collection_listed": calls.last("GET", CONTENTS, clicked),
            "first_bulk_copy": calls.first("POST", BULK, clicked),
            "last_bulk_copy": calls.last("POST", BULK, clicked),
            "last_copy_ended": last_copy - clicked,
            "job_ended": ended - clicked,
        },
        "copy_jobs": len(copies),
        "calls": calls.total,
        "calls_by_endpoint": calls.by_endpoint(),
        "job_status": job["status"],
        "job_message": job.get("message"),
    }
    return result


# -- scaling -------------------------------------------------------------------------------------


def scaling(lab: Lab, sizes: Sizes) -> Result:
    """(6) Remove at growing sizes: time per asset and the plugin's peak memory."""
    result = Result("scaling", "Remove scaling")
    runs: list[tuple[int, RemoveRun, float]] = []
    for assets in sizes.scaling:
        lab.reset()
        ids = lab.seed(assets, on_ll=True)
        with lab.server(f"scaling_{assets}") as server:
            run = remove_once(lab, server, ids)
            rss = server.peak_rss_mb()
        runs.append((assets, run, rss))
        result.add(
            Figure(f"{assets:,} assets: wall time", run.wall, "s", floor=run.floor,
                   target=REMOVE_TARGET),
            Figure(f"{assets:,} assets: time per asset", 1000 * run.wall / run.assets, "ms",
                   floor=1000 * run.floor / run.assets),
            Figure(f"{assets:,} assets: peak RSS of the plugin", rss, "MB"),
            Figure(f"{assets:,} assets: job FINISHED, LucidLink copies gone, B2 intact",
                   run.verified, target=True),
        )
    (small, first, rss_small), (large, last, rss_large) = runs[0], runs[-1]
    growth = (last.wall / last.assets) / (first.wall / first.assets)
    result.add(
        Figure(f"time per asset, {large:,} ÷ {small:,}", growth, "x", target=GROWTH_TARGET),
        Figure(f"peak RSS, {large:,} ÷ {small:,}", rss_large / rss_small if rss_small else 0.0,
               "x", target=MEMORY_TARGET),
    )
    result.details = {
        str(n): {**remove_details(run), "peak_rss_mb": rss} for n, run, rss in runs
    }
    return result


# -- in-process beside Cloud Tasks ---------------------------------------------------------------


def big_remove(lab: Lab, sizes: Sizes) -> Result:
    """(7, issue 8) A large Remove in-process, then the same through the Cloud Tasks emulator."""
    result = Result("big_remove", f"Remove {sizes.big:,} assets: in-process, Cloud Tasks")
    lab.reset()
    ids = lab.seed(sizes.big, on_ll=True)
    with lab.server("big_in_process") as server:
        local = remove_once(lab, server, ids)
    result.add(*remove_figures(local, lab.knobs.rps, "in-process: "))
    result.details = {"in_process": remove_details(local)}
    if not queue.available():
        result.error = "the Cloud Tasks emulator is not installed: run `make bench` (.venv-tasks)"
        return result
    lab.reset()
    ids = lab.seed(sizes.big, on_ll=True)
    with queue.TasksEmulator(lab.logs / "emulator.log") as tasks:
        server = lab.server("big_cloud_tasks")
        server.env.update(tasks.plugin_env(server.port))
        with server:
            queued = remove_once(lab, server, ids)
        deliveries = tasks.dispatcher.deliveries()
    result.add(*remove_figures(queued, lab.knobs.rps, "Cloud Tasks: "))
    result.add(Figure("Cloud Tasks ÷ in-process, wall time", queued.wall / local.wall, "x"))
    result.details["cloud_tasks"] = {
        **remove_details(queued),
        "deliveries": len(deliveries),
        "failed_deliveries": sum(1 for d in deliveries if not 200 <= d.status < 300),
    }
    return result


