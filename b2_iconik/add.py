"""Add to LucidLink: ask iconik to copy each format of the selected assets from B2.

One bulk copy per format per 500 assets, with the B2 storage as the preferred source, so that
Add copies exactly the assets Remove would later check (both expand the selection the same
way). Then the step follows the copy jobs iconik created until they end, so the plugin's job
says whether the copies really happened.
"""

from __future__ import annotations

import logging

from b2_iconik import jobs
from b2_iconik.errors import IconikError, is_transient
from b2_iconik.iconik import BULK_LIMIT, IconikClient
from b2_iconik.steps import WATCH, CopyRequest, Step

log = logging.getLogger(__name__)

SUCCEEDED = frozenset({"FINISHED", "SKIPPED"})
#: Ended, but maybe not for every asset: the failed child transfers say which.
PARTLY = frozenset({"FINISHED_WITH_WARNING", "FAILED", "ABORTED"})
MAX_WATCH_SECONDS = 300.0


def run(client: IconikClient, step: Step, now: float, recheck_seconds: float) -> Step | None:
    """Request the next batch's copies, or follow the copy jobs; return the next step or None."""
    if step.stage == WATCH:
        return _watch(client, step, now, recheck_seconds)
    batch, rest = step.remaining[:BULK_LIMIT], step.remaining[BULK_LIMIT:]
    copies, failures = list(step.copies), list(step.failures)
    for format_name in step.options.formats:
        if step.options.dry_run:
            continue
        try:
            job_id = client.bulk_copy(
                step.options.ll_storage_id,
                list(batch),
                format_name,
                source_id=step.options.b2_storage_id,
            )
        except IconikError as error:
            if is_transient(error):
                raise  # the whole step is retried; iconik ignores duplicate copy requests
            failures.extend((a, f"{format_name}: copy refused: {error}") for a in batch)
            continue
        log.info(
            "requested a copy to LucidLink of %s for %d assets (job %s)",
            format_name,
            len(batch),
            job_id or "unknown",
        )
        if job_id:
            copies.append(CopyRequest(job_id, format_name, tuple(batch)))
    step = step.next(remaining=rest, copies=tuple(copies), failures=tuple(failures))
    verb = "Checked" if step.options.dry_run else "Requested copies of"
    handled = step.total - len(rest)
    jobs.progress(
        client,
        step.job_id,
        handled,
        step.total,
        f"{verb} {handled} of {jobs.assets_phrase(step.total)}",
    )
    if rest:
        return step
    if copies:
        return step.next(stage=WATCH, not_before=now + recheck_seconds)
    _finish(client, step)
    return None


def _watch(client: IconikClient, step: Step, now: float, recheck_seconds: float) -> Step | None:
    """Check each copy job once; keep following the running ones until the wait limit."""
    running, failures = [], list(step.failures)
    for copy in step.copies:
        job = client.get_job(copy.job_id)
        status = (job or {}).get("status")
        if status in SUCCEEDED:
            continue
        if job is None or status in PARTLY:
            failures.extend(_failed_assets(client, copy, job))
        elif now >= step.deadline:
            reason = f"{copy.format_name}: copy job {copy.job_id} still {status} after the wait"
            failures.extend((a, reason) for a in copy.asset_ids)
        else:
            running.append(copy)
    step = step.next(copies=tuple(running), failures=tuple(failures))
    if running:
        delay = min(recheck_seconds * 2 ** (step.round + 1), MAX_WATCH_SECONDS)
        delay = max(0.0, min(delay, step.deadline - now))
        jobs.progress(
            client,
            step.job_id,
            step.total,
            step.total,
            f"Waiting for {len(running)} iconik copy job(s) to finish",
        )
        return step.next(round=step.round + 1, not_before=now + delay)
    _finish(client, step)
    return None


def _failed_assets(
    client: IconikClient, copy: CopyRequest, job: dict[str, object] | None
) -> list[tuple[str, str]]:
    """Which assets of an ended copy job failed, and why.

    iconik runs a bulk copy as one child transfer per asset; the failed children name their
    asset. When they cannot be read (or name none of ours) every asset of the copy is reported:
    better a false alarm than a missed one.
    """
    if job is None:
        return [(a, f"{copy.format_name}: iconik copy job {copy.job_id} not found")
                for a in copy.asset_ids]
    failed: list[tuple[str, str]] = []
    try:
        for child in client.child_jobs(copy.job_id):
            asset = str(child.get("object_id") or "")
            if asset in copy.asset_ids and child.get("status") in ("FAILED", "ABORTED"):
                why = child.get("error_message") or child.get("message") or child.get("status")
                failed.append((asset, f"{copy.format_name}: copy failed: {why}"))
    except IconikError as error:
        log.warning("could not list the transfers of copy job %s: %s", copy.job_id, error)
    if failed:
        return failed
    why = job.get("error_message") or job.get("message") or job.get("status")
    return [(a, f"{copy.format_name}: iconik copy job {copy.job_id} {why}")
            for a in copy.asset_ids]


def _finish(client: IconikClient, step: Step) -> None:
    formats = ", ".join(step.options.formats)
    failed_assets = {a for a, _ in step.failures}
    copied = step.total - len(failed_assets)
    if step.options.dry_run:
        summary = (
            f"Dry run, nothing changed: would copy {jobs.assets_phrase(step.total)} "
            f"({formats}) from B2 to LucidLink."
        )
    else:
        summary = (
            f"Copied {copied} of {jobs.assets_phrase(step.total)} ({formats}) from B2 to LucidLink."
        )
    jobs.finish(client, step.job_id, step.total, summary, step.failures, step.options.dry_run)
