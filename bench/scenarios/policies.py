"""The scenario of issue 15: an automation's burst of single-asset Removes, people's clicks
mixed in, gathered by the plugin into one job per window."""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from bench.figures import Figure, Result
from bench.lab import TERMINAL, Calls, Lab, epoch
from bench.processes import PluginServer
from bench.scenarios.common import (
    CLICK_TARGET,
    DELETE,
    FILE_SETS,
    HANDFUL,
    ICONIK_GIVES_UP,
    JOB,
    READS,
    REMOVE_TARGET,
    Sizes,
    rank,
    timeout_for,
)
from iconik_sandbox import SeedResult

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
        Figure(f"{what}: answer time p50", rank(seconds, 0.50), "s", target=CLICK_TARGET),
        Figure(f"{what}: answer time p99", rank(seconds, 0.99), "s", target=CLICK_TARGET),
        Figure(f"{what}: answer time, slowest", max(seconds), "s", target=ICONIK_GIVES_UP,
               note="iconik gives up after about 10 s"),
    ]


def _endings(calls: Calls) -> Counter[str]:
    """How many PATCHes iconik served that set each job to an ending status, by job id."""
    return Counter(r.path.split("/")[-2] for r in calls.records
                   if r.method == "PATCH" and r.status < 400 and JOB.search(r.path)
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
        ended = lab.wait_for_jobs(job_ids, timeout_for(5 * len(assets), rps) + 2 * gather + 30)
        time.sleep(2)  # the sandbox logs the ending PATCH a moment after the job changed
    calls, made = lab.calls(), lab.custom_jobs()
    endings = _endings(calls)
    clicks_jobs = {s.job_id for s in click_sent}
    top = [j for j in made if not j["parent_id"]]
    batches = [j for j in top if j["id"] not in clicks_jobs]
    ll_after = lab.active_sets(assets, ids.ll_storage_id)
    b2_intact = lab.complete_sets(assets, ids.b2_storage_id) == b2_before
    deletes = Counter(r.path for r in calls.records if r.method == "DELETE"
                      and r.status != 429 and DELETE.search(r.path))
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
    reads = [r.wall for r in calls.records if r.method == "GET" and FILE_SETS.search(r.path)
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
            "last_delete": calls.last("DELETE", DELETE, first),
        },
    }
    return result


def _spread(values: list[float]) -> dict[str, float]:
    """A long list of times in brief: its percentiles."""
    if not values:
        return {}
    return {f"p{q * 100:g}": round(rank(values, q), 4) for q in (0.5, 0.9, 0.99, 0.999, 1.0)}


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
        elif r.method == "GET" and READS.search(r.path):
            row["asset_reads"] += 1
        elif r.method == "DELETE" and DELETE.search(r.path):
            row["deletes"] += 1
        else:
            row["other"] += 1
    return out


