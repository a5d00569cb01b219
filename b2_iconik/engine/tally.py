"""Summing an action's parts up, and ending the action's job exactly once.

An action of several chunks gives each chunk a child job; when a chunk ends, it reads the parent
and its children and either moves the parent's progress or, when every part has ended, ends the
parent. Several chunks may end at the same moment and each see "all done": the one whose END step
the queue accepts first (a named task, so the queue itself decides) writes the end; the others
stop. The END step is scheduled a minute later as a safety net: it carries the outcome and writes
it if the writer died in between. A late duplicate finds the parent ended and does nothing.

A WATCHDOG step per action looks in after the wait limit: an action whose parts have all stopped
moving (a step lost for good) ends FAILED, naming what did not finish, instead of looking alive
forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from b2_iconik.engine.runners import Queue
from b2_iconik.engine.stale import modified
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.session import Json
from b2_iconik.rules import add, jobs, remove
from b2_iconik.rules.steps import END, WATCHDOG, Step

log = logging.getLogger(__name__)

#: How long after the end is written its safety net looks again.
END_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class Outcome:
    """An action's result: how many assets, how many done, and the first failures named."""

    total: int
    done: int
    failed: int
    failures: jobs.Failures = ()

    @classmethod
    def of_chunk(cls, step: Step) -> Outcome:
        """The result of an action that was one chunk."""
        failed = len(step.failed_assets())
        return cls(step.total, step.done, failed, step.failures[: jobs.MAX_NAMED])

    def with_held(self, client: IconikClient, step: Step) -> Outcome:
        """The outcome plus the assets the loop guard held back from a gathered batch."""
        if not step.source:
            return self  # a click: nothing is ever held back
        for child in client.child_jobs(step.job_id):
            info = child.get("metadata") or {}
            if info.get("part") == jobs.HELD_PART:
                held = int(info.get("assets") or 0)
                named = tuple(tuple(f) for f in info.get("failures") or ())
                failures = (self.failures + named)[: jobs.MAX_NAMED]
                return Outcome(self.total + held, self.done, self.failed + held, failures)
        return self


@dataclass
class Tally:
    """What the parent's children say about the action.

    Attributes:
        expanded: every shard of the selection has been turned into chunks.
        complete: expanded, and every chunk has ended.
        total, processed: assets in all, and assets finished one way or the other.
        done, failed, failures: the ended parts' counts and first failures.
        parts: how many chunks the action has (once expanded).
        unfinished: the parts (child jobs, or {} for one not created yet) still going.
    """

    expanded: bool = False
    complete: bool = False
    total: int = 0
    processed: int = 0
    done: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    parts: int = 0
    unfinished: list[Json] = field(default_factory=list)

    def outcome(self) -> Outcome:
        return Outcome(self.total, self.done, self.failed, tuple(self.failures[: jobs.MAX_NAMED]))


def count(parent: Json, children: list[Json]) -> Tally:
    """Sum up the parent's children (chunk parts and, for a split selection, shard records)."""
    meta = parent.get("metadata") or {}
    shards = int(meta.get("shards") or 1)
    tally = Tally()
    expected: dict[int, int] = {}
    if shards == 1 and "chunks" in meta:
        expected[0] = int(meta["chunks"])
        tally.total = int(meta.get("assets") or 0)
    parts: dict[tuple[int, int], Json] = {}
    for child in children:
        info = child.get("metadata") or {}
        part, shard = info.get("part"), int(info.get("shard") or 0)
        if part == jobs.SHARD_PART and shards > 1:
            expected[shard] = int(info.get("chunks") or 0)
            tally.total += int(info.get("assets") or 0)
            if child.get("status") == "FAILED":
                tally.failed += 1
                tally.failures.append((f"selection part {shard + 1}", str(child.get("message"))))
        elif part == jobs.HELD_PART:  # assets the loop guard held back, already ended
            held = int(info.get("assets") or 0)
            tally.total += held
            tally.processed += held
            tally.failed += int(info.get("failed") or 0)
            tally.failures.extend(tuple(f) for f in info.get("failures") or ())
        elif part == jobs.CHUNK_PART:
            key = (shard, int(info.get("chunk") or 0))
            if key not in parts or (jobs.is_terminal(child) and not jobs.is_terminal(parts[key])):
                parts[key] = child
    tally.expanded = len(expected) == shards
    if shards == 1 and expected.get(0) == 1 and not parts:
        parts[(0, 0)] = {**parent, "title": "its assets"}  # a one-chunk action reports itself
    for shard, chunks in sorted(expected.items()):
        tally.parts += chunks
        for chunk in range(chunks):
            _add_part(tally, parts.get((shard, chunk)))
    tally.complete = tally.expanded and not tally.unfinished
    return tally


