"""Add to LucidLink: ask iconik to copy each format of the selected assets from B2.

Each chunk holds at most 500 assets, iconik's bulk limit, so a chunk is one bulk copy per format,
with the B2 storage as the preferred source: Add copies exactly the assets Remove would later
check (both expand the selection the same way). Then the chunk follows the copy jobs iconik made
until they end, soon at first (a copy of a few assets takes a second) and less often as it lasts,
so the plugin's job says whether the copies really happened, and says so soon after they did.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from b2_iconik.base.errors import IconikError, is_transient
from b2_iconik.iconik.client import BULK_LIMIT, IconikClient
from b2_iconik.rules import jobs
from b2_iconik.rules.payload import ActionOptions
from b2_iconik.rules.steps import WATCH, CopyRequest, Round, Step, add_failures

log = logging.getLogger(__name__)

#: Assets per chunk: one bulk copy call per format.
CHUNK = BULK_LIMIT
SUCCEEDED = frozenset({"FINISHED", "SKIPPED"})
#: Ended, but maybe not for every asset: the failed child transfers say which.
PARTLY = frozenset({"FINISHED_WITH_WARNING", "FAILED", "ABORTED"})
#: The first look at the copy jobs, and how much longer each following pause is.
FIRST_WATCH_SECONDS = 0.5
WATCH_GROWTH = 1.5
MAX_WATCH_SECONDS = 300.0


def run(client: IconikClient, step: Step, now: float, recheck_seconds: float) -> Round:
    """Request the chunk's copies, or follow them; say what follows."""
    if step.phase == WATCH:
        return _watch(client, step, now, recheck_seconds)
    return _copy(client, step, now)


def _copy(client: IconikClient, step: Step, now: float) -> Round:
    """One bulk copy per format for the chunk's assets; then follow the copy jobs."""
    batch = list(step.remaining)
    copies, failures = list(step.copies), list[tuple[str, str]]()
    for format_name in () if step.options.dry_run else step.options.formats:
        try:
            job_id = client.bulk_copy(
                step.options.ll_storage_id, batch, format_name, source_id=step.options.b2_storage_id
            )
        except IconikError as error:
            if is_transient(error):
                raise  # the step is run again; iconik ignores copies already under way
            failures.extend((a, f"{format_name}: copy refused: {error}") for a in batch)
            continue
        log.info(
            "requested a copy to LucidLink of %s for %d assets (job %s)",
            format_name,
            len(batch),
            job_id or "unknown",
        )
        if job_id:
            copies.append(CopyRequest(job_id, format_name))
    state = replace(
        step,
        remaining=(),
        waiting=tuple(batch),
        copies=tuple(copies),
        failures=add_failures(step.failures, failures),
    )
    verb = "Checked" if step.options.dry_run else "Requested copies of"
    message = f"{verb} {jobs.assets_phrase(len(batch))}"
    if not copies:
        return Round(_settled(state), None, message)
    following = state.next(phase=WATCH, round=0, not_before=now + FIRST_WATCH_SECONDS)
    return Round(state, following, message)


def _watch(client: IconikClient, step: Step, now: float, recheck_seconds: float) -> Round:
    """Look at each copy job once; keep following the running ones until the wait limit."""
    running, failures = [], list[tuple[str, str]]()
    for copy in step.copies:
        job = client.get_job(copy.job_id)
        status = (job or {}).get("status")
        if status in SUCCEEDED:
            continue
        if job is None or status in PARTLY:
            failures.extend(_failed_assets(client, copy, job, step.waiting))
        elif now >= step.deadline:
            reason = f"{copy.format_name}: copy job {copy.job_id} still {status} after the wait"
            failures.extend((a, reason) for a in step.waiting)
        else:
            running.append(copy)
    state = replace(step, copies=tuple(running), failures=add_failures(step.failures, failures))
    if not running:
        return Round(_settled(state), None, "The copies have ended")
    delay = min(FIRST_WATCH_SECONDS * WATCH_GROWTH ** (state.round + 1), MAX_WATCH_SECONDS)
    delay = max(0.0, min(delay, state.deadline - now))
    message = f"Waiting for {len(running)} iconik copy job(s) to finish"
    return Round(state, state.next(round=state.round + 1, not_before=now + delay), message)


def _settled(step: Step) -> Step:
    """The chunk once no copy is running: every asset not failed was copied."""
    failed = step.failed_assets()
    copied = sum(1 for a in step.waiting if a not in failed)
    return replace(step, waiting=(), done=copied)


def _failed_assets(
    client: IconikClient, copy: CopyRequest, job: dict[str, object] | None, assets: tuple[str, ...]
) -> list[tuple[str, str]]:
    """Which assets of an ended copy job failed, and why.

    iconik runs a bulk copy as one child transfer per asset; the failed children name their
    asset. When they cannot be read for good (or name none of ours) every asset of the copy is
    reported: better a false alarm than a missed one. A passing failure (429, 5xx) is raised
    instead: the round runs again later, and reports what the transfers really say.
    """
    if job is None:
        return [(a, f"{copy.format_name}: iconik copy job {copy.job_id} not found") for a in assets]
    failed: list[tuple[str, str]] = []
    try:
        for child in client.child_jobs(copy.job_id):
            asset = str(child.get("object_id") or "")
            if asset in assets and child.get("status") in ("FAILED", "ABORTED"):
                why = child.get("error_message") or child.get("message") or child.get("status")
                failed.append((asset, f"{copy.format_name}: copy failed: {why}"))
    except IconikError as error:
        if is_transient(error):
            raise
        log.warning("could not list the transfers of copy job %s: %s", copy.job_id, error)
    if failed:
        return failed
    why = job.get("error_message") or job.get("message") or job.get("status")
    return [(a, f"{copy.format_name}: iconik copy job {copy.job_id} {why}") for a in assets]


def summary(options: ActionOptions, done: int, total: int) -> str:
    """The final words on an Add (of an action or one of its parts)."""
    formats = ", ".join(options.formats)
    if options.dry_run:
        return (
            f"Dry run, nothing changed: would copy {jobs.assets_phrase(total)} "
            f"({formats}) from B2 to LucidLink."
        )
    return f"Copied {done:,} of {jobs.assets_phrase(total)} ({formats}) from B2 to LucidLink."
