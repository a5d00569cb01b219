"""iconik's jobs: created, listed newest first, updated, and a copy job settled from its
children."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from iconik_sandbox.errors import NotFound
from iconik_sandbox.state.tables import USER_ID, Record, Tables, now_iso

TERMINAL_JOB_STATUSES = frozenset(
    {"FINISHED", "FINISHED_WITH_WARNING", "FAILED", "ABORTED", "SKIPPED"}
)
_JOB_READ_ONLY = (
    "id",
    "created_by",
    "date_created",
    "date_modified",
    "progress",
    "priority",
    "steps",
    "children_progress",
)


def job_progress(job: Mapping[str, Any]) -> int:
    """iconik's read-only ``progress`` percentage, from processed/total."""
    total, done = job.get("progress_total") or 0, job.get("progress_processed") or 0
    if total > 0:
        return max(0, min(100, int(100 * done / total)))
    return 100 if job.get("status") in ("FINISHED", "FINISHED_WITH_WARNING", "SKIPPED") else 0


class Jobs(Tables):
    """Jobs and their parent/child links."""

    # -- jobs ----------------------------------------------------------------------------------
    def create_job(self, body: Mapping[str, Any]) -> Record:
        """A job from a JobSchema body (read-only fields are ignored, as iconik does)."""
        with self.lock:
            stamp = now_iso()
            job: Record = {
                "action_context": None,
                "children_progress": {},
                "completed_at": None,
                "created_by": USER_ID,
                "custom_type": None,
                "error_message": None,
                "has_children": False,
                "job_context": None,
                "message": None,
                "metadata": {},
                "object_id": None,
                "object_type": None,
                "parent_id": None,
                "priority": 5,
                "progress_processed": 0,
                "progress_total": 0,
                "started_at": stamp,
                "steps": [],
            }
            job.update({k: copy.deepcopy(v) for k, v in body.items() if k not in _JOB_READ_ONLY})
            job.update(id=self.new_id(), date_created=stamp, date_modified=stamp)
            self._job_changed(job)
            self._jobs[job["id"]] = job
            parent = self._jobs.get(job.get("parent_id") or "")
            if parent is not None:
                parent["has_children"] = True
                self._children.setdefault(parent["id"], []).append(job["id"])
            return job

    def job(self, job_id: str) -> Record:
        """The job, or NotFound."""
        with self.lock:
            if job_id not in self._jobs:
                raise NotFound("Job does not exist")
            return self._jobs[job_id]

    def jobs(
        self,
        parent_id: str | None = None,
        status: str | None = None,
        type: str | None = None,
        object_id: str | None = None,
    ) -> list[Record]:
        """Jobs, newest first (as iconik's Jobs tab), filtered."""
        with self.lock:
            if parent_id is not None:
                candidates = [self._jobs[i] for i in reversed(self._children.get(parent_id, []))]
            else:
                candidates = list(reversed(self._jobs.values()))
            return [
                j
                for j in candidates
                if (parent_id is None or j.get("parent_id") == parent_id)
                and (status is None or j["status"] in status.split(","))
                and (type is None or j["type"] in type.split(","))
                and (object_id is None or j.get("object_id") == object_id)
            ]

    def update_job(
        self, job_id: str, body: Mapping[str, Any], merge_metadata: bool = False
    ) -> Record:
        """PATCH/PUT a job: the given fields replace the stored ones (``metadata`` is merged
        when ``merge_metadata``); ``progress`` is recomputed."""
        with self.lock:
            job = self.job(job_id)
            for key, value in body.items():
                if key in _JOB_READ_ONLY:
                    continue
                if key == "metadata" and merge_metadata and isinstance(value, Mapping):
                    job["metadata"] = {**(job.get("metadata") or {}), **value}
                else:
                    job[key] = copy.deepcopy(value)
            self._job_changed(job)
            return job

    def _job_changed(self, job: Record) -> None:
        job["date_modified"] = now_iso()
        if job.get("status") in TERMINAL_JOB_STATUSES and not job.get("completed_at"):
            job["completed_at"] = job["date_modified"]
        job["progress"] = job_progress(job)

    def settle_parent(self, parent_id: str) -> Record:
        """Derive a copy job's status from its children: STARTED while any runs; then
        SKIPPED (all skipped), FINISHED (none failed), FINISHED_WITH_WARNING (some failed) or
        FAILED (all failed), with the failures in ``error_message``."""
        with self.lock:
            parent = self._jobs[parent_id]
            children = [self._jobs[i] for i in self._children.get(parent_id, [])]
            done = [c for c in children if c["status"] in TERMINAL_JOB_STATUSES]
            failed = [c for c in done if c["status"] in ("FAILED", "ABORTED")]
            parent["children_progress"] = {
                c["id"]: {
                    "status": c["status"],
                    "progress_processed": c["progress_processed"],
                    "progress_total": c["progress_total"],
                }
                for c in children
            }
            update: Record = {"progress_processed": len(done), "progress_total": len(children)}
            if len(done) < len(children):
                update["status"] = "STARTED"
            elif children and all(c["status"] == "SKIPPED" for c in children):
                update["status"] = "SKIPPED"
                update["message"] = "Every file set was already on the storage"
            elif not failed:
                update["status"] = "FINISHED"
            else:
                update["status"] = (
                    "FAILED" if len(failed) == len(children) else ("FINISHED_WITH_WARNING")
                )
                update["error_message"] = "; ".join(c["error_message"] for c in failed)
            return self.update_job(parent_id, update)

