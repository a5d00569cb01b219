"""The EXPAND step: turn one shard of the selection into chunks, each a step of its own.

It lists the shard's assets (:mod:`b2_iconik.rules.selection`), cuts them into chunks of a few
hundred, and queues one CHUNK step per chunk, so chunks run in parallel and no step grows with the
selection. An action of one chunk reports into its own job; an action of several gives each chunk
a child job, created here before its step is queued. Last, it records on the action's job (or,
for a split selection, on a shard record) that the shard is expanded and into how many chunks:
until then the action cannot end.

Run twice, the step finds the child jobs it made the first time and reuses them, and the queue
refuses the chunk steps it queued then: nothing is doubled.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import QueueRefused
from b2_iconik.engine import tally
from b2_iconik.engine.runners import Queue
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.session import Json
from b2_iconik.rules import add, jobs, remove
from b2_iconik.rules.selection import expand
from b2_iconik.rules.steps import CHUNK, COPY, Step

log = logging.getLogger(__name__)


def chunk_size(operation: str) -> int:
    """Assets per chunk: one bulk copy for Add, a few hundred checks for Remove."""
    return add.CHUNK if operation == "add" else remove.CHUNK


def run(
    client: IconikClient, queue: Queue, step: Step, now: float, settings: Settings
) -> Step | None:
    """Expand the step's shard, queue its chunks, and record that it is expanded.

    Returns:
        the first round of the action's only chunk, for the caller to run at once (an action
        of one chunk is expanded and handled in one step: no second task, no write racing the
        end), or None.
    """
    assert step.selection is not None, "an EXPAND step carries its shard of the selection"
    assets = expand(client, step.selection, step.shard, step.shards)
    size = chunk_size(step.operation)
    chunks = [tuple(assets[i : i + size]) for i in range(0, len(assets), size)]
    log.info(
        "%s: %s selected (shard %d of %d), in %d chunk(s)",
        step.operation,
        jobs.assets_phrase(len(assets)),
        step.shard + 1,
        step.shards,
        len(chunks),
    )
    first = replace(
        step,
        kind=CHUNK,
        selection=None,
        phase=COPY if step.operation == "add" else "",
        deadline=0.0,  # set by the chunk's first round: its wait counts from when it starts
        round=0,
        attempt=0,
        not_before=0.0,
    )
    look_in = now + settings.remove_wait_seconds + settings.watchdog_seconds
    queue.enqueue(tally.watchdog(step, look_in))
    if step.shards == 1 and len(chunks) <= 1:
        return _one_chunk(client, queue, step, first, chunks, now)
    children = client.child_jobs(step.job_id)
    existing = _existing_parts(children, step.shard)
    for index, ids in enumerate(chunks):
        job_id = existing.get(index) or _create_part(client, step, index, len(chunks), len(ids))
        part = replace(first, chunk=index, unit_job_id=job_id, seq=0, remaining=ids,
                       total=len(ids))
        _queue_part(client, queue, part)
    _record_expanded(client, step, len(chunks), len(assets), children)
    tally.after_part(client, queue, step, now)
    return None


def done(client: IconikClient, step: Step) -> bool:
    """Whether this shard was already expanded (its record written and ended); for an action
    of one chunk, handled in the same step, whether that chunk's first round is done too.

    A shard record still STARTED was made by a run that stopped before ending it: the step is
    then not done, and running it again ends the record (nothing else of it is doubled).
    """
    if step.shards == 1:
        parent = client.get_job(step.job_id) or {}
        meta = parent.get("metadata") or {}
        if jobs.is_terminal(parent) or "chunks" not in meta:
            return jobs.is_terminal(parent)
        seq_done = meta.get("seq_done")
        needed = step.seq + 1 if int(meta["chunks"]) == 1 else step.seq
        return isinstance(seq_done, int) and seq_done >= needed
    return jobs.is_terminal(_shard_record(client.child_jobs(step.job_id), step.shard))


def _one_chunk(
    client: IconikClient,
    queue: Queue,
    step: Step,
    first: Step,
    chunks: list[tuple[str, ...]],
    now: float,
) -> Step | None:
    """An action of at most one chunk: it reports into the action's own job, and its first
    round runs in this same step (its mark, seq_done, is written by that round)."""
    total = len(chunks[0]) if chunks else 0
    jobs.record(
        client,
        step.job_id,
        title=jobs.title(
            step.operation, jobs.assets_phrase(total), step.options.dry_run, step.source
        ),
        progress_total=total,
        metadata={"chunks": len(chunks), "assets": total},
    )
    if not chunks:
        tally.finish_action(client, queue, step, tally.Outcome(0, 0, 0), now)
        return None
    return first.next(remaining=chunks[0], total=total, chunk=0)


def _queue_part(client: IconikClient, queue: Queue, part: Step) -> None:
    """Queue a chunk; one the queue refuses for good ends its part FAILED, naming why."""
    try:
        queue.enqueue(part)
    except QueueRefused as refused:
        log.error("the queue refused part %s: %s", part.unit, refused)
        reason = f"the queue refused this part: {refused}"
        failures = tuple((a, reason) for a in part.remaining)
        operation = add if part.operation == "add" else remove
        jobs.finish(
            client,
            part.unit_job_id,
            part.total,
            operation.summary(part.options, 0, part.total),
            failures[: jobs.MAX_NAMED],
            failed_count=part.total,
            metadata={"done": 0, "failed": part.total,
                      "failures": [list(f) for f in failures[: jobs.MAX_NAMED]]},
        )


def _existing_parts(children: list[Json], shard: int) -> dict[int, str]:
    """Chunk jobs of this shard already made (by an earlier run of this step), by index."""
    found: dict[int, str] = {}
    for child in children:
        info = child.get("metadata") or {}
        if info.get("part") == jobs.CHUNK_PART and int(info.get("shard") or 0) == shard:
            found.setdefault(int(info.get("chunk") or 0), str(child["id"]))
    return found


def _create_part(client: IconikClient, step: Step, index: int, count: int, size: int) -> str:
    label = f"part {index + 1} of {count}"
    if step.shards > 1:
        label = f"part {step.shard + 1}.{index + 1}"
    metadata: dict[str, object] = {
        "part": jobs.CHUNK_PART,
        "shard": step.shard,
        "chunk": index,
        "assets": size,
    }
    return jobs.create_part(
        client, step.job_id, step.operation, step.options, label, metadata, size
    )


def _record_expanded(
    client: IconikClient, step: Step, chunks: int, assets: int, children: list[Json]
) -> None:
    """Say the shard is expanded: on the action's job, or on a shard record of its own."""
    if step.shards == 1:
        jobs.record(
            client,
            step.job_id,
            title=jobs.title(
                step.operation, jobs.assets_phrase(assets), step.options.dry_run, step.source
            ),
            progress_total=assets,
            metadata={"chunks": chunks, "assets": assets, "seq_done": step.seq},
        )
        return
    existing = _shard_record(children, step.shard)
    if existing is not None and jobs.is_terminal(existing):
        return
    if existing is None:
        record = {"part": jobs.SHARD_PART, "shard": step.shard, "chunks": chunks,
                  "assets": assets}
        label = f"listing part {step.shard + 1} of {step.shards}"
        job_id = jobs.create_part(client, step.job_id, step.operation, step.options, label,
                                  record, 0)
    else:  # made by an earlier run of this step that stopped before ending it
        job_id = str(existing["id"])
    jobs.record(client, job_id, status="FINISHED", message=f"Listed {jobs.assets_phrase(assets)}")


def fail_shard(client: IconikClient, step: Step, reason: str) -> None:
    """Record a shard that could not be expanded, so the action can end, naming why."""
    record = {"part": jobs.SHARD_PART, "shard": step.shard, "chunks": 0, "assets": 0}
    label = f"listing part {step.shard + 1} of {step.shards}"
    job_id = jobs.create_part(client, step.job_id, step.operation, step.options, label, record, 0)
    jobs.record(client, job_id, status="FAILED", message=reason, error_message=reason)


def _shard_record(children: list[Json], shard: int) -> Json | None:
    for child in children:
        info = child.get("metadata") or {}
        if info.get("part") == jobs.SHARD_PART and int(info.get("shard") or 0) == shard:
            return child
    return None
