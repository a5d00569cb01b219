"""Many clicks at once: none lost, none doubled, and the server stays responsive and bounded.

``CLIENTS`` concurrent clients send ``ACTIONS`` clicks in all to one plugin server (the
function under functions-framework, steps in-process on its bounded pool) against the sandbox,
on 127.0.0.1 only. The run is bounded in count and time and stops by itself. Then:

* every click is answered 200 with a job id, and quickly (iconik gives up after about 10 s);
* every job ends, and exactly once: one PATCH to an ending status per job id in the
  sandbox's request log, one job created per click, no job created for nothing;
* the server's memory (RSS) and threads, sampled from /proc all along, stay within bounds;
* clicks sent while the work still runs are answered as quickly;
* the safety oracle saw no unverified LucidLink copy deleted, even with Add and Remove of
  the same assets racing each other.

``make test`` runs 300 clicks from 30 clients; ``B2_ICONIK_LONG=1`` runs 1,200 from 60. Timing
bounds are generous (a loaded 2-core machine must pass); the figures measured are printed with
the session's summary.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from iconik_sandbox import Sandbox, SeedResult
from tests import figures, leaks
from tests.scenarios.actions import LONG, TERMINAL, endings, plugin_jobs, seed
from tests.scenarios.servers import SECRET, free_port, serve_plugin

pytestmark = pytest.mark.e2e

#: The full size runs in ``make test`` (about 20 s here); B2_ICONIK_LONG=1 runs four times it.
ACTIONS, CLIENTS = (1200, 60) if LONG else (300, 30)
#: Users clicking (each its own iconik token, as iconik issues them).
USERS = 5
#: The answer must come well within iconik's ~10 s; generous for a loaded machine.
ANSWER_SECONDS = 8.0
#: The whole run (clicks and the work they start) must end within this.
RUN_SECONDS = 240.0 * ACTIONS / 300
#: Growth of the server's memory over the run that would mean something is kept per click.
RSS_GROWTH_MB = 150
WORKER_THREADS = 4
GUNICORN_THREADS = 8
MAX_RPS = 300


@pytest.fixture(scope="module")
def load_server(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A plugin server of its own, so its memory and threads reflect this run alone."""
    log_path = tmp_path_factory.mktemp("load") / "plugin.log"
    yield from serve_plugin(sandbox, log_path, free_port(), WORKER_THREADS=str(WORKER_THREADS),
                            THREADS=str(GUNICORN_THREADS), ICONIK_MAX_RPS=str(MAX_RPS))


def worker_pid(master: int) -> int:
    """The gunicorn worker that functions-framework forks (it runs the function)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # "pid (comm) state ppid ...": comm may hold spaces, so split after it.
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
            if ppid == master:
                return int(stat.parent.name)
        time.sleep(0.05)
    raise AssertionError("functions-framework started no worker")


def process_status(pid: int) -> tuple[int, int]:
    """(RSS in KiB, threads) of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


@dataclass
class Sampler:
    """Samples a process's RSS and threads every few milliseconds until stopped."""

    pid: int
    rss_kib: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.sample()

    def sample(self) -> None:
        rss, threads = process_status(self.pid)
        self.rss_kib.append(rss)
        self.threads.append(threads)


@dataclass
class Click:
    """One click sent and what came back."""

    status: int
    job_id: str | None
    seconds: float
    while_working: bool = False


def action_body(i: int, ids: SeedResult, pool: list[str], token: str) -> tuple[str, dict, str]:
    """The i-th click: Add or Remove (some dry runs) of a few assets or a collection.

    Windows of the pool overlap, so Add and Remove of the same assets race each other.
    """
    operation = "add" if i % 3 == 0 else "remove"
    query = "&dry_run=true" if operation == "remove" and i % 5 == 0 else ""
    body: dict[str, Any] = {"context": "BULK", "auth_token": token, "asset_ids": [],
                            "collection_ids": [], "saved_search_ids": []}
    if i % 7 == 0:
        body["context"] = "COLLECTION"
        body["collection_ids"] = [ids.collection_ids[i % len(ids.collection_ids)]]
        query += "&formats=ORIGINAL"
    else:
        start = (i * 7) % len(pool)
        body["asset_ids"] = (pool * 2)[start: start + 1 + i % 3]
    return operation, body, query


def send(session: requests.Session, server: dict, ids: SeedResult, operation: str,
         body: dict, query: str) -> Click:
    url = (f"{server['url']}/{operation}?b2_storage_id={ids.b2_storage_id}"
           f"&ll_storage_id={ids.ll_storage_id}{query}")
    started = time.monotonic()
    answer = session.post(url, json=body, headers={"x-bz-secret": SECRET}, timeout=30)
    seconds = time.monotonic() - started
    leaks.record(f"answer to POST /{operation} under load", answer.text)
    job_id = answer.json().get("job_id") if answer.status_code == 200 else None
    return Click(answer.status_code, job_id, seconds)


