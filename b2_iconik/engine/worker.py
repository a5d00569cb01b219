"""Runs one step of an action against iconik, and queues what follows.

The worker knows nothing of runners: :meth:`Worker.execute` takes a step and a queue, and every
step it schedules goes to that queue under its deterministic name. The order of effects is what
makes a step safe to run twice: first the work (every iconik change is idempotent), then the
successors (the queue refuses names it has seen), last the marker on the unit's job saying the
step is done; :meth:`Worker.already_done` reads that marker.

Failures never vanish: a passing one (iconik unreachable, 429/5xx after the client's own retries)
runs the step again later; a lasting one, or the last attempt, keeps the step's assets and names
them on the job; either way it is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import IconikError, QueueRefused, is_transient
from b2_iconik.base.logs import log_context, redact
from b2_iconik.engine import closing, expansion, gathering, stale, tally
from b2_iconik.engine.runners import Queue
from b2_iconik.engine.tokens import TokenKeeper, TokenRefused
from b2_iconik.iconik.client import IconikClient
from b2_iconik.rules import add, jobs, remove
from b2_iconik.rules.steps import (
    CHUNK,
    CLOSE,
    END,
    EXPAND,
    WATCHDOG,
    Step,
    add_failures,
    clip_reason,
)

log = logging.getLogger(__name__)

#: How many times a step is re-run after passing failures before its assets are given up.
MAX_ATTEMPTS = 6
#: The longest pause before such a re-run.
MAX_RETRY_SECONDS = 300.0


class Worker:
    """Executes steps against iconik.

    Args:
        settings: the plugin's settings (iconik URL and id, rate cap, waits).
        clock: wall-clock seconds; injected so tests can move time.
        client_factory: builds the iconik client for a token (tests pass fast retries).
    """

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        client_factory: Callable[[str], IconikClient] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.tokens = TokenKeeper(settings.token_refresh_seconds, clock)
        self.sweeper = stale.Sweeper(settings.inprocess_stale_seconds)
        #: Automations' requests gathered by this instance (their batches close here too).
        self.gatherer = gathering.Gatherer(settings, clock)
        self._client_factory = client_factory or self._default_client

    def client(self, token: str) -> IconikClient:
        """An iconik client acting as the user whose token this is."""
        redact(token)
        return self._client_factory(token)

    def _default_client(self, token: str) -> IconikClient:
        s = self.settings
        return IconikClient(s.iconik_url, s.iconik_id, token, max_rps=s.iconik_max_rps)

    def execute(self, step: Step, queue: Queue, last_attempt: bool = True) -> None:
        """Run one step, queueing what follows.

        Args:
            last_attempt: False when the queue will deliver the step again if it fails: an
                unexpected error is then raised (so it does), instead of giving up.
        """
        with log_context(step.job_id, step.trace), self.client(step.auth_token) as client:
            try:
                step = self.tokens.fresh(client, step)
                self._dispatch(client, queue, step, last_attempt)
            except TokenRefused as refused:
                log.error("%s", refused)
                self._give_up(client, queue, step, f"{refused}; run the action again")
            except Exception as error:
                self._failed(client, queue, step, error, last_attempt)

    def already_done(self, step: Step, queue: Queue) -> bool:
        """Whether the step's effects are complete already (it was delivered before).

        A step found done also gets its idempotent follow-up run again (summing the action up),
        in case the earlier delivery stopped just before it. An iconik error here says nothing:
        the step is then run, which is safe.
        """
        with log_context(step.job_id, step.trace), self.client(step.auth_token) as client:
            try:
                return self._done(client, queue, step)
            except IconikError as error:
                log.warning("could not tell whether this step already ran: %s", error)
                return False

    def _done(self, client: IconikClient, queue: Queue, step: Step) -> bool:
        if step.kind == EXPAND:
            if not expansion.done(client, step):
                return False
            tally.after_part(client, queue, step, self.clock())
            return True
        if step.kind == CLOSE:
            return closing.closed(client, step)
        job = client.get_job(step.report_job_id)
        if job is None:
            return True  # the job was deleted in iconik: there is nothing left to report into
        if jobs.is_terminal(job):
            if step.kind == CHUNK and step.unit_job_id:
                tally.after_part(client, queue, step, self.clock())
            return True
        seq_done = (job.get("metadata") or {}).get("seq_done")
        return step.kind == CHUNK and isinstance(seq_done, int) and seq_done >= step.seq

    def _dispatch(self, client: IconikClient, queue: Queue, step: Step, last: bool) -> None:
        now = self.clock()
        if step.kind == EXPAND:
            if not self.settings.tasks_queue and self.sweeper.due(now):
                stale.sweep(client, step.job_id, self.settings.inprocess_stale_seconds, now)
            only = expansion.run(client, queue, step, now, self.settings)
            if only is not None:
                self._chunk(client, queue, only, now, last)
        elif step.kind == CHUNK:
            self._chunk(client, queue, step, now, last)
        elif step.kind == END:
            tally.run_end(client, step)
        elif step.kind == WATCHDOG:
            tally.run_watchdog(client, queue, step, now, self.settings.watchdog_seconds)
        elif step.kind == CLOSE:
            self.gatherer.flush(client, step.job_id)
            closing.close(client, queue, step, now, self.settings)

    def _chunk(
        self, client: IconikClient, queue: Queue, step: Step, now: float, last: bool
    ) -> None:
        """One round of a chunk: then its next round, or its end.

        A chunk's wait limit counts from its first round, not from the click: in a large action
        the last chunks may start long after the first, and their copies deserve the same wait.
        """
        if not step.deadline:
            step = replace(step, deadline=now + self.settings.remove_wait_seconds)
        operation = add if step.operation == "add" else remove
        done = operation.run(client, step, now, self.settings.remove_recheck_seconds)
        if done.following is None:
            self._end_chunk(client, queue, done.state)
            return
        following = self.tokens.fresh(client, done.following, until=done.following.not_before)
        # Progress first: once the next round is queued it may end the job at any moment.
        jobs.progress(client, step.report_job_id, done.processed, step.total, done.message)
        try:
            queue.enqueue(following)
        except Exception as error:
            if not last and not isinstance(error, QueueRefused):
                raise  # the queue delivers this step again; its round is safe to redo
            # The round's work is done: keep only what still waits, and say why.
            log.error("could not queue the chunk's next round: %s", error)
            reason = f"could not schedule a check again: {type(error).__name__}: {error}"
            self._give_up(client, queue, done.state, reason)
            return
        jobs.mark_done(client, step.report_job_id, step.seq)

    def _end_chunk(self, client: IconikClient, queue: Queue, state: Step) -> None:
        """A chunk is over: end the action (a one-chunk action), or its part and sum up."""
        now = self.clock()
        if not state.unit_job_id:
            outcome = tally.Outcome.of_chunk(state).with_held(client, state)
            tally.finish_action(client, queue, state, outcome, now)
            return
        operation = add if state.operation == "add" else remove
        failures = state.failures[: jobs.MAX_NAMED]
        jobs.finish(
            client,
            state.unit_job_id,
            state.total,
            operation.summary(state.options, state.done, state.total),
            failures,
            state.options.dry_run,
            failed_count=len(state.failed_assets()),
            metadata={
                "seq_done": state.seq,
                "done": state.done,
                "failed": len(state.failed_assets()),
                "failures": [list(f) for f in failures],
            },
        )
        tally.after_part(client, queue, state, now)

    def _failed(
        self, client: IconikClient, queue: Queue, step: Step, error: Exception, last: bool
    ) -> None:
        """Run the step again later on a passing failure; otherwise give its assets up."""
        if is_transient(error) and step.attempt + 1 < MAX_ATTEMPTS:
            delay = min(self.settings.remove_recheck_seconds * 2**step.attempt, MAX_RETRY_SECONDS)
            log.warning("step failed (%s); trying again in %.0f s", error, delay)
            queue.enqueue(step.retry(self.clock() + delay))
            return
        if isinstance(error, IconikError | QueueRefused):
            log.error("step failed: %s", error)
            reason = str(error)
        elif not last:
            log.exception("step failed unexpectedly; the queue will deliver it again")
            raise error
        else:
            log.exception("step failed on an internal error")
            reason = f"internal error: {type(error).__name__}: {error}"
        self._give_up(client, queue, step, reason)

    def _give_up(self, client: IconikClient, queue: Queue, step: Step, reason: str) -> None:
        """Keep the step's assets, name them with the reason, and let the action end."""
        reason = clip_reason(reason)
        try:
            if step.kind == CHUNK:
                failed = step.failed_assets()
                kept = [a for a in (*step.remaining, *step.waiting) if a not in failed]
                failures = add_failures(step.failures, ((a, reason) for a in dict.fromkeys(kept)))
                self._end_chunk(client, queue, replace(step, remaining=(), waiting=(),
                                                       failures=failures))
            elif step.kind == EXPAND and step.shards > 1:
                expansion.fail_shard(client, step, reason)
                tally.after_part(client, queue, step, self.clock())
            else:
                outcome = tally.Outcome(0, 0, 1, (("the selection", reason),))
                tally.finish_action(client, queue, step, outcome, self.clock())
        except (IconikError, QueueRefused) as error:
            log.error("could not record on the job that the work stopped: %s", error)

    def touch(self, step: Step) -> None:
        """Show an in-process action is alive (its steps wait in this instance's memory)."""
        with log_context(step.job_id, step.trace), self.client(step.auth_token) as client:
            try:
                client.update_job(step.job_id, metadata={"alive_at": self.clock()})
            except IconikError as error:
                log.warning("could not mark the job alive: %s", error)

    def abandon(self, step: Step, reason: str) -> None:
        """End a just-accepted action FAILED when its work could not even be queued."""
        with log_context(step.job_id, step.trace), self.client(step.auth_token) as client:
            try:
                outcome = tally.Outcome(0, 0, 1, (("the selection", reason),))
                tally.write_end(client, tally.end_step(step, outcome, self.clock()))
            except IconikError as error:
                log.error("could not mark the job FAILED: %s", error)
