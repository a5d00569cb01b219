"""Scenarios of the plugin's answers (issue 11): waves of clicks while earlier work runs, and a
cold start (importing ``main``, and a fresh server's first answer)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from bench.figures import Figure, Result
from bench.lab import Lab, epoch
from bench.processes import ROOT
from bench.scenarios.common import (
    CLICK_TARGET,
    HANDFUL,
    ICONIK_GIVES_UP,
    Sizes,
    rank,
    timeout_for,
)

#: ``import main`` (with the interpreter's start) stays under 0.5 s.
IMPORT_TARGET = 0.5


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
        jobs = lab.wait_for_jobs(job_ids, timeout_for(8 * len(assets), rps))
    calls = lab.calls()
    drained = max(epoch(j["completed_at"]) for j in jobs) - started if jobs else 0.0
    result.add(
        Figure("answer time p50", rank(answers, 0.50), "s", target=CLICK_TARGET),
        Figure("answer time p99", rank(answers, 0.99), "s", target=CLICK_TARGET),
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


