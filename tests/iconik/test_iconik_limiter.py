"""The request-rate cap: the shared limiter and pool (b2_iconik.iconik.{limiter,pool})."""

from __future__ import annotations

import threading
import time

import pytest
import responses
from pytest_httpserver import HTTPServer

from b2_iconik.iconik import pool
from b2_iconik.iconik.limiter import BACKGROUND, CLICK, CLICK_MEMORY_SECONDS, RateLimiter
from b2_iconik.iconik.pool import shared_limiter
from tests.iconik.support import (
    BULK,
    JOB,
    JOBS,
    base_of,
    fast_client,
)

# -- the request-rate cap --------------------------------------------------------------------------


def test_shared_limiter_is_shared_per_rate() -> None:
    assert shared_limiter(17.0) is shared_limiter(17.0)
    assert shared_limiter(17.0) is shared_limiter(17)
    assert shared_limiter(17.0) is not shared_limiter(18.0)
    assert shared_limiter(0.5) is shared_limiter(0.5)


def test_clients_share_one_limiter(mock: responses.RequestsMock) -> None:
    with fast_client(max_rps=23.0) as a, fast_client(max_rps=23.0) as b:
        adapter_a = a.session.get_adapter(f"{JOBS}{JOB}/")
        adapter_b = b.session.get_adapter(f"{JOBS}{JOB}/")
        storages_a = a.session.get_adapter(BULK)
    assert adapter_a.budget.limiter is adapter_b.budget.limiter is shared_limiter(23.0)
    assert storages_a.budget is adapter_a.budget


def test_clients_share_one_connection_pool_that_outlives_each(local: HTTPServer) -> None:
    """A click or a step does not open connections of its own: all clients share one pool."""
    local.expect_request(f"/API/jobs/v1/jobs/{JOB}/").respond_with_json({"id": JOB})
    with fast_client(base_of(local)) as a:
        a.get_job(JOB)
        pool = a.session.get_adapter(base_of(local) + "/API/").poolmanager
    assert len(pool.pools) == 1, "closing a client keeps the shared pool's connections"
    with fast_client(base_of(local)) as b:
        assert b.session.get_adapter(base_of(local) + "/API/").poolmanager is pool
        assert b.get_job(JOB) == {"id": JOB}


def test_a_client_draws_on_the_background_lane_unless_told() -> None:
    with fast_client(max_rps=10) as c:
        assert c.lane == BACKGROUND
        c.use_lane(CLICK)
        assert c.lane == CLICK
        with pytest.raises(ValueError, match="lane"):
            c.use_lane("fast")


