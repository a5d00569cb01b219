"""Gathering requests from iconik's automations into few jobs (DESIGN §5, Policies).

An automation run on existing assets, or a season approved at once, sends thousands of
requests of one or a few assets each within minutes. One job each would bury the Jobs tab and
repeat every fixed cost thousands of times. So such requests are *gathered*: every request of
the same operation, storages, formats and source (which policy, or "the application") that
arrives within one window of ``GATHER_SECONDS`` joins one iconik job, the window's *batch*, and
a CLOSE step at the window's end starts that job's work on all the assets at once, each once.

Where the assets wait. The answer must mean the assets will be handled even if this instance
dies right after it, and on Cloud Functions nothing runs after the answer, so each request is
answered only once its assets are written down in iconik: in a *ledger part*, a child job of
the batch whose metadata lists them (``asset_ids``). Each instance keeps its own ledger parts
(at most :data:`PART_CAP` assets each) and rewrites a part whole, so no two writers share one.
Requests that arrive together on an instance are written in one call (a group commit): a burst
costs a few iconik calls a second, not one per request. In-process (no Cloud Tasks) the batch's
CLOSE step runs in the same process and dies with it, so writing before the answer would buy
nothing: there the ledger waits in memory and the CLOSE step writes it (:meth:`Gatherer.flush`),
and each process keeps batches of its own.

One batch per window across instances. Every instance finds the batch by its ``object_id``,
derived from the operation, storages and hour, and the batch key in its metadata. Only the
instance that takes the batch's name on the queue (a lease, as steps use) creates it; the others
look it up until it appears.

When the window closes. The CLOSE step runs ``grace`` seconds after the window's end, and reads
the ledger. A request whose write ended later than half the grace after the window's end (by
its own clock) cannot know whether the CLOSE step saw it, so it joins the next window as well:
an asset may then be handled twice (every step is idempotent), never lost.

The loop guard. A policy that adds and one that removes can set each other off (an approval and
an added-to-collection trigger on one asset, or an automation of the customer's own). The CLOSE
step of a batch holds back, reporting them, the assets that a batch of the opposite operation
gathered within ``LOOP_GUARD_SECONDS`` (an hour): a person's click is never held back.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import IconikError, IconikHTTPError, IconikUnavailable, PluginError
from b2_iconik.engine import tally
from b2_iconik.engine.runners import Queue
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.session import Json
from b2_iconik.rules import jobs, plan
from b2_iconik.rules.payload import ActionOptions, CustomAction
from b2_iconik.rules.steps import CLOSE, EXPAND, Step, clip_reason

log = logging.getLogger(__name__)

#: The most assets one ledger part lists (its metadata is rewritten whole on each write).
PART_CAP = 250
#: The longest wait between a window's end and its batch's start.
GRACE_SECONDS = 10.0
#: How long this instance remembers whose a token is (and that iconik accepted it).
IDENTITY_SECONDS = 300.0
#: How many windows a request tries to join before it is answered "try again" (iconik slow).
JOIN_ATTEMPTS = 3
#: How long an instance looks for a batch another instance is creating before making its own.
FIND_SECONDS = 3.0
#: ``object_id`` namespace of batch jobs (a fixed UUID: the same on every instance).
_NAMESPACE = uuid.UUID("6f1d3f0e-2b7c-4c55-9a55-b2a7c0117e11")


class Late(PluginError):
    """The window closed before this write was known to be in it: use the next window."""


@dataclass(frozen=True)
class Source:
    """Where a request that is not a person's click comes from.

    Attributes:
        policy: the policy its URL names (``…/policies/<policy>/remove``), or "".
        application: True when it carried no token and the plugin acts with its own.
    """

    policy: str = ""
    application: bool = False

    @property
    def label(self) -> str:
        """In words, for titles and logs, e.g. "automation: remove-when-approved, as the
        application" (the plugin acted with its own token) or "automation: remove-when-approved"
        (with the token the request carried)."""
        named = f"automation: {self.policy}" if self.policy else "automation"
        return f"{named}, as the application" if self.application else named

    @property
    def acting(self) -> str:
        return "application" if self.application else "the token it carried"


@dataclass(frozen=True)
class Window:
    """One gathering window: what is gathered, from whom, and when.

    Attributes:
        identity: "application", or the iconik user the request's token belongs to
            (requests acting as different users never share a batch).
    """

    operation: str
    options: ActionOptions
    source: Source
    identity: str
    start: float
    seconds: float

    @classmethod
    def at(
        cls, operation: str, options: ActionOptions, source: Source, identity: str, now: float,
        seconds: float,
    ) -> Window:
        return cls(operation, options, source, identity, (now // seconds) * seconds, seconds)

    @property
    def end(self) -> float:
        return self.start + self.seconds

    @property
    def grace(self) -> float:
        """How long after the window's end its CLOSE step runs: long enough for a write begun
        before the end to land (and for instances' clocks to differ a little), short enough
        that a lone request's work starts soon (10 s for a minute's window)."""
        return min(GRACE_SECONDS, max(0.5, self.seconds / 6))

    @property
    def late_after(self) -> float:
        """A write that ends after this may be missed by the CLOSE step."""
        return self.end + self.grace / 2

    @property
    def key(self) -> str:
        o = self.options
        return "|".join((
            self.operation, o.b2_storage_id, o.ll_storage_id, ",".join(o.formats),
            str(o.dry_run), self.source.policy, self.identity, f"{self.start:.0f}",
        ))

    @property
    def name(self) -> str:
        """The queue name whose holder creates the batch."""
        return "gather-" + hashlib.sha256(self.key.encode()).hexdigest()[:40]

    @property
    def object_id(self) -> str:
        return batch_object_id(self.operation, self.options, self.start)


def batch_object_id(operation: str, options: ActionOptions, when: float) -> str:
    """The ``object_id`` of batch jobs of an operation and storages in one hour."""
    hour = int(when // 3600)
    name = f"b2-iconik/{operation}/{options.b2_storage_id}/{options.ll_storage_id}/{hour}"
    return str(uuid.uuid5(_NAMESPACE, name))


@dataclass
class _Batch:
    """Requests waiting to be written in one call."""

    ids: list[str] = field(default_factory=list)
    done: bool = False
    error: Exception | None = None


@dataclass
class _Part:
    job_id: str
    ids: list[str] = field(default_factory=list)


class _Open:
    """This instance's side of one window: the batch's job, its ledger parts, and the writes."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.job_id: str | None = None
        self.parts: list[_Part] = []
        self.seen: set[str] = set()
        self.closed = False
        #: Write-behind (in-process) only: assets accepted here, not yet in a ledger part.
        self.unwritten: list[str] = []
        self.finding = threading.Lock()
        self.writing = threading.Lock()
        self.lock = threading.Lock()
        self.pending: _Batch | None = None


