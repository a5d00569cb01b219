"""Where background steps run: the queue protocol, and the in-process runner.

Modelled on Bolt's lazy-listener runners: the operations never branch on where they run. A
:class:`Queue` takes named steps, and refuses a name it has seen recently, as Cloud Tasks does:
that is what makes a step that runs twice harmless (its successors are refused the second time)
and what decides, among several steps, which one ends an action. :class:`ThreadRunner` is the
default queue: a bounded pool in this process, with delayed steps (re-checks, safety nets, the
watchdog) held by one scheduler thread, costing no pool thread while they wait.
:class:`b2_iconik.engine.cloud_tasks.CloudTasksRunner` is the other.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Protocol

from b2_iconik.rules.steps import END, WATCHDOG, Step

log = logging.getLogger(__name__)

#: How long a used name stays refused (Cloud Tasks keeps it about an hour after the task ran).
NAME_RESERVED_SECONDS = 3600.0


class Queue(Protocol):
    """Named steps to run later; each name is taken once."""

    def enqueue(self, step: Step) -> bool:
        """Queue the step under its name; False when that name was taken already (done)."""
        ...

    def claim(self, name: str) -> bool:
        """Take a name without queueing anything (a lease); False when it was taken."""
        ...


class Runner(Queue, Protocol):
    """A queue the click handler hands an action's first steps to."""

    def start(self, steps: Sequence[Step]) -> None:
        """Queue the first steps of an accepted action.

        Raises:
            Exception: the steps could not be queued (the action's job must then fail).
        """
        ...


Execute = Callable[[Step, Queue], None]


class Names:
    """Names taken recently, each remembered for ``reserved`` seconds."""

    def __init__(self, reserved: float, clock: Callable[[], float]) -> None:
        self._reserved, self._clock = reserved, clock
        self._taken: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, name: str) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._taken) > 10_000:
                self._taken = {n: t for n, t in self._taken.items() if now - t < self._reserved}
            taken = self._taken.get(name)
            if taken is not None and now - taken < self._reserved:
                return False
            self._taken[name] = now
            return True


class ThreadRunner:
    """Runs steps in-process on a bounded pool; a burst of actions queues, it cannot swamp.

    Args:
        execute: runs one step, queueing what follows on the queue it is given.
        executor: the pool (default: ``ThreadPoolExecutor`` with ``workers`` threads).
        clock: wall-clock seconds, to turn a step's ``not_before`` into a delay.
        heartbeat: called every ``heartbeat_seconds`` with the latest step of each action that
            has steps waiting or running here, so its job shows it is alive (a job left
            untouched was interrupted: see :mod:`b2_iconik.engine.stale`).
    """

    def __init__(
        self,
        execute: Execute,
        executor: Executor | None = None,
        workers: int = 4,
        clock: Callable[[], float] = time.time,
        heartbeat: Callable[[Step], None] | None = None,
        heartbeat_seconds: float = 300.0,
    ) -> None:
        self._execute = execute
        self._executor = executor or ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="b2-iconik"
        )
        self._clock = clock
        self._names = Names(NAME_RESERVED_SECONDS, time.monotonic)
        self._lock = threading.Lock()
        #: Delayed steps (re-checks): (due on the monotonic clock, order, step), one thread
        #: waiting for the earliest, however many wait (a thread each would pile up).
        self._delayed: list[tuple[float, int, Step]] = []
        self._order = itertools.count()
        self._due = threading.Condition(self._lock)
        self._scheduler: threading.Thread | None = None
        self._live: dict[str, tuple[int, Step]] = {}
        self._heartbeat = heartbeat
        self._heartbeat_seconds = heartbeat_seconds
        self._beating: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(self, steps: Sequence[Step]) -> None:
        for step in steps:
            self.enqueue(step)

    def enqueue(self, step: Step) -> bool:
        """Run the step in the background, not before ``not_before``; False if seen already.

        An END or WATCHDOG step is only claimed here, not run: both are safety nets for work
        that dies, and in-process work dies with the process that would run them (a job left
        behind is found by :mod:`b2_iconik.engine.stale` instead).
        """
        if not self._names.take(step.task_id()):
            return False
        if step.kind in (END, WATCHDOG):
            return True
        self._alive(step, +1)
        delay = step.not_before - self._clock()
        if delay <= 0:
            self._submit(step)
            return True
        with self._due:
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._order), step))
            if self._scheduler is None:
                self._scheduler = threading.Thread(target=self._release_due, daemon=True,
                                                   name="b2-iconik-scheduler")
                self._scheduler.start()
            self._due.notify()
        return True

    def claim(self, name: str) -> bool:
        return self._names.take(name)

    def shutdown(self) -> None:
        """Cancel pending re-checks and wait for running steps (tests, clean exits)."""
        self._stopped.set()
        with self._due:
            self._delayed.clear()
            self._due.notify_all()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def live_jobs(self) -> list[str]:
        """Jobs whose actions have steps waiting or running here."""
        with self._lock:
            return list(self._live)

    def _alive(self, step: Step, change: int) -> None:
        """Count an action's steps here."""
        with self._lock:
            count, latest = self._live.get(step.job_id, (0, step))
            count += change
            if count <= 0:
                self._live.pop(step.job_id, None)
                return
            self._live[step.job_id] = (count, step if change > 0 else latest)
            if self._heartbeat and self._beating is None:
                self._beating = threading.Thread(target=self._beat, daemon=True,
                                                 name="b2-iconik-heartbeat")
                self._beating.start()

    def _beat(self) -> None:
        assert self._heartbeat is not None
        while not self._stopped.wait(self._heartbeat_seconds):
            with self._lock:
                steps = [step for _, step in self._live.values()]
            for step in steps:
                try:
                    self._heartbeat(step)
                except Exception:
                    log.exception("the heartbeat of job %s failed", step.job_id)

    def _release_due(self) -> None:
        """Hand each delayed step to the pool when its time comes (the scheduler thread)."""
        while True:
            with self._due:
                while not self._stopped.is_set():
                    wait = self._delayed[0][0] - time.monotonic() if self._delayed else None
                    if wait is not None and wait <= 0:
                        break
                    self._due.wait(wait)
                if self._stopped.is_set():
                    return
                _, _, step = heapq.heappop(self._delayed)
            self._submit(step)

    def _submit(self, step: Step) -> None:
        try:
            self._executor.submit(self._guarded, step)
        except RuntimeError:  # shut down: the process is stopping
            self._alive(step, -1)
            log.error(
                "shutting down: a step of job %s was not run; the job stays unfinished and "
                "running the action again is safe", step.job_id,
            )

    def _guarded(self, step: Step) -> None:
        """Run a step; an escaping error is logged, never lost."""
        try:
            self._execute(step, self)
        except Exception:
            log.exception("a background step of job %s crashed", step.job_id)
        finally:
            self._alive(step, -1)