def test_max_rps_paces_requests(local: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 5 requests a second, the 6th and 7th requests wait for the next second."""
    monkeypatch.setattr(pool, "_limiters", {})  # a fresh budget, untouched by other tests
    local.expect_request(f"/API/jobs/v1/jobs/{JOB}/").respond_with_json({"id": JOB})
    with fast_client(base_of(local), max_rps=5) as c:
        started = time.monotonic()
        for _ in range(7):
            assert c.get_job(JOB) == {"id": JOB}
        elapsed = time.monotonic() - started
    assert len(local.log) == 7
    assert elapsed >= 0.9


def test_no_cap_without_max_rps(local: HTTPServer) -> None:
    local.expect_request(f"/API/jobs/v1/jobs/{JOB}/").respond_with_json({"id": JOB})
    with fast_client(base_of(local)) as c:
        # No budget to wait on at all (a wall-clock bound would break on a loaded machine).
        adapter = c.session.get_adapter(base_of(local) + "/API/")
        assert isinstance(adapter, pool.RateLimitedAdapter)
        assert adapter.budget.limiter is None
        for _ in range(7):
            assert c.get_job(JOB) == {"id": JOB}
    assert len(local.log) == 7


def test_retries_count_against_the_rate_cap(
    local: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 2 requests a second, 4 requests on the wire (3 answered 429) take at least a second."""
    monkeypatch.setattr(pool, "_limiters", {})
    path = f"/API/jobs/v1/jobs/{JOB}/"
    for _ in range(3):
        local.expect_ordered_request(path).respond_with_data(
            "", status=429, headers={"Retry-After": "0"}
        )
    local.expect_ordered_request(path).respond_with_json({"id": JOB})
    with fast_client(base_of(local), max_rps=4) as c:  # 3 a second for background requests
        started = time.monotonic()
        assert c.get_job(JOB) == {"id": JOB}
        elapsed = time.monotonic() - started
    assert len(local.log) == 4
    assert elapsed >= 0.9


def test_a_429_slows_every_thread_for_its_retry_after(
    local: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One thread's 429 (Retry-After: 1) holds another thread's request back as well."""
    first, other = f"/API/jobs/v1/jobs/{JOB}/", "/API/jobs/v1/jobs/other/"
    local.expect_oneshot_request(first).respond_with_data(
        "", status=429, headers={"Retry-After": "1"})
    local.expect_oneshot_request(first).respond_with_json({"id": JOB})
    local.expect_request(other).respond_with_json({"id": "other"})
    limiter = shared_limiter(100)
    paused = threading.Event()
    pause_ends: list[float] = []
    pause = limiter.pause

    def pause_and_tell(seconds: float) -> None:
        # The pause cannot end before this: the limiter counts it from after this moment.
        pause_ends.append(time.monotonic() + seconds)
        pause(seconds)
        paused.set()

    monkeypatch.setattr(limiter, "pause", pause_and_tell)
    with fast_client(base_of(local), max_rps=100) as a, fast_client(base_of(local),
                                                                    max_rps=100) as b:
        thread = threading.Thread(target=a.get_job, args=(JOB,))
        thread.start()
        # Wait for the pause itself to be in force (A has had its 429 and paused the budget),
        # not for the server to have answered: B could otherwise go out in between.
        assert paused.wait(30), "client A's 429 did not pause the budget"
        assert b.get_job("other") == {"id": "other"}
        sent = time.monotonic()
        thread.join(30)
    assert not thread.is_alive()
    assert sent >= pause_ends[0], "B's request went out while the 429's pause was in force"


# -- the limiter itself ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_is_counted_per_second_with_a_reserve_for_clicks() -> None:
    limiter = RateLimiter(45)
    assert (limiter.window, limiter.capacity) == (1.0, 45)
    assert (limiter.reserve_min, limiter.reserve_max) == (3, 33)
    slow = RateLimiter(0.5)
    assert (slow.window, slow.capacity, slow.reserve_min, slow.reserve_max) == (2.0, 1, 0, 0)
    assert RateLimiter(12.5).capacity == 12


def test_clicks_may_use_the_whole_second_background_never_the_reserve() -> None:
    clock = FakeClock()
    limiter = RateLimiter(45, clock=clock)
    sent = 0
    while clock.now + limiter.ready_in(BACKGROUND) < 100.99:  # all within one second
        clock.now += limiter.ready_in(BACKGROUND) + 1e-9
        limiter.acquire(BACKGROUND)
        sent += 1
    assert sent == 42, "background steps leave 3 requests a second to clicks"
    for _ in range(3):
        assert limiter.ready_in(CLICK) == 0
        limiter.acquire(CLICK)
    assert limiter.ready_in(CLICK) > 0, "and no more than 45 in any second, clicks included"


def test_background_requests_are_spaced_evenly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(45, clock=clock)
    for _ in range(4):  # a burst of a tenth of the second's 42 at most
        limiter.acquire(BACKGROUND)
    assert limiter.ready_in(BACKGROUND) == pytest.approx(1 / 42)
    fast = RateLimiter(300, clock=clock)
    for _ in range(28):
        assert fast.ready_in(BACKGROUND) < 1e-9
        fast.acquire(BACKGROUND)
    assert fast.ready_in(BACKGROUND) == pytest.approx(1 / 285)


def test_a_burst_of_clicks_keeps_room_for_the_next_one_for_a_while() -> None:
    clock = FakeClock()
    limiter = RateLimiter(45, clock=clock)
    for _ in range(20):
        limiter.acquire(CLICK)
    assert limiter.reserved() == 30  # the burst, and half as much again
    clock.now += CLICK_MEMORY_SECONDS + 0.01
    assert limiter.reserved() == 3, "once clicks stop, background steps get the budget back"


def test_a_pause_holds_background_requests_not_clicks() -> None:
    clock = FakeClock()
    limiter = RateLimiter(45, clock=clock)
    limiter.pause(2.0)
    assert limiter.ready_in(BACKGROUND) == pytest.approx(2.0)
    assert limiter.ready_in(CLICK) == 0


def test_a_waiting_click_goes_before_waiting_background_requests() -> None:
    limiter = RateLimiter(4)
    for _ in range(4):  # the whole second, spent
        limiter.acquire(CLICK)
    order: list[str] = []

    def take(lane: str) -> None:
        limiter.acquire(lane)
        order.append(lane)

    background = threading.Thread(target=take, args=(BACKGROUND,))
    background.start()
    # The background request waits first: wait until it is queued in the limiter, not a sleep.
    deadline = time.monotonic() + 30
    while not limiter._waiting[BACKGROUND]:
        assert time.monotonic() < deadline, "the background request never waited"
        time.sleep(0.005)
    click = threading.Thread(target=take, args=(CLICK,))
    click.start()
    background.join(30)
    click.join(30)
    assert order == [CLICK, BACKGROUND]
