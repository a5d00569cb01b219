"""In-memory stand-ins for iconik and a queue, for the worker's and the tally's unit tests.

The end-to-end tests run the real thing (the sandbox over HTTP, the Cloud Tasks emulator); these
fakes keep unit tests about one rule at a time fast and exact.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from typing import Any

from b2_iconik.base.errors import IconikHTTPError
from b2_iconik.rules.steps import Step

Json = dict[str, Any]


class FakeIconik:
    """Jobs (with children and merged metadata), collections, tokens, and assets on LucidLink
    whose B2 copy is verified (enough for Remove's chunks to delete them)."""

    B2 = "b2000000-0000-4000-8000-000000000000"
    LL = "11000000-0000-4000-8000-000000000000"

    def __init__(self, contents: dict[str, list[Json]] | None = None) -> None:
        self.contents = contents or {}
        self.jobs: dict[str, Json] = {}
        self.updates: list[tuple[str, Json]] = []
        self.deleted: list[tuple[str, str]] = []
        self.token_expires: str | None = "2099-01-01T00:00:00+00:00"
        self.renewed: list[str] = []
        self.refuse_renewal = False
        self.token = "token"
        self.fail_updates_of: set[str] = set()
        self.user_of_token = "u1"
        self.token_checks = 0
        self.refuse_token = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __enter__(self) -> FakeIconik:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    # -- jobs ------------------------------------------------------------------------------
    def create_job(self, job: Json) -> str:
        with self._lock:
            job_id = f"job-{next(self._ids)}"
            self.jobs[job_id] = {"id": job_id, "metadata": {}, **copy.deepcopy(job),
                                 "date_modified": "2026-01-01T00:00:00+00:00"}
            return job_id

    def update_job(self, job_id: str, **fields: Any) -> None:
        if job_id in self.fail_updates_of:
            raise IconikHTTPError(503, ["down"], "PATCH", f"/jobs/{job_id}/")
        with self._lock:
            self.updates.append((job_id, copy.deepcopy(fields)))
            job = self.jobs.setdefault(job_id, {"id": job_id, "metadata": {}})
            for key, value in fields.items():
                if key == "metadata":
                    job["metadata"] = {**job.get("metadata", {}), **value}
                else:
                    job[key] = copy.deepcopy(value)

    def get_job(self, job_id: str) -> Json | None:
        with self._lock:
            return copy.deepcopy(self.jobs.get(job_id))

    def child_jobs(self, parent_id: str) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(j) for j in self.jobs.values() if j.get("parent_id") == parent_id]

    def jobs_about(self, object_id: str) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(j) for j in reversed(self.jobs.values())
                    if j.get("object_id") == object_id]

    def started_jobs(self) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(j) for j in self.jobs.values()
                    if j.get("status") == "STARTED" and j.get("type", "CUSTOM") == "CUSTOM"]

    def get_asset(self, asset_id: str) -> Json | None:
        return {"id": asset_id, "title": f"clip {asset_id}"}

    def statuses(self, job_id: str) -> list[str]:
        """Every status written on a job, in order."""
        return [f["status"] for j, f in self.updates if j == job_id and "status" in f]

    # -- selection -------------------------------------------------------------------------
    def collection_contents(self, collection_id: str) -> list[Json]:
        if collection_id not in self.contents:
            raise IconikHTTPError(404, ["Collection not found"], "GET", "/collections/x/")
        return self.contents[collection_id]

    def saved_search_results(self, search_id: str) -> list[Json]:
        return []

    # -- tokens ----------------------------------------------------------------------------
    def check_token(self) -> Json:
        self.token_checks += 1
        if self.refuse_token:
            raise IconikHTTPError(401, ["Token is invalid"], "GET", "/auth/token/")
        return {"token": self.token, "expires": self.token_expires, "user_id": self.user_of_token}

    def new_token(self) -> Json:
        if self.refuse_renewal:
            raise IconikHTTPError(403, ["Token creation is not allowed"], "POST", "/auth/token/")
        token = f"renewed-{len(self.renewed) + 1}"
        self.renewed.append(token)
        return {"token": token, "expires": "2099-01-01T00:00:00+00:00"}

    def use_token(self, token: str) -> None:
        self.token = token

    # -- files: every asset is on LucidLink with a verified copy on B2 ----------------------
    def asset_file_sets(self, asset: str) -> list[Json]:
        sets = [{"id": f"{asset}-b2", "storage_id": self.B2, "format_id": "f",
                 "status": "ACTIVE"}]
        if (asset, f"{asset}-ll") not in self.deleted:
            sets.append({"id": f"{asset}-ll", "storage_id": self.LL, "format_id": "f",
                         "status": "ACTIVE"})
        return sets

    def asset_formats(self, asset: str) -> list[Json]:
        return [{"id": "f", "name": "ORIGINAL", "status": "ACTIVE"}]

    def asset_files(self, asset: str) -> list[Json]:
        return [{"file_set_id": f"{asset}-ll", "size": 1, "status": "CLOSED"},
                {"file_set_id": f"{asset}-b2", "size": 1, "status": "CLOSED"}]

    def delete_file_set(self, asset: str, file_set: str) -> None:
        self.deleted.append((asset, file_set))

    def bulk_copy(self, *args: Any, **kwargs: Any) -> str:
        return "copy-job"


class FakeQueue:
    """A queue that records steps and takes each name once, as Cloud Tasks does; it raises
    ``error`` for the steps ``refuse`` picks (a queue refusing them)."""

    def __init__(self, refuse: Callable[[Step], bool] = lambda step: False,
                 error: Exception | None = None) -> None:
        self.steps: list[Step] = []
        self.names: set[str] = set()
        self.refused: list[str] = []
        self._refuse, self._error = refuse, error

    def enqueue(self, step: Step) -> bool:
        if self._error is not None and self._refuse(step):
            raise self._error
        if not self.claim(step.task_id()):
            self.refused.append(step.task_id())
            return False
        self.steps.append(step)
        return True

    def claim(self, name: str) -> bool:
        if name in self.names:
            return False
        self.names.add(name)
        return True

    def of_kind(self, kind: str) -> list[Step]:
        return [s for s in self.steps if s.kind == kind]
