"""The in-process runner (b2_iconik.engine.runners.ThreadRunner): background steps, delays, names.

The execute function is a fake that records which steps ran (and when) and queues the next
step; the tests wait on events with timeouts instead of sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from b2_iconik.engine.runners import Queue, ThreadRunner
from b2_iconik.rules.payload import ActionOptions
from b2_iconik.rules.steps import Step

B2 = "22222222-2222-2222-2222-222222222222"
LL = "33333333-3333-3333-3333-333333333333"
OPTIONS = ActionOptions(B2, LL, ("ORIGINAL",))
WAIT = 30.0  # the most any test waits for something that should happen at once (generous:
# a loaded machine may take seconds; a passing test never waits this long)


def step(job_id: str, seq: int = 0, not_before: float = 0.0) -> Step:
    return Step("add", job_id, OPTIONS, "token-abcdef", seq=seq, not_before=not_before)


class Recorder:
    """A fake ``execute``: records (job id, seq, time) and queues a successor by a rule."""

    def __init__(self, successor: Callable[[Step], Step | None] = lambda s: None) -> None:
        self.ran: list[tuple[str, int, float]] = []
        self.successor = successor
        self._events: dict[tuple[str, int], threading.Event] = {}
        self._lock = threading.Lock()

    def event(self, job_id: str, seq: int = 0) -> threading.Event:
        with self._lock:
            return self._events.setdefault((job_id, seq), threading.Event())

    def __call__(self, s: Step, queue: Queue) -> None:
        with self._lock:
            self.ran.append((s.job_id, s.seq, time.monotonic()))
        following = self.successor(s)
        if following is not None:
            queue.enqueue(following)
        self.event(s.job_id, s.seq).set()

    def when(self, job_id: str, seq: int = 0) -> float:
        return next(t for j, d, t in self.ran if (j, d) == (job_id, seq))


@pytest.fixture
def runners() -> Iterator[list[ThreadRunner]]:
    """Runners made by a test, shut down after it."""
    made: list[ThreadRunner] = []
    yield made
    for r in made:
        r.shutdown()


def make(
    runners: list[ThreadRunner], execute: Callable[[Step, Queue], None], **kwargs: Any
) -> ThreadRunner:
    r = ThreadRunner(execute, **kwargs)
    runners.append(r)
    return r


# -- start -----------------------------------------------------------------------------------------


def test_start_runs_in_the_background(runners: list[ThreadRunner]) -> None:
    gate = threading.Event()
    finished = threading.Event()

    def execute(s: Step, queue: Queue) -> None:
        gate.wait(WAIT)
        finished.set()

    runner = make(runners, execute)
    runner.start([step("J")])
    assert not finished.is_set()  # start returned while the step is held at the gate
    gate.set()
    assert finished.wait(WAIT)


def test_queued_successors_run(runners: list[ThreadRunner]) -> None:
    recorder = Recorder(lambda s: s.next() if s.seq < 3 else None)
    runner = make(runners, recorder)
    runner.start([step("J")])
    assert recorder.event("J", 3).wait(WAIT)
    assert [(j, d) for j, d, _ in recorder.ran] == [("J", 0), ("J", 1), ("J", 2), ("J", 3)]


def test_a_name_is_taken_once(runners: list[ThreadRunner]) -> None:
    recorder = Recorder()
    runner = make(runners, recorder)
    assert runner.enqueue(step("J")) is True
    assert runner.enqueue(step("J")) is False  # the same step: refused, as Cloud Tasks does
    assert runner.enqueue(step("J", seq=1)) is True
    assert runner.claim("a-lease") is True and runner.claim("a-lease") is False
    assert recorder.event("J", 1).wait(WAIT)
    assert [(j, d) for j, d, _ in recorder.ran].count(("J", 0)) <= 1


def test_the_first_of_two_racing_claims_wins(runners: list[ThreadRunner]) -> None:
    runner = make(runners, Recorder())
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(runner.claim("end")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert sorted(results) == [False] * 7 + [True]


def test_successor_runs_on_a_pool_thread(runners: list[ThreadRunner]) -> None:
    names: list[str] = []
    done = threading.Event()

    def execute(s: Step, queue: Queue) -> None:
        names.append(threading.current_thread().name)
        if s.seq == 0:
            queue.enqueue(s.next())
            return
        done.set()

    runner = make(runners, execute)
    runner.start([step("J")])
    assert done.wait(WAIT)
    assert all(n.startswith("b2-iconik") for n in names)


def test_delayed_step_waits(runners: list[ThreadRunner]) -> None:
    recorder = Recorder()
    runner = make(runners, recorder)
    started = time.monotonic()
    runner.start([step("J", not_before=time.time() + 0.2)])
    assert recorder.event("J").wait(WAIT)
    assert recorder.when("J") - started >= 0.18


def test_delayed_successor_waits(runners: list[ThreadRunner]) -> None:
    recorder = Recorder(
        lambda s: s.next(not_before=time.time() + 0.2) if s.seq == 0 else None
    )
    runner = make(runners, recorder)
    runner.start([step("J")])
    assert recorder.event("J", 1).wait(WAIT)
    assert recorder.when("J", 1) - recorder.when("J", 0) >= 0.18


def test_delayed_step_holds_no_pool_thread(runners: list[ThreadRunner]) -> None:
    """With one worker, an immediate step runs while a delayed one waits for its time."""
    recorder = Recorder()
    runner = make(runners, recorder, workers=1)
    # Due long after the test: were it holding the only pool thread, "now" could never run.
    runner.start([step("later", not_before=time.time() + 3600)])
    runner.start([step("now")])
    assert recorder.event("now").wait(WAIT)
    assert not recorder.event("later").is_set()
    assert [j for j, _, _ in recorder.ran] == ["now"]


def test_injected_clock_sets_the_delay(runners: list[ThreadRunner]) -> None:
    recorder = Recorder()
    runner = make(runners, recorder, clock=lambda: 1000.0)
    runner.start([step("past", not_before=999.0), step("soon", not_before=1000.15)])
    assert recorder.event("past").wait(WAIT)
    assert recorder.event("soon").wait(WAIT)
    assert recorder.when("soon") - recorder.when("past") >= 0.1


def test_crash_is_logged_and_runner_lives_on(
    runners: list[ThreadRunner], caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()

    def execute(s: Step, queue: Queue) -> None:
        if s.job_id == "bad":
            raise RuntimeError("step exploded")
        recorder(s, queue)

    runner = make(runners, execute, workers=1)
    with caplog.at_level(logging.ERROR, logger="b2_iconik.engine.runners"):
        runner.start([step("bad"), step("good")])
        assert recorder.event("good").wait(WAIT)
        runner.start([step("good", seq=1)])
        assert recorder.event("good", 1).wait(WAIT)
    crashes = [r for r in caplog.records if r.name == "b2_iconik.engine.runners"]
    assert len(crashes) == 1
    assert "bad" in crashes[0].getMessage()
    assert crashes[0].exc_info is not None
    assert "step exploded" in str(crashes[0].exc_info[1])


# -- shutdown --------------------------------------------------------------------------------------


def test_shutdown_cancels_pending_timers() -> None:
    recorder = Recorder()
    runner = ThreadRunner(recorder)
    # Due in 1 s: only a pause of a whole second between these two lines could let it run
    # before the shutdown (0.2 s was within reach of a loaded machine).
    runner.start([step("later", not_before=time.time() + 1.0)])
    runner.shutdown()
    assert not recorder.event("later").wait(1.5)
    assert recorder.ran == []


def test_shutdown_waits_for_running_steps() -> None:
    finished = threading.Event()
    running = threading.Event()

    def execute(s: Step, queue: Queue) -> None:
        running.set()
        time.sleep(0.1)
        finished.set()

    runner = ThreadRunner(execute)
    runner.start([step("J")])
    assert running.wait(WAIT)
    runner.shutdown()
    assert finished.is_set()


def test_successor_after_shutdown_is_logged_not_lost_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running, release = threading.Event(), threading.Event()

    def execute(s: Step, queue: Queue) -> None:
        if s.job_id == "first":
            running.set()
            release.wait(WAIT)
            queue.enqueue(step("second"))

    runner = ThreadRunner(execute)
    runner.start([step("first")])
    assert running.wait(WAIT)
    stopper = threading.Thread(target=runner.shutdown)
    stopper.start()
    deadline = time.monotonic() + WAIT  # until the pool refuses new work, not a fixed sleep
    while not runner._executor._shutdown and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.005)
    release.set()
    stopper.join(WAIT)
    assert any("second" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


# -- heartbeat -------------------------------------------------------------------------------------


def test_actions_with_steps_here_get_a_heartbeat_until_they_have_none(
    runners: list[ThreadRunner],
) -> None:
    beats: list[str] = []
    beat = threading.Event()

    def heartbeat(s: Step) -> None:
        beats.append(s.job_id)
        beat.set()

    recorder = Recorder()
    runner = make(runners, recorder, heartbeat=heartbeat, heartbeat_seconds=0.05)
    runner.start([step("waiting", not_before=time.time() + 60)])
    assert runner.live_jobs() == ["waiting"]
    assert beat.wait(WAIT)  # a job whose re-check waits here still shows it is alive
    runner.start([step("quick")])
    assert recorder.event("quick").wait(WAIT)
    deadline = time.monotonic() + WAIT
    while "quick" in runner.live_jobs() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.live_jobs() == ["waiting"]
    assert set(beats) <= {"waiting", "quick"} and "waiting" in beats


def test_end_and_watchdog_steps_are_claimed_not_run_in_process(runners: list[ThreadRunner]) -> None:
    """Both are safety nets for work that dies; in-process they would die with it."""
    from dataclasses import replace

    from b2_iconik.rules.steps import END, WATCHDOG

    recorder = Recorder()
    runner = make(runners, recorder, heartbeat=lambda s: None)
    nets = [replace(step("done"), kind=END), replace(step("done"), kind=WATCHDOG)]
    assert [runner.enqueue(s) for s in nets] == [True, True]
    assert [runner.enqueue(s) for s in nets] == [False, False]  # the claim holds
    runner.start([step("marker")])
    assert recorder.event("marker").wait(WAIT)
    assert [j for j, _, _ in recorder.ran] == ["marker"] and runner.live_jobs() == []


def test_many_waiting_steps_hold_one_thread_not_one_each(runners: list[ThreadRunner]) -> None:
    """Every in-process action leaves delayed checks (its end's safety net, its watchdog): a
    thread per check would pile up with the actions."""
    runner = make(runners, Recorder())
    before = threading.active_count()
    later = time.time() + 3600
    runner.start([step(f"job-{n}", not_before=later) for n in range(300)])
    assert threading.active_count() - before <= 1
