"""Progress reporting as iconik jobs (DESIGN §5, Progress), shown in iconik's Jobs tab.

One job per accepted action, created before the answer so the user sees it at once. An action of
more than one chunk also gets one child job per chunk (``parent_id``), so the Jobs tab shows each
part moving; the action's job sums them up and ends exactly once, FINISHED or FAILED with a
message naming the assets not handled and why. Progress updates are best effort (a lost one is
only cosmetic); final statuses are not.

Each job's ``metadata`` also records, for the plugin itself, how far its work got (``seq_done``:
the last step whose effects are complete) and, once ended, its counts and first failures: that is
what a step delivered twice reads to know it has nothing left to do, and what the action's job is
summed from. An ended job also keeps its final message there (``ended``): iconik has no
conditional update, so a progress write from a slower step can land after the end, and whoever
wrote it puts the end's words back.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from b2_iconik.base.config import is_uuid
from b2_iconik.base.errors import IconikError
from b2_iconik.rules.payload import ActionOptions, CustomAction
from b2_iconik.rules.steps import NAMED

log = logging.getLogger(__name__)

CUSTOM_TYPE = "B2 LucidLink"
#: How many failed assets a message names before it says "and N more".
MAX_NAMED = NAMED
MAX_MESSAGE = 4000
TERMINAL = frozenset({"FINISHED", "FINISHED_WITH_WARNING", "FAILED", "ABORTED", "SKIPPED"})
#: ``metadata.part`` of the plugin's child jobs: a chunk of the work, a shard's listing record,
#: a ledger of gathered requests (:mod:`b2_iconik.engine.gathering`), assets the loop guard held
#: back.
CHUNK_PART, SHARD_PART, GATHERED_PART, HELD_PART = "chunk", "shard", "gathered", "held"
#: ``metadata.runner``: where an action's steps run (in-process work dies with its instance).
IN_PROCESS, CLOUD_TASKS = "in-process", "cloud-tasks"

Failures = tuple[tuple[str, str], ...]


class JobsApi(Protocol):
    """The iconik calls a job needs."""

    def create_job(self, job: dict[str, object]) -> str: ...

    def update_job(self, job_id: str, **fields: object) -> None: ...

    def get_job(self, job_id: str) -> dict[str, Any] | None: ...


def title(operation: str, what: str, dry_run: bool = False, source: str = "") -> str:
    """The job's title, e.g. "Remove 42 assets from LucidLink (automation: approved)"."""
    text = f"Add {what} to LucidLink" if operation == "add" else f"Remove {what} from LucidLink"
    text = f"{text} ({source})" if source else text
    return f"Dry run: {text}" if dry_run else text


def assets_phrase(count: int) -> str:
    """ "1 asset", "42 assets", "20,000 assets"."""
    return f"{count:,} asset{'' if count == 1 else 's'}"


def is_terminal(job: dict[str, Any] | None) -> bool:
    return bool(job) and (job or {}).get("status") in TERMINAL


def create(
    client: JobsApi,
    operation: str,
    selection: CustomAction,
    options: ActionOptions,
    shards: int = 1,
    runner: str = IN_PROCESS,
    source: str = "",
) -> str:
    """Create the job for a newly accepted action; returns its id.

    Args:
        source: who asked, when not a person's click (see :class:`b2_iconik.rules.steps.Step`).

    Raises:
        IconikError: iconik would not create it (the action is then refused).
    """
    job = _action_job(
        title(operation, selection.describe(), options.dry_run, source),
        "Looking up the selected assets",
        len(selection.asset_ids),
        {**_action_metadata(operation, options), "shards": shards, "runner": runner,
         **({"source": source} if source else {})},
    )
    target = _primary_object(selection)
    if target:
        job["object_type"], job["object_id"] = target
    return client.create_job(job)


def create_batch(
    client: JobsApi,
    operation: str,
    options: ActionOptions,
    source: str,
    metadata: dict[str, object],
    object_id: str,
    closes: str,
) -> str:
    """Create the job of a batch of gathered requests (:mod:`b2_iconik.engine.gathering`).

    Its ``object_id`` is not an iconik object: it names the batches of one operation, storages
    and hour, so that every instance can find the batch it should join.
    """
    job = _action_job(
        title(operation, "assets", options.dry_run, source),
        f"Gathering requests until {closes}",
        0,
        {**_action_metadata(operation, options), "shards": 1, **metadata},
    )
    job["object_id"] = object_id
    return client.create_job(job)


def _action_job(
    job_title: str, message: str, total: int, metadata: dict[str, object]
) -> dict[str, object]:
    """The body of an action's job (a click's, or a batch's), STARTED."""
    return {
        "title": job_title,
        "type": "CUSTOM",
        "custom_type": CUSTOM_TYPE,
        "status": "STARTED",
        "message": message,
        "progress_processed": 0,
        "progress_total": total,
        "metadata": metadata,
    }


def _action_metadata(operation: str, options: ActionOptions) -> dict[str, object]:
    """What an action's job records of its request, for its steps and its tally."""
    return {
        "operation": operation,
        "b2_storage_id": options.b2_storage_id,
        "ll_storage_id": options.ll_storage_id,
        "formats": ",".join(options.formats),
        "dry_run": options.dry_run,
    }


