"""The scenarios of issue 11 (with issue 8's Cloud Tasks comparison and issue 15's burst from an
automation), each returning its figures.

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
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from b2_iconik.iconik import BULK_LIMIT
from bench import queue
from bench.audit import audit_scenario
from bench.figures import Figure, Result
from bench.lab import FORMATS, ROOT, TERMINAL, BenchError, Calls, Lab, PluginServer, epoch
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
_JOB = re.compile(r"^/API/jobs/v1/jobs/[^/]+/$")
_READS = re.compile(r"^/API/files/v1/assets/[^/]+/(formats|file_sets|files)/$")


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
    #: The automation's burst: requests of one asset each, sent evenly over ``policy_seconds``
    #: by ``policy_clients`` clients; the plugin's GATHER_SECONDS; a person's click of
    #: ``policy_click_assets`` assets every ``policy_click_every`` seconds meanwhile.
    policy_requests: int = 10_000
    policy_seconds: float = 300.0
    policy_clients: int = 20
    policy_gather_seconds: float = 60.0
    policy_click_every: float = 10.0
    policy_click_assets: int = 3


FULL = Sizes(remove=2000, add=2000, slow_remove=2000, clicks=200, click_wave=20, cold_imports=5,
             cold_starts=3, scaling=(250, 1000, 4000), big=10_000)
QUICK = Sizes(remove=20, add=20, slow_remove=20, clicks=40, click_wave=20, cold_imports=1,
              cold_starts=1, scaling=(10, 20, 40), big=30, policy_requests=200,
              policy_seconds=20.0, policy_clients=20, policy_gather_seconds=4.0,
              policy_click_every=2.0, policy_click_assets=2)


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


# -- an automation's burst, clicks mixed in -----------------------------------------------------

#: The policy whose URL the automation's requests use.
POLICY = "remove-when-approved"
#: Batch jobs per window of GATHER_SECONDS the burst lasted: "about one a minute". A burst of n
#: windows that does not start on a window's edge touches n + 1 of them (6 for 5 minutes).
BATCHES_TARGET = 1.2


@dataclass
class Sent:
    """One request of the burst (or a click): when it left, how long its answer took, what."""

    wall: float
    seconds: float
    status: int
    job_id: str | None
    gathered: bool


def _send(lab: Lab, server: PluginServer, ids: SeedResult, due: float, click: bool,
          assets: list[str]) -> Sent:
    """Wait until ``due`` (epoch), then send one request (an automation's, or a click)."""
    time.sleep(max(0.0, due - time.time()))
    wall = time.time()
    try:
        if click:
            seconds, reply = lab.click(server, "remove", ids,
                                       {"context": "BULK", "asset_ids": assets})
        else:
            seconds, reply = lab.automation(server, "remove", ids,
                                            {"context": "ASSET", "asset_ids": assets}, POLICY)
    except requests.RequestException:
        return Sent(wall, time.time() - wall, 0, None, False)
    body: dict[str, Any] = {}
    if reply.status_code == 200:
        body = reply.json()
    return Sent(wall, seconds, reply.status_code,
                str(body["job_id"]) if "job_id" in body else None, bool(body.get("gathered")))


def _answers(sent: list[Sent], what: str) -> list[Figure]:
    seconds = [s.seconds for s in sent] or [0.0]
    return [
        Figure(f"{what}: answer time p50", _rank(seconds, 0.50), "s", target=CLICK_TARGET),
        Figure(f"{what}: answer time p99", _rank(seconds, 0.99), "s", target=CLICK_TARGET),
        Figure(f"{what}: answer time, slowest", max(seconds), "s", target=ICONIK_GIVES_UP,
               note="iconik gives up after about 10 s"),
    ]


def _endings(calls: Calls) -> Counter[str]:
    """How many PATCHes iconik served that set each job to an ending status, by job id."""
    return Counter(r.path.split("/")[-2] for r in calls.records
                   if r.method == "PATCH" and r.status < 400 and _JOB.search(r.path)
                   and isinstance(r.body, dict) and r.body.get("status") in TERMINAL)


def policies(lab: Lab, sizes: Sizes) -> Result:
    """(issue 15) An automation's burst of single-asset Removes, with people's clicks mixed in.

    ``policy_requests`` requests without a token, to the policy's own URL, leave at even
    intervals over ``policy_seconds`` from ``policy_clients`` clients (each sends the next one
    due once its answer came); a person clicks Remove on a few other assets, with their own
    token, every ``policy_click_every`` seconds. The plugin acts for the automation with its
    ``ICONIK_TOKEN`` and gathers its requests into one job per ``GATHER_SECONDS`` window.

    The floor is a Remove of the same assets in one click (every request's asset and every
    click's), started at the first request: it leaves out the burst's own length and the
    wait for the first window to close (up to GATHER_SECONDS and the 30-s grace), which the
    gathered work runs beside or after.
    """
    n, span, clients = sizes.policy_requests, sizes.policy_seconds, sizes.policy_clients
    gather, every, per_click = (sizes.policy_gather_seconds, sizes.policy_click_every,
                                sizes.policy_click_assets)
    clicks = max(1, math.ceil(span / every))
    result = Result("policies", f"{n:,} Removes from an automation in {span:g} s by {clients} "
                                f"clients, a click every {every:g} s")
    lab.reset()
    ids = lab.seed(n + clicks * per_click, on_ll=True, duplicates=0)
    assets = list(dict.fromkeys(ids.asset_ids))
    policy_assets, click_assets = assets[:n], assets[n:]
    ll_before = lab.active_sets(assets, ids.ll_storage_id)
    b2_before = lab.complete_sets(assets, ids.b2_storage_id)
    token = lab.application_token()
    rps = lab.knobs.rps
    with lab.server("policies", ICONIK_TOKEN=token, GATHER_SECONDS=f"{gather:g}") as server:
        lab.forget_requests()
        start = time.time() + 0.5  # every client ready before the first request is due
        with ThreadPoolExecutor(max_workers=clients) as pool, \
                ThreadPoolExecutor(max_workers=1) as person:
            clicked = [person.submit(_send, lab, server, ids, start + k * every, True,
                                     click_assets[k * per_click : (k + 1) * per_click])
                       for k in range(clicks)]
            burst = [pool.submit(_send, lab, server, ids, start + i * span / n, False, [a])
                     for i, a in enumerate(policy_assets)]
            policy_sent = [f.result() for f in burst]
            click_sent = [f.result() for f in clicked]
        first = min(s.wall for s in policy_sent + click_sent)
        burst_seconds = max(s.wall for s in policy_sent) - min(s.wall for s in policy_sent)
        job_ids = list(dict.fromkeys(s.job_id for s in policy_sent + click_sent if s.job_id))
        ended = lab.wait_for_jobs(job_ids, _timeout(5 * len(assets), rps) + 2 * gather + 30)
        time.sleep(2)  # the sandbox logs the ending PATCH a moment after the job changed
    calls, made = lab.calls(), lab.custom_jobs()
    endings = _endings(calls)
    clicks_jobs = {s.job_id for s in click_sent}
    top = [j for j in made if not j["parent_id"]]
    batches = [j for j in top if j["id"] not in clicks_jobs]
    ll_after = lab.active_sets(assets, ids.ll_storage_id)
    b2_intact = lab.complete_sets(assets, ids.b2_storage_id) == b2_before
    deletes = Counter(r.path for r in calls.records if r.method == "DELETE"
                      and r.status != 429 and _DELETE.search(r.path))
    deleted = ll_before - ll_after
    last_end = max(epoch(j["completed_at"]) for j in ended)
    last_batch = max((epoch(j["completed_at"]) for j in batches), default=last_end)
    floor = (3 * len(assets) + deleted) / rps
    windows = int(max(s.wall for s in policy_sent) // gather
                  - min(s.wall for s in policy_sent) // gather) + 1
    per_window = math.ceil(round(burst_seconds, 3) / gather) or 1
    unit = "minute" if gather == 60 else f"{gather:g} s"
    all_200 = (all(s.status == 200 and s.gathered for s in policy_sent)
               and all(s.status == 200 and not s.gathered for s in click_sent))
    wanted = set(policy_assets)
    reads = [r.wall for r in calls.records if r.method == "GET" and _FILE_SETS.search(r.path)
             and r.path.split("/")[-3] in wanted]
    first_read = min(reads) - first if reads else None
    result.add(
        *_answers(policy_sent, "automation"),
        *_answers(click_sent, "clicks"),
        Figure("every request answered 200 (the automation's gathered, clicks not)", all_200,
               target=True),
        Figure(f"batch jobs per {unit} of burst", len(batches) / per_window, "",
               target=BATCHES_TARGET,
               note=f"{len(batches)} batch jobs ÷ ceil({burst_seconds:.0f} s ÷ {gather:g} s)"),
        Figure("batch jobs", len(batches), "", target=windows,
               note=f"one per {gather:g}-s window the burst touched"),
        Figure("every asset removed from LucidLink, B2 intact",
               ll_after == 0 and b2_intact, target=True),
        Figure("each LucidLink file set deleted once",
               len(deletes) == ll_before and all(c == 1 for c in deletes.values()), target=True,
               note=f"{sum(deletes.values()):,} DELETEs for {ll_before:,} file sets"),
        Figure("every job FINISHED and ended once",
               all(j["status"] == "FINISHED" for j in made)
               and all(endings[j["id"]] == 1 for j in top)
               and all(endings[j["id"]] <= 1 for j in made), target=True,
               note=f"{len(batches)} batches, {len(clicks_jobs)} clicks, "
                    f"{len(made) - len(top)} parts"),
        Figure("wall time, first request to last batch's end", last_batch - first, "s",
               floor=floor, target=REMOVE_TARGET,
               note=f"one click of the same assets: (3 reads x {len(assets):,} assets + "
                    f"{deleted:,} deletes) ÷ {rps:g}/s"),
        Figure("first batch's work started, from the first request", first_read or 0.0, "s",
               note=f"its window's end + {min(30.0, max(0.5, gather / 2)):g} s of grace"),
        Figure("429s received", calls.throttled, "", target=HANDFUL),
        Figure("most requests in any second", calls.busiest_second(), "", target=rps),
    )
    result.details = {
        "requests": len(policy_sent),
        "clicks": len(click_sent),
        "assets": len(assets),
        "gather_seconds": gather,
        "burst_seconds": burst_seconds,
        "windows_touched": windows,
        "lucidlink_file_sets_deleted": deleted,
        "delete_calls": sum(deletes.values()),
        "wall_seconds": last_batch - first,
        "last_job_end_seconds": last_end - first,
        "floor_seconds": floor,
        "answer_statuses": dict(Counter(s.status for s in policy_sent + click_sent)),
        "automation_answers_seconds": _spread([s.seconds for s in policy_sent]),
        "click_answers_seconds": [round(s.seconds, 4) for s in click_sent],
        "batches": [{"id": j["id"], "title": j["title"], "status": j["status"],
                     "created": j["date_created"], "ended_seconds":
                     epoch(j["completed_at"]) - first if j["completed_at"] else None,
                     "ended": endings[j["id"]]} for j in batches],
        "jobs": len(made),
        "calls": calls.total,
        "calls_by_endpoint": calls.by_endpoint(),
        "calls_per_minute": _minutes(calls, first),
        "timeline_seconds": {
            "first_batch_asset_read": first_read,
            "last_request": max(s.wall for s in policy_sent) - first,
            "last_delete": calls.last("DELETE", _DELETE, first),
        },
    }
    return result


def _spread(values: list[float]) -> dict[str, float]:
    """A long list of times in brief: its percentiles."""
    if not values:
        return {}
    return {f"p{q * 100:g}": round(_rank(values, q), 4) for q in (0.5, 0.9, 0.99, 0.999, 1.0)}


def _minutes(calls: Calls, since: float) -> list[dict[str, int]]:
    """What reached iconik in each minute from ``since``: the gathering's ledger writes (a job's
    ``asset_ids`` rewritten), the safety rule's reads and deletes, anything else, and 429s."""
    out: list[dict[str, int]] = []
    for r in calls.records:
        minute = max(0, int((r.wall - since) // 60))
        while len(out) <= minute:
            out.append({"ledger_writes": 0, "asset_reads": 0, "deletes": 0, "other": 0,
                        "throttled": 0})
        row = out[minute]
        if r.status == 429:
            row["throttled"] += 1
        elif (r.method == "PATCH" and isinstance(r.body, dict)
              and "asset_ids" in (r.body.get("metadata") or {})):
            row["ledger_writes"] += 1
        elif r.method == "GET" and _READS.search(r.path):
            row["asset_reads"] += 1
        elif r.method == "DELETE" and _DELETE.search(r.path):
            row["deletes"] += 1
        else:
            row["other"] += 1
    return out


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
    "policies": policies,
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
