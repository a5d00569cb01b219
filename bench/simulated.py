"""The simulated iconik, in a process of its own, driven by the bench over a pipe.

iconik does not share a CPU with the people clicking: run on a thread of the bench, the sandbox
would compete for one interpreter lock with the bench's own clients (twenty clicks at once), and
iconik's count of each second would lag behind what was sent more than it does for real. So the
sandbox (:class:`iconik_sandbox.Sandbox`) runs in a child process, and the bench asks it, one
call at a time, for what it needs: reset, seed, job statuses, what is on the storages, and the
requests iconik received.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import requests

from iconik_sandbox import Catalogue, RecordedRequest, Sandbox, SeedResult

#: Seconds the bench waits for any one answer of the child (seeding 10,000 assets takes ~5 s).
CALL_TIMEOUT = 300.0


def _warm_up(sb: Sandbox, formats: tuple[str, ...]) -> None:
    """Have the sandbox answer each kind of call the plugin makes once, then forget them.

    Its first check of a body against iconik's spec loads and compiles the spec (a few tenths
    of a second), which iconik itself never makes anyone wait for: without this, the first
    scenario's first answers would carry the sandbox's start-up, not the plugin's.
    """
    ids = sb.seed(Catalogue(assets=1, formats=formats, on_ll=0.0, duplicates=0, b2_missing=0,
                            b2_wrong_size=0, b2_bad_status=0, saved_searches=0))
    api, session = sb.url + "/API", requests.Session()
    session.headers.update(sb.headers)
    job = session.post(f"{api}/jobs/v1/jobs/", timeout=30, json={
        "title": "warm-up", "type": "CUSTOM", "status": "STARTED"}).json()
    session.patch(f"{api}/jobs/v1/jobs/{job['id']}/", timeout=30,
                  json={"status": "FINISHED", "progress_processed": 1})
    session.post(f"{api}/files/v1/storages/{ids.ll_storage_id}/bulk/", timeout=30, json={
        "object_ids": ids.asset_ids, "object_type": "assets", "format_name": formats[0]})
    session.close()
    sb.reset()


def _reset(sb: Sandbox, faults: dict[str, Any]) -> None:
    """Empty the catalogue and the records, then set these faults (latency, rate limit)."""
    sb.reset()
    sb.faults.configure(**faults)


def _sets(sb: Sandbox, asset_ids: list[str], storage_id: str, complete: bool) -> int:
    """ACTIVE file sets of these assets on the storage (only those whose files are all CLOSED,
    when ``complete``)."""
    state, count = sb.state, 0
    for asset_id in asset_ids:
        for fs in state.file_sets_of(asset_id, storage_id=storage_id):
            if not complete:
                count += 1
                continue
            files = state.files_of(file_set_id=fs["id"])
            count += bool(files) and all(f["status"] == "CLOSED" for f in files)
    return count


def _listing_pages(sb: Sandbox, collection_ids: list[str]) -> int:
    """Pages needed to list these collections at the sandbox's page size (at least one each)."""
    per_page = sb.context.per_page_cap
    with sb.state.lock:
        return sum(max(1, -(-len(sb.state.contents.get(c, ())) // per_page))
                   for c in collection_ids)


def _custom_jobs(sb: Sandbox) -> list[dict[str, Any]]:
    """The jobs the plugin made (iconik's own copy jobs left out), in brief."""
    return [
        {"id": j["id"], "parent_id": j.get("parent_id"), "status": j["status"],
         "title": j.get("title"), "date_created": j.get("date_created"),
         "completed_at": j.get("completed_at"),
         "batch": bool((j.get("metadata") or {}).get("batch"))}
        for j in sb.state.jobs(type="CUSTOM")
    ]


def _operations(sb: Sandbox) -> dict[str, Callable[..., Any]]:
    """What the bench may ask of the child, by name."""
    state = sb.state
    return {
        "info": lambda: {"url": sb.url, "app_id": sb.app_id, "token": sb.token,
                         "copy_seconds": sb.copies.copy_seconds},
        "warm_up": lambda formats: _warm_up(sb, formats),
        "reset": lambda **faults: _reset(sb, faults),
        "add_token": lambda token: sb.add_token(sb.app_id, token),
        "custom_jobs": lambda: _custom_jobs(sb),
        "seed": lambda catalogue: sb.seed(catalogue),
        "jobs": lambda job_ids: [dict(state.job(j)) for j in job_ids],
        "statuses": lambda job_ids: [state.job(j)["status"] for j in job_ids],
        "transfer_jobs": lambda: [dict(j) for j in state.jobs(type="TRANSFER")],
        "sets": lambda asset_ids, storage_id, complete: _sets(sb, asset_ids, storage_id,
                                                              complete),
        "listing_pages": lambda collection_ids: _listing_pages(sb, collection_ids),
        "records": lambda: sb.requests.list(),
        "forget_requests": lambda: sb.requests.clear(),
    }


def _serve(conn: Connection) -> None:
    """The child: run a sandbox and answer calls until told to stop (or the pipe closes)."""
    with Sandbox() as sb:
        operations = _operations(sb)
        while True:
            try:
                name, args, kwargs = conn.recv()
            except EOFError:
                return
            if name == "stop":
                conn.send(("ok", None))
                return
            try:
                conn.send(("ok", operations[name](*args, **kwargs)))
            except Exception as error:  # the bench gets it back as its own error
                conn.send(("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))


class SimulatedIconik:
    """The bench's handle on the sandbox in its child process. A context manager."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True,
                                        name="simulated-iconik")
        self._child = child
        self._lock = threading.Lock()
        self.url = self.app_id = self.token = ""
        self.copy_seconds = 0.0

    def __enter__(self) -> SimulatedIconik:
        self._process.start()
        self._child.close()
        info = self.call("info")
        self.url, self.app_id, self.token = info["url"], info["app_id"], info["token"]
        self.copy_seconds = float(info["copy_seconds"])
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError, EOFError, RuntimeError):
            self.call("stop")
        self._process.join(timeout=15)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=15)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Ask the child; its errors come back as RuntimeError.

        Raises:
            RuntimeError: the child failed, or did not answer within CALL_TIMEOUT.
        """
        with self._lock:
            self._conn.send((name, args, kwargs))
            if not self._conn.poll(CALL_TIMEOUT):
                raise RuntimeError(f"the simulated iconik did not answer {name!r} in time")
            status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"the simulated iconik failed on {name!r}: {value}")
        return value

    # -- typed conveniences ----------------------------------------------------------------
    def seed(self, catalogue: Catalogue) -> SeedResult:
        result: SeedResult = self.call("seed", catalogue)
        return result

    def records(self) -> list[RecordedRequest]:
        records: list[RecordedRequest] = self.call("records")
        return records
