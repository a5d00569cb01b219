"""The bench's laboratory: the simulated iconik, the plugin as a real server, clicks, and what
iconik saw.

iconik is the sandbox, in a process of its own (:mod:`bench.simulated`); the plugin runs in
another, exactly as ``functions-framework`` runs it on Cloud Functions (:mod:`bench.processes`);
the bench clicks and watches from a third. Every wait here is bounded in time.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from bench.processes import BenchError, PluginServer
from bench.simulated import SimulatedIconik
from iconik_sandbox import Catalogue, RecordedRequest, SeedResult

SECRET = "bench-shared-secret-0123456789abcdef"
TERMINAL = frozenset({"FINISHED", "FAILED", "FINISHED_WITH_WARNING", "ABORTED", "SKIPPED"})
FORMATS = ("ORIGINAL", "PPRO_PROXY")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: The three reads the safety rule needs per asset (Remove's floor counts them).
_READS = re.compile(r"^/API/files/v1/assets/[^/]+/(formats|file_sets|files)/$")


@dataclass(frozen=True)
class Knobs:
    """What a bench run is set to (``python -m bench --help`` names each).

    Attributes:
        latency: seconds the sandbox adds to every request.
        rps: the sandbox's rate limit: requests served in any one second before it answers 429.
        slow_latency: the latency of the "Remove at high latency" scenario.
        max_rps: the plugin's ``ICONIK_MAX_RPS``; None leaves the plugin's default.
        click_interval: seconds between the starts of two waves of clicks.
        quick: small sizes (``make bench-quick``).
    """

    latency: float = 0.02
    rps: float = 50.0
    slow_latency: float = 0.1
    max_rps: float | None = None
    click_interval: float = 1.0
    quick: bool = False


@dataclass
class Calls:
    """What the plugin asked of iconik during a scenario (the sandbox's records)."""

    records: list[RecordedRequest]

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def throttled(self) -> int:
        """Answers 429 (the plugin went past the rate limit)."""
        return sum(1 for r in self.records if r.status == 429)

    def served(self, method: str, path: re.Pattern[str]) -> int:
        """Requests of this method and path that iconik served (not refused with 429)."""
        return sum(1 for r in self.records
                   if r.method == method and r.status != 429 and path.search(r.path))

    @property
    def reads(self) -> int:
        """The per-asset reads of the safety rule: formats, file sets and files listings."""
        return self.served("GET", _READS)

    def by_endpoint(self) -> dict[str, int]:
        """Requests per "METHOD /path/{id}/", the most frequent first (429s included)."""
        counts = Counter(f"{r.method} {_UUID.sub('{id}', r.path)}" for r in self.records)
        return dict(counts.most_common())

    def first(self, method: str, path: re.Pattern[str], since: float) -> float | None:
        """Seconds from ``since`` (epoch) to the first such request reaching iconik."""
        times = [r.wall for r in self.records if r.method == method and path.search(r.path)]
        return min(times) - since if times else None

    def last(self, method: str, path: re.Pattern[str], since: float) -> float | None:
        """Seconds from ``since`` (epoch) to the last such request reaching iconik."""
        times = [r.wall for r in self.records if r.method == method and path.search(r.path)]
        return max(times) - since if times else None

    def busiest_second(self) -> int:
        """The most requests that reached iconik within any one second."""
        times = sorted(r.time for r in self.records)
        best = start = 0
        for end, t in enumerate(times):
            while t - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best


def epoch(stamp: str | None) -> float:
    """An iconik ISO timestamp as epoch seconds (0 when absent)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else 0.0


class Lab:
    """The simulated iconik, and how to click and wait as iconik would. A context manager.

    Args:
        knobs: the run's settings.
        logs: a directory for the plugin's (and the emulator's) output.
    """

    def __init__(self, knobs: Knobs, logs: Path) -> None:
        self.knobs, self.logs = knobs, logs
        self.iconik = SimulatedIconik()

    def __enter__(self) -> Lab:
        self.iconik.__enter__()
        try:
            self.iconik.call("warm_up", FORMATS)
        except Exception:
            self.iconik.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.iconik.__exit__()

    # -- the catalogue and iconik's behaviour ---------------------------------------------------
    def reset(self, latency: float | None = None) -> None:
        """Empty the sandbox; set its latency (the knob's by default) and rate limit."""
        self.iconik.call("reset", latency=self.knobs.latency if latency is None else latency,
                         rate_limit_rps=self.knobs.rps)

    def seed(self, assets: int, on_ll: bool, duplicates: int | None = None) -> SeedResult:
        """Assets in nested collections (a tenth in two of them), on B2, and on LucidLink or not.

        Every B2 copy is complete and matches (the Remove safety rule verifies every one).
        """
        return self.iconik.seed(Catalogue(
            assets=assets,
            formats=FORMATS,
            collections_depth=3,
            collections_per_level=2,
            on_b2=1.0,
            on_ll=1.0 if on_ll else 0.0,
            duplicates=max(1, assets // 10) if duplicates is None else duplicates,
            b2_missing=0,
            b2_wrong_size=0,
            b2_bad_status=0,
            saved_searches=0,
        ))

    def forget_requests(self) -> None:
        self.iconik.call("forget_requests")

    def calls(self) -> Calls:
        return Calls(self.iconik.records())

    # -- the plugin -----------------------------------------------------------------------------
    def plugin_env(self, **extra: str) -> dict[str, str]:
        """The plugin's environment: iconik is the sandbox; the rest are the plugin's defaults."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "ICONIK_ID": self.iconik.app_id,
            "ICONIK_URL": self.iconik.url,
            "BZ_SHARED_SECRET": SECRET,
            "FORMAT_NAMES": ",".join(FORMATS),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        if self.knobs.max_rps is not None:
            env["ICONIK_MAX_RPS"] = f"{self.knobs.max_rps:g}"
        return env

    def server(self, name: str, port: int = 0, **extra: str) -> PluginServer:
        """A plugin server (not started), logging to ``<logs>/<name>.log``."""
        return PluginServer(self.plugin_env(**extra), self.logs / f"{name}.log", port)

    def click(self, server: PluginServer, operation: str, ids: SeedResult,
              selection: dict[str, Any], timeout: float = 30.0) -> tuple[float, requests.Response]:
        """POST a custom action as iconik does; returns (seconds to the answer, the answer)."""
        body = {
            "context": "BULK", "asset_ids": [], "collection_ids": [], "saved_search_ids": [],
            "user_id": "0c0c0c0c-0000-4000-8000-000000000000",
            "system_domain_id": "0d0d0d0d-0000-4000-8000-000000000000",
            "action_id": "0a0a0a0a-0000-4000-8000-000000000000",
            "date_created": "2026-11-24T10:00:00.000000",
            "auth_token": self.iconik.token, **selection,
        }
        url = (f"{server.url}/{operation}?b2_storage_id={ids.b2_storage_id}"
               f"&ll_storage_id={ids.ll_storage_id}")
        started = time.perf_counter()
        answer = requests.post(url, data=json.dumps(body), timeout=timeout, headers={
            "x-bz-secret": SECRET, "Content-Type": "application/json"})
        return time.perf_counter() - started, answer

    def automation(self, server: PluginServer, operation: str, ids: SeedResult,
                   selection: dict[str, Any], policy: str,
                   timeout: float = 30.0) -> tuple[float, requests.Response]:
        """POST as iconik's Automation engine may: the policy's own URL, no ``auth_token``
        (the plugin acts with its ``ICONIK_TOKEN``); returns (seconds to the answer, the answer).
        """
        body = {
            "context": "ASSET", "asset_ids": [], "collection_ids": [], "saved_search_ids": [],
            "user_id": None, "system_domain_id": "0d0d0d0d-0000-4000-8000-000000000000",
            "action_id": "0a0a0a0a-0000-4000-8000-000000000000",
            "date_created": "2026-12-02T10:00:00.000000", **selection,
        }
        url = (f"{server.url}/policies/{policy}/{operation}?b2_storage_id={ids.b2_storage_id}"
               f"&ll_storage_id={ids.ll_storage_id}")
        started = time.perf_counter()
        answer = requests.post(url, data=json.dumps(body), timeout=timeout, headers={
            "x-bz-secret": SECRET, "Content-Type": "application/json"})
        return time.perf_counter() - started, answer

    def application_token(self) -> str:
        """A new iconik token the sandbox accepts, for the plugin's ``ICONIK_TOKEN``."""
        token = "bench-app-token-" + secrets.token_hex(12)
        self.iconik.call("add_token", token)
        return token

    def custom_jobs(self) -> list[dict[str, Any]]:
        """Every job the plugin made, children included: id, parent_id, status, title,
        date_created, completed_at, and whether it is a gathered batch (``batch``)."""
        jobs: list[dict[str, Any]] = self.iconik.call("custom_jobs")
        return jobs

    def accepted(self, answer: requests.Response) -> str:
        """The job id of an accepted click.

        Raises:
            BenchError: the plugin did not accept it.
        """
        if answer.status_code != 200:
            raise BenchError(f"the plugin answered {answer.status_code}: {answer.text[:300]}")
        return str(answer.json()["job_id"])

    def wait_for_jobs(self, job_ids: list[str], timeout: float) -> list[dict[str, Any]]:
        """Poll the sandbox until every job has ended.

        Raises:
            BenchError: some job did not end in time.
        """
        deadline = time.monotonic() + timeout
        pending = list(dict.fromkeys(job_ids))
        while pending and time.monotonic() < deadline:
            statuses = self.iconik.call("statuses", pending)
            pending = [j for j, s in zip(pending, statuses, strict=True) if s not in TERMINAL]
            if pending:
                time.sleep(0.1)
        if pending:
            (job,) = self.iconik.call("jobs", pending[:1])
            raise BenchError(f"{len(pending)} job(s) did not end within {timeout:.0f} s; "
                             f"one is {job['status']}: {job.get('message')}")
        jobs: list[dict[str, Any]] = self.iconik.call("jobs", job_ids)
        return jobs

    # -- what is on the storages ----------------------------------------------------------------
    def active_sets(self, asset_ids: list[str], storage_id: str) -> int:
        """ACTIVE file sets of these assets on this storage."""
        return int(self.iconik.call("sets", asset_ids, storage_id, False))

    def complete_sets(self, asset_ids: list[str], storage_id: str) -> int:
        """ACTIVE file sets of these assets on this storage whose files are all CLOSED."""
        return int(self.iconik.call("sets", asset_ids, storage_id, True))

    def listing_pages(self, ids: SeedResult) -> int:
        """The collection pages a selection of the root collection needs at the sandbox's page
        size (each collection listed once, at least one page each): part of Add's floor."""
        return int(self.iconik.call("listing_pages", ids.collection_ids))

    def copies(self) -> list[dict[str, Any]]:
        """iconik's copy (TRANSFER) jobs."""
        jobs: list[dict[str, Any]] = self.iconik.call("transfer_jobs")
        return jobs
