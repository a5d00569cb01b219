"""Runs one step of an action and says what step comes next.

The worker knows nothing of runners: :meth:`Worker.execute` takes a step and returns the next
one (or None), and whichever runner called it schedules that. Failures never vanish: a passing
one (iconik unreachable, 429/5xx after the client's own retries) re-runs the step later, a
lasting one ends the iconik job FAILED with the reason, and either way it is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from b2_iconik import add, jobs, remove
from b2_iconik.config import Settings
from b2_iconik.errors import IconikError, is_transient
from b2_iconik.iconik import IconikClient
from b2_iconik.logs import log_context, redact
from b2_iconik.selection import expand
from b2_iconik.steps import EXPAND, PROCESS, Step

log = logging.getLogger(__name__)

#: How many times a step is re-run after passing failures before its job is marked FAILED.
MAX_ATTEMPTS = 6


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
        self._client_factory = client_factory or self._default_client

    def client(self, token: str) -> IconikClient:
        """An iconik client acting as the user whose token this is."""
        redact(token)
        return self._client_factory(token)

    def _default_client(self, token: str) -> IconikClient:
        s = self.settings
        return IconikClient(s.iconik_url, s.iconik_id, token, max_rps=s.iconik_max_rps)

    def execute(self, step: Step) -> Step | None:
        """Run one step; return the step that follows, or None when the action is over."""
        with log_context(step.job_id, step.trace), self.client(step.auth_token) as client:
            try:
                return self._dispatch(client, step)
            except Exception as error:
                return self._failed(client, step, error)

    def _dispatch(self, client: IconikClient, step: Step) -> Step | None:
        now = self.clock()
        if step.stage == EXPAND:
            step = self._expand(client, step, now)
        runner = add.run if step.operation == "add" else remove.run
        return runner(client, step, now, self.settings.remove_recheck_seconds)

    def _expand(self, client: IconikClient, step: Step, now: float) -> Step:
        """Turn the selection into assets, and name their number in the job's title."""
        assert step.selection is not None, "an expand step carries the selection"
        asset_ids = expand(client, step.selection)
        total = len(asset_ids)
        log.info("%s: %d assets selected", step.operation, total)
        jobs.retitle(
            client,
            step.job_id,
            jobs.title(step.operation, jobs.assets_phrase(total), step.options.dry_run),
            total,
        )
        return step.next(
            stage=PROCESS,
            selection=None,
            remaining=tuple(asset_ids),
            total=total,
            deadline=now + self.settings.remove_wait_seconds,
        )

    def _failed(self, client: IconikClient, step: Step, error: Exception) -> Step | None:
        """Retry a passing failure later; end the job FAILED on a lasting one."""
        if is_transient(error) and step.attempt + 1 < MAX_ATTEMPTS:
            delay = min(self.settings.remove_recheck_seconds * 2**step.attempt, 300.0)
            log.warning("step failed (%s); trying again in %.0f s", error, delay)
            return _retry(step, self.clock() + delay)
        if isinstance(error, IconikError):
            log.error("action failed: %s", error)
            reason = str(error)
        else:
            log.exception("action failed on an internal error")
            reason = f"internal error: {type(error).__name__}: {error}"
        self._fail_job(client, step, reason)
        return None

    def give_up(self, step: Step, reason: str) -> None:
        """End a step's job FAILED with the reason, naming the assets it had not handled."""
        with log_context(step.job_id, step.trace), self.client(step.auth_token) as client:
            self._fail_job(client, step, reason)

    def _fail_job(self, client: IconikClient, step: Step, reason: str) -> None:
        handled = {a for a, _ in step.failures}
        not_done = [a for a in (*step.remaining, *step.waiting) if a not in handled]
        failures = step.failures + tuple((a, reason) for a in not_done)
        if not failures:
            failures = (("selection", reason),)
        summary = f"Stopped: {reason}. Nothing unverified was removed."
        try:
            jobs.finish(client, step.job_id, step.total, summary, failures)
        except IconikError as error:
            log.error("could not mark the job FAILED: %s", error)


def _retry(step: Step, not_before: float) -> Step:
    return replace(step, attempt=step.attempt + 1, not_before=not_before)