def create_part(
    client: JobsApi,
    parent_id: str,
    operation: str,
    options: ActionOptions,
    label: str,
    metadata: dict[str, object],
    size: int,
) -> str:
    """Create a child job of the action's job for one part of its work; returns its id."""
    job: dict[str, object] = {
        "title": f"{title(operation, assets_phrase(size), options.dry_run)} ({label})",
        "type": "CUSTOM",
        "custom_type": CUSTOM_TYPE,
        "status": "STARTED",
        "parent_id": parent_id,
        "message": "Waiting to start",
        "progress_processed": 0,
        "progress_total": size,
        "metadata": {"operation": operation, **metadata},
    }
    return client.create_job(job)


def progress(
    client: JobsApi,
    job_id: str,
    processed: int,
    total: int,
    message: str,
) -> None:
    """Move a job's progress; a failure is logged, not raised (a lost one is cosmetic)."""
    fields: dict[str, object] = {
        "progress_processed": processed,
        "progress_total": total,
        "message": _clip(message),
    }
    try:
        client.update_job(job_id, **fields)
        _keep_end(client, job_id)
    except IconikError as error:
        log.warning("could not update the job's progress: %s", error)


def mark_done(client: JobsApi, job_id: str, seq: int) -> None:
    """Record step ``seq`` done (``metadata.seq_done``) and nothing else; failures are logged.

    A metadata-only write is harmless after the job's end, so it can follow the queueing of
    the step's successor (which may end the job at once).
    """
    try:
        client.update_job(job_id, metadata={"seq_done": seq})
    except IconikError as error:
        log.warning("could not record the step done: %s", error)


def _keep_end(client: JobsApi, job_id: str) -> None:
    """Put an ended job's final words back if the progress just written landed after them.

    Two parts of an action move its job at once: one writes progress while the other ends it.
    Whichever progress write lands last is followed by this check, so the end has the last word.
    """
    job = client.get_job(job_id)
    if job is None or not is_terminal(job):
        return
    ended = (job.get("metadata") or {}).get("ended")
    if isinstance(ended, dict) and any(job.get(k) != v for k, v in ended.items()):
        log.info("a progress update landed after job %s ended: putting its end back", job_id)
        client.update_job(job_id, **ended)


def record(client: JobsApi, job_id: str, **fields: object) -> None:
    """Write fields the plugin relies on (a marker, a title): failures are raised.

    Raises:
        IconikError: after the client's retries.
    """
    client.update_job(job_id, **fields)


def finish(
    client: JobsApi,
    job_id: str,
    total: int,
    summary: str,
    failures: Failures,
    dry_run: bool = False,
    failed_count: int | None = None,
    metadata: dict[str, object] | None = None,
) -> None:
    """End a job: FINISHED when nothing failed, else FAILED naming the failed assets.

    A dry run did what it was asked (report) and ends FINISHED, listing what it would keep.

    Args:
        failures: the failed assets to name (at most MAX_NAMED are, by title and id).
        failed_count: how many failed in all, when ``failures`` names only some.
        metadata: merged into the job's metadata in the same call.

    Raises:
        IconikError: the final status could not be written (after the client's retries).
    """
    count = len(failures) if failed_count is None else failed_count
    named = _titled(client, failures[:MAX_NAMED])
    if dry_run and count:
        summary = f"{summary} {failure_text(named, count, 'Would not remove')}"
        count = 0
    detail = failure_text(named, count) if count else ""
    final = {
        "message": _clip(f"{summary} {detail}" if detail else summary),
        "progress_processed": total,
        "progress_total": total,
    }
    fields: dict[str, object] = {**final, "metadata": {**(metadata or {}), "ended": final}}
    if not count:
        client.update_job(job_id, status="FINISHED", **fields)
        log.info("job %s finished: %s", job_id, summary)
        return
    client.update_job(job_id, status="FAILED", error_message=_clip(detail), **fields)
    log.warning("job %s failed: %s %s", job_id, summary, detail)


def failure_text(failures: Failures, count: int | None = None, label: str = "Not handled") -> str:
    """ "Not handled (N): <asset>: <why>; ..." naming at most MAX_NAMED assets."""
    count = len(failures) if count is None else count
    named = "; ".join(f"{asset}: {why}" for asset, why in failures[:MAX_NAMED])
    more = count - min(len(failures), MAX_NAMED)
    tail = f"; and {more:,} more" if more > 0 else ""
    return f"{label} ({count:,}): {named}{tail}."


def _titled(client: JobsApi, failures: Failures) -> Failures:
    """Name the assets a message lists by title as well as id: people know clips by name.

    One read per named asset (at most MAX_NAMED), only when something failed, and best effort:
    an asset whose title cannot be read keeps its bare id.
    """
    get_asset = getattr(client, "get_asset", None)
    if get_asset is None:
        return failures
    titles: dict[str, str] = {}
    for asset_id, _ in failures:
        if len(titles) >= MAX_NAMED or asset_id in titles or not is_uuid(asset_id):
            continue
        try:
            asset = get_asset(asset_id) or {}
        except IconikError:
            asset = {}
        name = asset.get("title")
        titles[asset_id] = f"{name} ({asset_id})" if name else asset_id
    return tuple((titles.get(a, a), why) for a, why in failures)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _primary_object(selection: CustomAction) -> tuple[str, str] | None:
    if len(selection.asset_ids) == 1 and not selection.collection_ids:
        return "assets", selection.asset_ids[0]
    if len(selection.collection_ids) == 1 and not selection.asset_ids:
        return "collections", selection.collection_ids[0]
    return None