@dataclass(frozen=True)
class Joined:
    """Where a request's assets went: the batch's job, and when it closes."""

    job_id: str
    closes_at: float


class Gatherer:
    """This instance's open windows.

    Args:
        settings: ``GATHER_SECONDS`` and where the steps run.
        clock: wall-clock seconds (the windows are the same on every instance).
        sleep: the pause while another instance creates a batch.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        #: In-process, the batch's CLOSE step runs in this process: the ledger is kept here and
        #: written once, when the batch closes (see :meth:`flush`). On Cloud Tasks it is written
        #: before each answer, since any instance may close the batch and this one may die.
        self.behind = not settings.tasks_queue
        self._open: dict[str, _Open] = {}
        self._identities: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def join(
        self,
        client: IconikClient,
        queue: Queue,
        operation: str,
        options: ActionOptions,
        source: Source,
        token: str,
        asset_ids: tuple[str, ...],
        trace: str | None = None,
    ) -> Joined:
        """Write the assets into the open batch of their kind, creating it if needed.

        Raises:
            IconikError: iconik could not record them (nothing was accepted); also when each of
                JOIN_ATTEMPTS windows closed before the write was done.
            Exception: the queue could not take a name or the batch's CLOSE step.
        """
        identity = "application" if source.application else self._identity(client, token)
        for _ in range(JOIN_ATTEMPTS):
            window = Window.at(operation, options, source, identity, self.clock(),
                               self.settings.gather_seconds)
            here = self._window(window)
            try:
                job_id = self._batch(client, queue, here, token, trace)
                self._commit(client, here, asset_ids)
            except Late:
                log.info("a gathering window closed while joining it: trying the next one")
                continue
            return Joined(job_id, window.end + window.grace)
        raise IconikUnavailable(
            f"iconik was too slow to record the request within {JOIN_ATTEMPTS} gathering windows"
        )

    def _identity(self, client: IconikClient, token: str) -> str:
        """Whose token this is: the iconik user it belongs to, asked once per token.

        An automation may send a new token with every request (the sandbox does): gathering
        by token would then make a batch per request. Asking iconik also checks the token
        before anything is written with it.

        Raises:
            IconikHTTPError: 401 when iconik refuses the token.
        """
        key = _fingerprint(token)
        with self._lock:
            known = self._identities.get(key)
            if known is not None and known[1] > self.clock():
                return known[0]
        user = client.check_token().get("user_id")
        identity = f"user-{user}" if isinstance(user, str) and user else key
        with self._lock:
            if len(self._identities) > 10_000:
                self._identities.clear()
            self._identities[key] = (identity, self.clock() + IDENTITY_SECONDS)
        return identity

    # -- the batch's job -----------------------------------------------------------------------

    def _window(self, window: Window) -> _Open:
        with self._lock:
            now = self.clock()
            for key in [k for k, o in self._open.items()
                        if o.window.late_after + 60 < now and not o.unwritten]:
                del self._open[key]
            here = self._open.get(window.key)
            if here is None or (self.behind and here.closed):
                # In-process, a batch closed early (its CLOSE step ran before the window's
                # end, as only a clock set back can make it) leaves the window a new batch.
                here = self._open[window.key] = _Open(window)
            return here

    def _batch(
        self, client: IconikClient, queue: Queue, here: _Open, token: str, trace: str | None
    ) -> str:
        """The batch's job id: known here, found in iconik, or created by whoever may."""
        with here.finding:
            if here.job_id is None:
                here.job_id = self._find_or_create(client, queue, here.window, token, trace)
            return here.job_id

    def _find_or_create(
        self, client: IconikClient, queue: Queue, window: Window, token: str, trace: str | None
    ) -> str:
        if self.behind:  # this process's batches are its own: it alone can close them
            return self._create(client, queue, window, token, trace)
        found = self._find(client, window)
        if found:
            return found
        if queue.claim(window.name):
            return self._create(client, queue, window, token, trace)
        deadline = self.clock() + FIND_SECONDS
        pause = 0.05
        while self.clock() < deadline:
            self.sleep(pause)
            found = self._find(client, window)
            if found:
                return found
            pause = min(pause * 2, 0.8)
        # The instance that took the name has not made the batch (it died, or is very slow):
        # a second job for this window is better than refusing the request.
        log.warning("the batch of %s was not created by whoever claimed it: making another",
                    window.source.label)
        return self._create(client, queue, window, token, trace)

    def _find(self, client: IconikClient, window: Window) -> str | None:
        if self.clock() > window.late_after:
            raise Late("the window is over")
        for job in client.jobs_about(window.object_id):
            if (job.get("metadata") or {}).get("batch") == window.key:
                return str(job["id"])
        return None

    def _create(
        self, client: IconikClient, queue: Queue, window: Window, token: str, trace: str | None
    ) -> str:
        """Create the batch's job and queue its CLOSE step.

        Raises:
            Exception: the queue refused the CLOSE step (the job is then ended FAILED).
        """
        runner = jobs.CLOUD_TASKS if self.settings.tasks_queue else jobs.IN_PROCESS
        job_id = jobs.create_batch(client, window.operation, window.options, window.source.label,
                                   {**_batch_metadata(window), "runner": runner},
                                   window.object_id,
                                   clock_text(window.end + window.grace))
        step = Step(window.operation, job_id, window.options, token, kind=CLOSE,
                    not_before=window.end + window.grace, trace=trace, source=window.source.label)
        try:
            queue.enqueue(step)
        except Exception as problem:
            reason = f"could not schedule the batch's start: {type(problem).__name__}"
            tally.write_end(client, tally.end_step(step, tally.Outcome(0, 0, 1, (
                ("the batch", reason),)), self.clock()))
            raise
        log.info("opened batch %s for %s (%s), closing at %s", job_id, window.source.label,
                 window.operation, clock_text(window.end + window.grace))
        return job_id

    # -- writing the assets down -----------------------------------------------------------------

    def _commit(self, client: IconikClient, here: _Open, asset_ids: tuple[str, ...]) -> None:
        """Write the assets into this instance's ledger, with whatever else is waiting.

        Raises:
            Late: the window closed first; nothing may be assumed written.
            IconikError: the write failed.
        """
        if self.behind:
            with here.lock:
                if here.closed:
                    raise Late("the batch has closed")
                new = [i for i in dict.fromkeys(asset_ids) if i not in here.seen]
                here.unwritten.extend(new)
                here.seen.update(new)
            return
        with here.lock:
            batch = here.pending or _Batch()
            batch.ids.extend(asset_ids)
            here.pending = batch
        with here.writing:
            with here.lock:
                if here.pending is batch:
                    here.pending = None
            if not batch.done:
                try:
                    self._write(client, here, batch.ids)
                except Exception as error:
                    batch.error = error
                batch.done = True
        if batch.error is not None:
            raise batch.error

    def _write(self, client: IconikClient, here: _Open, ids: Iterable[str]) -> None:
        if here.closed or self.clock() > here.window.late_after:
            here.closed = True
            raise Late("the window is over")
        new = [i for i in dict.fromkeys(ids) if i not in here.seen]
        self._append(client, here, new)
        if self.clock() > here.window.late_after:
            here.closed = True
            raise Late("the write ended after the window closed")

    def flush(self, client: IconikClient, job_id: str) -> None:
        """Close a write-behind batch here and write its ledger, before its CLOSE step reads it.

        What a failed write leaves unwritten is written by the next try of the CLOSE step.

        Raises:
            IconikError: a ledger part could not be written.
        """
        with self._lock:
            here = next((o for o in self._open.values() if o.job_id == job_id), None)
        if here is None:
            return
        with here.writing:
            with here.lock:
                here.closed = True
            while here.unwritten:
                take = here.unwritten[:PART_CAP]
                self._append(client, here, take)
                del here.unwritten[: len(take)]

    def _append(self, client: IconikClient, here: _Open, new: list[str]) -> None:
        """Add assets to this instance's ledger parts, a part of at most PART_CAP at a time."""
        while new:
            part = here.parts[-1] if here.parts and len(here.parts[-1].ids) < PART_CAP else None
            if part is None:
                part = self._new_part(client, here)
            take = new[: PART_CAP - len(part.ids)]
            listed = part.ids + take
            try:
                _write_part(client, part.job_id, listed)
            except IconikHTTPError as error:
                if error.status != 404:
                    raise
                # Deleted by hand in iconik: what it listed is still here, in a new part.
                log.warning("a ledger part of batch %s is gone: writing a new one", here.job_id)
                here.parts.remove(part)
                part = self._new_part(client, here)
                _write_part(client, part.job_id, listed)
            part.ids = listed
            new = new[len(take):]
            here.seen.update(take)

    def _new_part(self, client: IconikClient, here: _Open) -> _Part:
        assert here.job_id is not None
        w = here.window
        job_id = jobs.create_part(client, here.job_id, w.operation, w.options,
                                  f"gathered on one instance, part {len(here.parts) + 1}",
                                  {"part": jobs.GATHERED_PART, "asset_ids": []}, 0)
        part = _Part(job_id)
        here.parts.append(part)
        return part


def _write_part(client: IconikClient, job_id: str, listed: list[str]) -> None:
    """Rewrite a ledger part whole: only this instance writes it, so nothing is merged."""
    jobs.record(client, job_id, progress_total=len(listed),
                message=f"Gathered {jobs.assets_phrase(len(listed))}",
                metadata={"asset_ids": listed})


# -- the CLOSE step ----------------------------------------------------------------------------


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


# -- helpers ---------------------------------------------------------------------------------------


def _batch_metadata(window: Window) -> dict[str, object]:
    return {
        "batch": window.key,
        "policy": window.source.policy,
        "source": window.source.label,
        "acting": window.source.acting,
        "closes_at": window.end + window.grace,
    }


def _fingerprint(token: str) -> str:
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:16]


def clock_text(when: float) -> str:
    """ "10:04:30 UTC", for job messages and answers."""
    return datetime.fromtimestamp(when, UTC).strftime("%H:%M:%S UTC")


def iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
