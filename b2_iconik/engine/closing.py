"""The CLOSE step of a gathered batch (:mod:`.gathering`): read its ledger, start its work.

It runs ``grace`` seconds after the window's end, reads the assets the ledger parts list, holds
back those the loop guard stops (a batch of the opposite operation gathered them within
``LOOP_GUARD_SECONDS``; a person's click is never held back), and queues the batch's EXPAND steps
on what is left, each asset once.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import IconikError
from b2_iconik.engine import tally
from b2_iconik.engine.batch import batch_object_id
from b2_iconik.engine.runners import Queue
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.session import Json
from b2_iconik.rules import jobs, plan
from b2_iconik.rules.payload import CustomAction
from b2_iconik.rules.steps import EXPAND, Step, clip_reason

log = logging.getLogger(__name__)


def closed(client: IconikClient, step: Step) -> bool:
    """Whether the batch's CLOSE step has done its work (its steps are queued)."""
    job = client.get_job(step.job_id)
    return job is None or jobs.is_terminal(job) or bool((job.get("metadata") or {}).get("closed"))


def close(client: IconikClient, queue: Queue, step: Step, now: float, settings: Settings) -> None:
    """Start the batch's work: every asset its ledger lists, once, as one action.

    Run twice, it queues the same steps under the same names (the queue refuses the second
    copies), with the shard count it recorded the first time.
    """
    parent = client.get_job(step.job_id)
    if parent is None or jobs.is_terminal(parent):
        return
    meta = parent.get("metadata") or {}
    children = client.child_jobs(step.job_id)
    ledger = sorted((c for c in children if _part(c) == jobs.GATHERED_PART),
                    key=lambda c: (str(c.get("date_created") or ""), str(c["id"])))
    ids = list(dict.fromkeys(a for c in ledger for a in _listed(c)))
    held = _held_back(client, step, ids, now, settings.loop_guard_seconds)
    if held:
        ids = [a for a in ids if a not in held]
        _record_held(client, step, children, held)
    selection = CustomAction("BULK", asset_ids=tuple(ids))
    count = int(meta.get("shards_closed") or 0)
    if not count:
        count = len(plan.shards(selection)) if ids else 1
    parts = plan.split(selection, count) if ids else []
    what = jobs.assets_phrase(len(ids) + len(held))
    jobs.record(client, step.job_id, title=jobs.title(step.operation, what,
                                                      step.options.dry_run, step.source),
                message=f"Gathered {what}", progress_total=len(ids) + len(held),
                metadata={"shards": count, "shards_closed": count, "gathered": len(ids),
                          "held_back": len(held)})
    log.info("batch %s closed: %s gathered from %d ledger part(s), %d held back",
             step.job_id, jobs.assets_phrase(len(ids)), len(ledger), len(held))
    for index, part in enumerate(parts):
        queue.enqueue(replace(step, kind=EXPAND, shard=index, shards=count, selection=part,
                              not_before=0.0, seq=0, attempt=0))
    _end_ledger(client, ledger)
    if not parts:
        outcome = tally.Outcome(len(held), 0, len(held), tuple(held.items())[: jobs.MAX_NAMED])
        tally.finish_action(client, queue, step, outcome, now)
    jobs.record(client, step.job_id, metadata={"closed": True})


def _part(job: Json) -> Any:
    return (job.get("metadata") or {}).get("part")


def _listed(job: Json) -> list[str]:
    ids = (job.get("metadata") or {}).get("asset_ids") or []
    return [str(i) for i in ids if isinstance(i, str)]


def _end_ledger(client: IconikClient, ledger: list[Json]) -> None:
    """End the ledger parts (they only list what was gathered); best effort."""
    for part in ledger:
        if jobs.is_terminal(part):
            continue
        count = len(_listed(part))
        try:
            jobs.record(client, str(part["id"]), status="FINISHED", progress_processed=count,
                        progress_total=count,
                        message=f"Gathered {jobs.assets_phrase(count)} for this batch")
        except IconikError as error:
            log.warning("could not end a ledger part: %s", error)


# -- the loop guard ------------------------------------------------------------------------------


def _held_back(
    client: IconikClient, step: Step, ids: list[str], now: float, seconds: float
) -> dict[str, str]:
    """Assets a batch of the opposite operation gathered within the guard's time, with why."""
    if not ids or seconds <= 0:
        return {}
    wanted = set(ids)
    opposite = "add" if step.operation == "remove" else "remove"
    since = now - seconds
    held: dict[str, str] = {}
    for hour in range(int(since // 3600), int(now // 3600) + 1):
        object_id = batch_object_id(opposite, step.options, hour * 3600.0)
        for job in client.jobs_about(object_id):
            meta = job.get("metadata") or {}
            if meta.get("operation") != opposite or float(meta.get("closes_at") or 0) < since:
                continue
            reason = _guard_reason(opposite, str(meta.get("source") or "a policy"),
                                   now - float(meta.get("closes_at") or now), seconds)
            for child in client.child_jobs(str(job["id"])):
                if _part(child) == jobs.GATHERED_PART:
                    for asset in _listed(child):
                        if asset in wanted:
                            held.setdefault(asset, reason)
    return held


def _guard_reason(opposite: str, source: str, ago: float, seconds: float) -> str:
    verb = "add it to" if opposite == "add" else "remove it from"
    minutes = max(0, round(ago / 60))
    return clip_reason(
        f"held back by the loop guard: a policy ({source}) asked to {verb} LucidLink "
        f"{minutes} min ago; policies leave an asset alone for {seconds / 60:.0f} min after that"
    )


def _record_held(
    client: IconikClient, step: Step, children: list[Json], held: dict[str, str]
) -> None:
    """A child job, ended FAILED, naming the assets held back (the action's end counts it)."""
    if any(_part(c) == jobs.HELD_PART for c in children):
        return
    failures = list(held.items())[: jobs.MAX_NAMED]
    job_id = jobs.create_part(client, step.job_id, step.operation, step.options,
                              "held back by the loop guard",
                              {"part": jobs.HELD_PART, "assets": len(held), "done": 0,
                               "failed": len(held), "failures": [list(f) for f in failures]},
                              len(held))
    jobs.finish(client, job_id, len(held), "Held back by the loop guard.", tuple(failures),
                step.options.dry_run, failed_count=len(held))
