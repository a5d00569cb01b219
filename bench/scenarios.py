"""The scenarios of issue 11 (and issue 8's Cloud Tasks comparison), each returning its figures.

Each starts a plugin server of its own (so no work, cache or memory of an earlier scenario counts
in its figures), seeds the sandbox, clicks as iconik does, and waits for the iconik job to end.
Wall times run from just before the click to the job's ``completed_at`` as iconik stamped it.

The floor of a Remove is the issue's: the calls the safety rule cannot do without (3 reads per
asset: formats, file sets, files; and 1 call per LucidLink file set deleted) divided by iconik's
rate limit. Everything else the plugin asks (listing the collections, its own job's progress,
checking the token) is overhead the ratio includes.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from b2_iconik.iconik import BULK_LIMIT
from bench import queue
from bench.audit import audit_scenario
from bench.figures import Figure, Result
from bench.lab import FORMATS, ROOT, BenchError, Calls, Lab, PluginServer, epoch
from iconik_sandbox import SeedResult

#: Remove's target: wall time within this many times its floor (issue 11).
REMOVE_TARGET = 1.3
#: "No more than a handful of 429s".
HANDFUL = 5
#: A click's answer: p99 under 300 ms (issue 11); iconik itself gives up after about 10 s.
CLICK_TARGET = 0.3
ICONIK_GIVES_UP = 10.0
#: Add ends "within about 1 s" of iconik finishing the copies.
ADD_LAG_TARGET = 1.0
#: ``import main`` (with the interpreter's start) stays under 0.5 s.
IMPORT_TARGET = 0.5
#: "Growth is linear": the largest run's time per asset within 10% of the smallest's; "memory
#: stays bounded": its peak RSS within 25% of the smallest's (our reading of both words).
GROWTH_TARGET = 1.10
MEMORY_TARGET = 1.25

_DELETE = re.compile(r"^/API/files/v1/assets/[^/]+/file_sets/[^/]+/$")
_PURGE = re.compile(r"/purge/$")
_BULK = re.compile(r"^/API/files/v1/storages/[^/]+/bulk/$")
_CONTENTS = re.compile(r"^/API/assets/v1/collections/[^/]+/contents/$")
_FILE_SETS = re.compile(r"^/API/files/v1/assets/[^/]+/file_sets/$")


@dataclass(frozen=True)
class Sizes:
    """How many assets (or clicks) each scenario uses."""

    remove: int
    add: int
    slow_remove: int
    clicks: int
    click_wave: int
    cold_imports: int
    cold_starts: int
    scaling: tuple[int, ...]
    big: int


FULL = Sizes(remove=2000, add=2000, slow_remove=2000, clicks=200, click_wave=20, cold_imports=5,
             cold_starts=3, scaling=(250, 1000, 4000), big=10_000)
QUICK = Sizes(remove=20, add=20, slow_remove=20, clicks=40, click_wave=20, cold_imports=1,
              cold_starts=1, scaling=(10, 20, 40), big=30)


def _timeout(calls: float, rps: float) -> float:
    """A bound on any wait for a job: three times its floor, and two minutes more."""
    return 3 * calls / rps + 120


def _load() -> float:
    return round(os.getloadavg()[0], 2)


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
    (job,) = lab.wait_for_jobs([lab.accepted(reply)], _timeout(3 * len(assets) + ll_before, rps))
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
    deletes = run.calls.served("DELETE", _DELETE) + run.calls.served("DELETE", _PURGE)
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
            "last_collection_listed": run.calls.last("GET", _CONTENTS, run.clicked),
            "first_asset_read": run.calls.first("GET", _FILE_SETS, run.clicked),
            "last_delete": run.calls.last("DELETE", _DELETE, run.clicked),
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
        (job,) = lab.wait_for_jobs([lab.accepted(reply)], _timeout(pages + bulk_needed, rps))
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
        Figure("bulk copy calls", calls.served("POST", _BULK), "", target=bulk_needed),
        Figure("collection listing calls", calls.served("GET", _CONTENTS), "", target=pages),
        Figure("429s received", calls.throttled, "", target=HANDFUL),
        Figure("job FINISHED, every format of every asset on LucidLink",
               job["status"] == "FINISHED" and copied == len(assets) * len(FORMATS),
               target=True),
    )
    result.details = {
        "assets": len(assets),
        "timeline_seconds": {
            "last_collection_listed": calls.last("GET", _CONTENTS, clicked),
            "first_bulk_copy": calls.first("POST", _BULK, clicked),
            "last_bulk_copy": calls.last("POST", _BULK, clicked),
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


# -- answering clicks ----------------------------------------------------------------------------


def _rank(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p99 of 200 answers is the 198th fastest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def accepting_clicks(lab: Lab, sizes: Sizes) -> Result:
    """(4) Waves of clicks, each a Remove of one asset, while earlier clicks' work runs.

    Each wave sends ``click_wave`` clicks at the same moment; a wave starts ``click_interval``
    seconds after the previous one started, or when its last answer came if that is later.
    """
    wave, interval = sizes.click_wave, lab.knobs.click_interval
    title = (f"{sizes.clicks} clicks, {wave} at a time"
             + (f", a wave every {interval:g} s" if interval > 0 else ", back to back"))
    result = Result("clicks", title)
    lab.reset()
    ids = lab.seed(sizes.clicks, on_ll=True, duplicates=0)
    assets = ids.asset_ids[: sizes.clicks]
    answers: list[float] = []
    statuses: list[int] = []
    job_ids: list[str] = []
    with lab.server("clicks") as server, ThreadPoolExecutor(max_workers=wave) as pool:
        lab.forget_requests()
        started = time.time()
        for first in range(0, len(assets), wave):
            due = started + (first // wave) * interval
            time.sleep(max(0.0, due - time.time()))
            batch = [
                pool.submit(lab.click, server, "remove", ids,
                            {"context": "ASSET", "asset_ids": [asset]})
                for asset in assets[first : first + wave]
            ]
            for future in batch:
                seconds, reply = future.result()
                answers.append(seconds)
                statuses.append(reply.status_code)
                if reply.status_code == 200:
                    job_ids.append(str(reply.json()["job_id"]))
        last_click = time.time()
        rps = lab.knobs.rps
        jobs = lab.wait_for_jobs(job_ids, _timeout(8 * len(assets), rps))
    calls = lab.calls()
    drained = max(epoch(j["completed_at"]) for j in jobs) - started if jobs else 0.0
    result.add(
        Figure("answer time p50", _rank(answers, 0.50), "s", target=CLICK_TARGET),
        Figure("answer time p99", _rank(answers, 0.99), "s", target=CLICK_TARGET),
        Figure("answer time, slowest", max(answers), "s", target=ICONIK_GIVES_UP,
               note="iconik gives up after about 10 s"),
        Figure("every click answered 200", all(s == 200 for s in statuses), target=True),
        Figure("every job FINISHED", len(jobs) == len(assets)
               and all(j["status"] == "FINISHED" for j in jobs), target=True),
        Figure("all their work done, from the first click", drained, "s",
               floor=calls.total / rps, note=f"every call made ÷ {rps:g}/s"),
        Figure("429s received", calls.throttled, "", target=HANDFUL),
    )
    result.details = {
        "clicks": len(answers),
        "answers_seconds": [round(a, 4) for a in answers],
        "clicking_seconds": last_click - started,
        "calls": calls.total,
        "calls_per_click": calls.total / max(1, len(answers)),
        "calls_by_endpoint": calls.by_endpoint(),
    }
    return result


# -- cold start ----------------------------------------------------------------------------------

_IMPORT = ("import time; started = time.perf_counter(); import main; "
           "print(time.perf_counter() - started)")


def cold_start(lab: Lab, sizes: Sizes) -> Result:
    """(5) A fresh process: importing ``main``, and a server answering its first click."""
    result = Result("cold_start", "Cold start")
    lab.reset()
    ids = lab.seed(max(sizes.cold_starts, 1), on_ll=True, duplicates=0)
    env = lab.plugin_env()
    imports, processes = [], []
    for _ in range(sizes.cold_imports):
        spawned = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _IMPORT], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        processes.append(time.perf_counter() - spawned)
        imports.append(float(out.stdout.strip().splitlines()[-1]))
    listens, firsts, totals = [], [], []
    for n in range(sizes.cold_starts):
        with lab.server(f"cold_start_{n}") as server:
            seconds, reply = lab.click(server, "remove", ids,
                                       {"context": "ASSET", "asset_ids": [ids.asset_ids[n]]})
            lab.accepted(reply)
            listens.append(server.listening - server.spawned)
            firsts.append(seconds)
            totals.append(server.listening - server.spawned + seconds)
    result.add(
        Figure("python start + import main (median)", statistics.median(processes), "s",
               target=IMPORT_TARGET),
        Figure("import main alone (median)", statistics.median(imports), "s",
               target=IMPORT_TARGET),
        Figure("server start to listening (median)", statistics.median(listens), "s"),
        Figure("first click's answer (median)", statistics.median(firsts), "s",
               target=CLICK_TARGET),
        Figure("server start to first answer (median)", statistics.median(totals), "s",
               target=ICONIK_GIVES_UP, note="iconik gives up after about 10 s"),
    )
    result.details = {"import_seconds": imports, "process_seconds": processes,
                      "listening_seconds": listens, "first_answer_seconds": firsts}
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


Scenario = Callable[[Lab, Sizes], Result]

#: Every scenario, by the name ``--only`` takes, in the order they run.
SCENARIOS: dict[str, Scenario] = {
    "remove": remove_at_scale,
    "add": add_at_scale,
    "remove_slow": remove_slow,
    "clicks": accepting_clicks,
    "cold_start": cold_start,
    "scaling": scaling,
    "big_remove": big_remove,
    "audit": audit_scenario,
}


def run(lab: Lab, name: str, sizes: Sizes) -> Result:
    """Run one scenario; a failure becomes the result's error instead of stopping the bench."""
    started, load = time.monotonic(), _load()
    try:
        result = SCENARIOS[name](lab, sizes)
    except Exception as error:  # a failed scenario is reported, and the others still run
        result = Result(name, name.replace("_", " "), error=f"{type(error).__name__}: {error}")
    result.details["bench_seconds"] = round(time.monotonic() - started, 1)
    result.details["load_average"] = {"before": load, "after": _load()}
    return result
