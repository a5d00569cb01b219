"""Progress reporting as an iconik job (DESIGN §5, Progress), shown in iconik's Jobs tab.

One job per accepted action, created before the answer so the user sees it at once; progress
moves as assets are handled; it ends FINISHED, or FAILED with a message naming the assets not
handled and why. Progress updates are best effort (a lost one is only cosmetic), the final
status is not.
"""

from __future__ import annotations

import logging
from typing import Protocol

from b2_iconik.config import is_uuid
from b2_iconik.errors import IconikError
from b2_iconik.payload import ActionOptions, CustomAction

log = logging.getLogger(__name__)

CUSTOM_TYPE = "B2 LucidLink"
#: How many failed assets a final message names before it says "and N more".
MAX_NAMED = 20
MAX_MESSAGE = 4000


class JobsApi(Protocol):
    """The iconik calls a job needs."""

    def create_job(self, job: dict[str, object]) -> str: ...

    def update_job(self, job_id: str, **fields: object) -> None: ...


def title(operation: str, what: str, dry_run: bool = False) -> str:
    """The job's title, e.g. "Remove 42 assets from LucidLink"."""
    text = f"Add {what} to LucidLink" if operation == "add" else f"Remove {what} from LucidLink"
    return f"Dry run: {text}" if dry_run else text


def assets_phrase(count: int) -> str:
    """ "1 asset", "42 assets"."""
    return f"{count} asset{'' if count == 1 else 's'}"


def create(client: JobsApi, operation: str, selection: CustomAction, options: ActionOptions) -> str:
    """Create the job for a newly accepted action; returns its id.

    Raises:
        IconikError: iconik would not create it (the action is then refused).
    """
    job: dict[str, object] = {
        "title": title(operation, selection.describe(), options.dry_run),
        "type": "CUSTOM",
        "custom_type": CUSTOM_TYPE,
        "status": "STARTED",
        "message": "Looking up the selected assets",
        "progress_processed": 0,
        "progress_total": len(selection.asset_ids),
        "metadata": {
            "operation": operation,
            "b2_storage_id": options.b2_storage_id,
            "ll_storage_id": options.ll_storage_id,
            "formats": ",".join(options.formats),
            "dry_run": options.dry_run,
        },
    }
    target = _primary_object(selection)
    if target:
        job["object_type"], job["object_id"] = target
    return client.create_job(job)


def progress(client: JobsApi, job_id: str, processed: int, total: int, message: str) -> None:
    """Move the job's progress; a failure here is logged, not raised."""
    try:
        client.update_job(
            job_id, progress_processed=processed, progress_total=total, message=message
        )
    except IconikError as error:
        log.warning("could not update the job's progress: %s", error)


def retitle(client: JobsApi, job_id: str, text: str, total: int) -> None:
    """Name the real asset count once the selection is expanded (best effort)."""
    try:
        client.update_job(job_id, title=text, progress_total=total)
    except IconikError as error:
        log.warning("could not retitle the job: %s", error)


def finish(
    client: JobsApi,
    job_id: str,
    total: int,
    summary: str,
    failures: tuple[tuple[str, str], ...],
    dry_run: bool = False,
) -> None:
    """End the job: FINISHED when nothing failed, else FAILED naming each failed asset.

    A dry run did what it was asked (report) and ends FINISHED, listing what it would keep.

    Raises:
        IconikError: the final status could not be written (after the client's retries).
    """
    failures = _titled(client, failures)
    if dry_run and failures:
        summary = f"{summary} {failure_text(failures, 'Would not remove')}"
        failures = ()
    if not failures:
        client.update_job(
            job_id,
            status="FINISHED",
            progress_processed=total,
            progress_total=total,
            message=_clip(summary),
        )
        log.info("job finished: %s", summary)
        return
    detail = failure_text(failures)
    client.update_job(
        job_id,
        status="FAILED",
        progress_processed=total,
        progress_total=total,
        message=_clip(f"{summary} {detail}"),
        error_message=_clip(detail),
    )
    log.warning("job failed: %s %s", summary, detail)


def failure_text(failures: tuple[tuple[str, str], ...], label: str = "Not handled") -> str:
    """ "Not handled (N): <asset>: <why>; ..." naming at most MAX_NAMED assets."""
    named = "; ".join(f"{asset}: {why}" for asset, why in failures[:MAX_NAMED])
    more = len(failures) - MAX_NAMED
    tail = f"; and {more} more" if more > 0 else ""
    return f"{label} ({len(failures)}): {named}{tail}."


def _titled(client: JobsApi, failures: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
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
        title = asset.get("title")
        titles[asset_id] = f"{title} ({asset_id})" if title else asset_id
    return tuple((titles.get(a, a), why) for a, why in failures)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _primary_object(selection: CustomAction) -> tuple[str, str] | None:
    if len(selection.asset_ids) == 1 and not selection.collection_ids:
        return "assets", selection.asset_ids[0]
    if len(selection.collection_ids) == 1 and not selection.asset_ids:
        return "collections", selection.collection_ids[0]
    return None
