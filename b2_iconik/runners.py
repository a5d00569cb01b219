"""Where background steps run: the seam between answering iconik and doing the work.

A runner has ``start(step)`` (fire and forget: the answer goes back now) and ``run(step)``
(synchronous: do it here). :class:`ThreadRunner` runs steps on a bounded pool in this process,
with delayed steps (re-checks) held by timers that cost no pool thread while they wait. The
operations never branch on the runner; configuration picks it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Protocol

from b2_iconik.steps import Step

log = logging.getLogger(__name__)

Execute = Callable[[Step], "Step | None"]


class Runner(Protocol):
    """Runs steps: ``start`` hands one off, ``run`` does it now and follows its successors."""

    def start(self, step: Step) -> None: ...

    def run(self, step: Step) -> None: ...


class ThreadRunner:
    """Runs steps in-process on a bounded pool; a burst of actions queues, it cannot swamp.

    Args:
        execute: runs one step and returns the next (``Worker.execute``).
        executor: the pool (default: ``ThreadPoolExecutor`` with ``workers`` threads).
        clock: wall-clock seconds, to turn a step's ``not_before`` into a delay.
    """

    def __init__(
        self,
        execute: Execute,
        executor: Executor | None = None,
        workers: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._execute = execute
        self._executor = executor or ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="b2-iconik"
        )
        self._clock = clock
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def start(self, step: Step) -> None:
        """Run the step (and its successors) in the background, not before ``not_before``."""
        delay = step.not_before - self._clock()
        if delay <= 0:
            self._submit(step)
            return
        timer = threading.Timer(delay, self._release, args=(step,))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def run(self, step: Step) -> None:
        """Run the step here, then every step that follows, waiting out their delays."""
        current: Step | None = step
        while current is not None:
            delay = current.not_before - self._clock()
            if delay > 0:
                time.sleep(delay)
            current = self._execute(current)

    def shutdown(self) -> None:
        """Cancel pending re-checks and wait for running steps (tests, clean exits)."""
        with self._lock:
            timers, self._timers = list(self._timers), set()
        for timer in timers:
            timer.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _release(self, step: Step) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t.name != _current()}
        self._submit(step)

    def _submit(self, step: Step) -> None:
        try:
            self._executor.submit(self._guarded, step)
        except RuntimeError:  # shut down: the process is stopping
            log.error(
                "shutting down: a step of job %s was not run; the job stays unfinished and "
                "running the action again is safe", step.job_id,
            )

    def _guarded(self, step: Step) -> None:
        """Run a step and schedule its successor; an escaping error is logged, never lost."""
        try:
            following = self._execute(step)
        except Exception:
            log.exception("a background step of job %s crashed", step.job_id)
            return
        if following is not None:
            self.start(following)


def _current() -> str:
    return threading.current_thread().name