def unfinished(sb: Sandbox, job_ids: list[str]) -> list[str]:
    return [j for j in job_ids if sb.state.job(j)["status"] not in TERMINAL]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from /proc")
def test_many_concurrent_clicks_none_lost_none_doubled(sb: Sandbox, load_server: dict) -> None:
    ids = seed(sb, assets=60, on_ll=1.0, b2_missing=4, b2_wrong_size=2, b2_bad_status=0,
               duplicates=4)
    slow = ids.b2_missing[0]  # its copy to B2 never ends: a Remove of it waits its full time
    sb.faults.configure(copy_stays_open=[slow])
    pool = [a for a in ids.asset_ids if a != slow]
    tokens = [f"load-user-{n}-token-0123456789" for n in range(USERS)]
    for token in tokens:
        sb.add_token(sb.app_id, token)
    pid = worker_pid(load_server["pid"])
    deadline = time.monotonic() + RUN_SECONDS
    baseline_rss, baseline_threads = process_status(pid)

    def client(c: int) -> list[Click]:
        with requests.Session() as session:
            return [send(session, load_server, ids, *action_body(i, ids, pool, tokens[i % USERS]))
                    for i in range(c, ACTIONS, CLIENTS)]

    with Sampler(pid) as sampler:
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as clients:
            clicks = [click for done in clients.map(client, range(CLIENTS)) for click in done]
        burst_seconds = time.monotonic() - started

        # While the work goes on (the slow Remove keeps it going for REMOVE_WAIT_SECONDS at
        # least), a few more clicks must be answered as quickly.
        with requests.Session() as session:
            long_click = send(session, load_server, ids, "remove",
                              {"context": "ASSET", "asset_ids": [slow], "auth_token": tokens[0]},
                              "")
            probes = []
            for i in range(5):
                working = bool(unfinished(sb, [long_click.job_id or ""]))
                probe = send(session, load_server, ids,
                             *action_body(ACTIONS + i, ids, pool, tokens[i % USERS]))
                probe.while_working = working
                probes.append(probe)
        all_clicks = [*clicks, long_click, *probes]
        job_ids = [c.job_id for c in all_clicks if c.job_id]

        while unfinished(sb, job_ids) and time.monotonic() < deadline:
            time.sleep(0.1)
        work_seconds = time.monotonic() - started

    # Every click answered 200 with its own job, quickly.
    assert Counter(c.status for c in all_clicks) == {200: len(all_clicks)}
    assert len(set(job_ids)) == len(all_clicks), "two clicks were given the same job"
    latencies = sorted(c.seconds for c in all_clicks)
    assert latencies[-1] < ANSWER_SECONDS, latencies[-5:]
    assert any(p.while_working for p in probes)
    assert max(p.seconds for p in probes) < ANSWER_SECONDS

    # Every job ended, exactly once (a part's child job too, if the plugin makes them); one
    # job created per click, none for nothing.
    assert unfinished(sb, job_ids) == [], f"jobs still running after {RUN_SECONDS} s"
    jobs = plugin_jobs(sb)
    assert sorted(j["id"] for j in jobs if not j.get("parent_id")) == sorted(job_ids)
    ended = endings(sb)
    assert {j["id"]: ended[j["id"]] for j in jobs if ended[j["id"]] != 1} == {}
    assert [j["id"] for j in jobs if j["status"] not in TERMINAL] == []
    outcomes = Counter(sb.state.job(j)["status"] for j in job_ids)

    # Bounded resources: a bound far below one thread (or a few KiB) per click, so anything
    # kept per click would break it. And iconik's rate respected under load.
    peak_rss, peak_threads = max(sampler.rss_kib), max(sampler.threads)
    assert peak_rss - baseline_rss < RSS_GROWTH_MB * 1024
    assert peak_threads <= baseline_threads + GUNICORN_THREADS + WORKER_THREADS + 50
    max_rate = sb.requests.max_rate()
    assert max_rate <= MAX_RPS * 1.5

    figures.report(
        f"load: {len(all_clicks)} clicks ({ACTIONS} from {CLIENTS} clients, then a slow Remove "
        f"and {sum(p.while_working for p in probes)} clicks while it ran): all 200, "
        f"{len(job_ids)} jobs, each ended exactly once ({dict(outcomes)}); "
        f"burst {burst_seconds:.1f} s, all work {work_seconds:.1f} s; "
        f"answer median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms (during the work: max "
        f"{max(p.seconds for p in probes) * 1000:.0f} ms); RSS {baseline_rss // 1024} -> peak "
        f"{peak_rss // 1024} MiB; threads {baseline_threads} -> peak {peak_threads}; "
        f"{len(sb.requests)} iconik calls, at most {max_rate} in a second"
    )