def _add_part(tally: Tally, child: Json | None) -> None:
    if child is None or not jobs.is_terminal(child):
        tally.unfinished.append(child or {})
        tally.processed += int((child or {}).get("progress_processed") or 0)
        return
    info = child.get("metadata") or {}
    tally.processed += int(child.get("progress_total") or 0)
    tally.done += int(info.get("done") or 0)
    tally.failed += int(info.get("failed") or 0)
    if len(tally.failures) < jobs.MAX_NAMED:
        tally.failures.extend(tuple(f) for f in info.get("failures") or ())


def after_part(client: IconikClient, queue: Queue, step: Step, now: float) -> None:
    """A part of the action has moved on: move the parent, or end it if all parts are over."""
    parent = client.get_job(step.job_id)
    if parent is None or jobs.is_terminal(parent):
        return
    tally = count(parent, client.child_jobs(step.job_id))
    if tally.complete:
        finish_action(client, queue, step, tally.outcome(), now)
        return
    if tally.expanded:
        message = (
            f"Handled {tally.processed:,} of {jobs.assets_phrase(tally.total)}; "
            f"{len(tally.unfinished):,} of {tally.parts:,} parts still running"
        )
        fields: dict[str, Any] = {}
        if int(parent.get("progress_total") or 0) != tally.total:
            what = jobs.assets_phrase(tally.total)
            fields["title"] = jobs.title(step.operation, what, step.options.dry_run, step.source)
        jobs.progress(client, step.job_id, tally.processed, tally.total, message)
        if fields:
            jobs.record(client, step.job_id, **fields)


def finish_action(
    client: IconikClient, queue: Queue, step: Step, outcome: Outcome, now: float
) -> bool:
    """End the action's job, unless another step already claimed that; True if this one did."""
    end = end_step(step, outcome, now)
    try:
        if not queue.enqueue(end):
            log.info("the end of job %s is already being written", step.job_id)
            return False
    except Exception as refused:  # ending the job matters more than its safety net
        log.error("the queue did not take the end of job %s (%s): writing it anyway",
                  step.job_id, type(refused).__name__)
    write_end(client, end)
    return True


def end_step(step: Step, outcome: Outcome, now: float) -> Step:
    """The action's END step, carrying its outcome (one per action: its name says so)."""
    return step.about_action(
        END,
        now + END_CHECK_SECONDS,
        total=outcome.total,
        done=outcome.done,
        failed=outcome.failed,
        failures=outcome.failures,
    )


def write_end(client: IconikClient, step: Step) -> None:
    """Write the action's final status from an END step's outcome."""
    summary = add.summary if step.operation == "add" else remove.summary
    jobs.finish(
        client,
        step.job_id,
        step.total,
        summary(step.options, step.done, step.total),
        step.failures,
        step.options.dry_run,
        failed_count=step.failed,
    )


def run_end(client: IconikClient, step: Step) -> None:
    """The END step's safety net: write the end if the step that claimed it did not."""
    parent = client.get_job(step.job_id)
    if parent is None or jobs.is_terminal(parent):
        return
    log.warning("job %s was not ended by the step that claimed it: ending it now", step.job_id)
    write_end(client, step)


def run_watchdog(
    client: IconikClient, queue: Queue, step: Step, now: float, quiet_seconds: float
) -> None:
    """End an action whose work has stopped for good; look again later if it still moves."""
    parent = client.get_job(step.job_id)
    if parent is None or jobs.is_terminal(parent):
        return
    children = client.child_jobs(step.job_id)
    tally = count(parent, children)
    if tally.complete:
        finish_action(client, queue, step, tally.outcome(), now)
        return
    latest = max([modified(parent)] + [modified(c) for c in children])
    if now - latest < quiet_seconds:
        queue.enqueue(step.next(not_before=now + quiet_seconds))
        return
    _interrupted(client, queue, step, tally, parent, now)


def _interrupted(
    client: IconikClient, queue: Queue, step: Step, tally: Tally, parent: Json, now: float
) -> None:
    """End FAILED an action none of whose parts moved for the quiet period."""
    reason = "the work stopped and did not resume; nothing unverified was removed: run it again"
    failures = list(tally.failures)
    lost = 0
    for part in tally.unfinished:
        failures.append((str(part.get("title") or "a part not yet started"), reason))
        total = int(part.get("progress_total") or 0)
        lost += max(total - int(part.get("progress_processed") or 0), 1)
    if not tally.expanded:
        failures.append(("the selection", f"it was not fully listed: {reason}"))
        lost += 1
    total = tally.total or int(parent.get("progress_total") or 0)
    log.error("job %s stopped moving: ending it FAILED", step.job_id)
    outcome = Outcome(total, tally.done, tally.failed + lost, tuple(failures[: jobs.MAX_NAMED]))
    finish_action(client, queue, step, outcome, now)


def watchdog(step: Step, not_before: float) -> Step:
    """The action's watchdog step (one per action, whichever shard schedules it)."""
    return step.about_action(WATCHDOG, not_before)
