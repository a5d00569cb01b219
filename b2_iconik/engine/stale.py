"""Jobs an in-process run left behind: ended FAILED "interrupted", never left looking alive.

Without Cloud Tasks the steps live in the instance's memory, so a redeploy or a replaced instance
loses them with no step left to end the job. While it runs, an in-process action's job is
touched at least every third of ``INPROCESS_STALE_SECONDS`` (its steps update it; a heartbeat
covers steps waiting in the pool or for a re-check). The first step of every new in-process
action looks at the user's STARTED jobs of this plugin: one that ran in-process and has not been
touched for ``INPROCESS_STALE_SECONDS`` was interrupted, and is ended FAILED saying so (its parts
too). Jobs on Cloud Tasks are left to their own watchdog.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from b2_iconik.base.errors import IconikError
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.session import Json
from b2_iconik.rules import jobs

log = logging.getLogger(__name__)

INTERRUPTED = (
    "Interrupted: the plugin stopped while this ran (a redeploy, or its instance was replaced), "
    "so the work did not finish. Nothing unverified was removed: run the action again."
)


class Sweeper:
    """Sweeps at most once every third of the staleness per instance: a new instance (after a
    redeploy) sweeps at its first action, and a busy one does not list jobs for every click."""

    def __init__(self, stale_seconds: float) -> None:
        self.stale_seconds = stale_seconds
        self._last = float("-inf")
        self._lock = threading.Lock()

    def due(self, now: float) -> bool:
        with self._lock:
            if now - self._last < self.stale_seconds / 3:
                return False
            self._last = now
            return True


def sweep(client: IconikClient, current_job_id: str, stale_seconds: float, now: float) -> int:
    """End the user's interrupted in-process jobs; returns how many. Best effort: a failure here
    never stops the new action."""
    ended = 0
    try:
        for job in client.started_jobs():
            if job.get("id") != current_job_id and _interrupted(job, stale_seconds, now):
                _end(client, job)
                ended += 1
    except IconikError as error:
        log.warning("could not look for interrupted jobs: %s", error)
    return ended


def _interrupted(job: Json, stale_seconds: float, now: float) -> bool:
    meta = job.get("metadata") or {}
    return (
        job.get("custom_type") == jobs.CUSTOM_TYPE
        and not job.get("parent_id")
        and meta.get("runner") == jobs.IN_PROCESS
        and now - modified(job) > stale_seconds
    )


def _end(client: IconikClient, job: Json) -> None:
    job_id = str(job["id"])
    log.warning("job %s was interrupted (untouched since %s): ending it FAILED", job_id,
                job.get("date_modified"))
    for child in client.child_jobs(job_id):
        if not jobs.is_terminal(child):
            client.update_job(str(child["id"]), status="FAILED", message=INTERRUPTED,
                              error_message=INTERRUPTED)
    client.update_job(job_id, status="FAILED", message=INTERRUPTED, error_message=INTERRUPTED)


def modified(job: Json) -> float:
    """A job's ``date_modified`` as epoch seconds (0 when absent or unreadable)."""
    value = job.get("date_modified")
    if not isinstance(value, str):
        return 0.0
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
