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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import IconikHTTPError, IconikUnavailable
from b2_iconik.engine import tally
from b2_iconik.engine.batch import Late, Source, Window, batch_metadata, clock_text
from b2_iconik.engine.runners import Queue
from b2_iconik.iconik.client import IconikClient
from b2_iconik.rules import jobs
from b2_iconik.rules.payload import ActionOptions
from b2_iconik.rules.steps import CLOSE, Step

log = logging.getLogger(__name__)

#: The most assets one ledger part lists (its metadata is rewritten whole on each write).
PART_CAP = 250
#: How long this instance remembers whose a token is (and that iconik accepted it).
IDENTITY_SECONDS = 300.0
#: How many windows a request tries to join before it is answered "try again" (iconik slow).
JOIN_ATTEMPTS = 3
#: How long an instance looks for a batch another instance is creating before making its own.
FIND_SECONDS = 3.0


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
                                   {**batch_metadata(window), "runner": runner},
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


def _fingerprint(token: str) -> str:
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:16]
