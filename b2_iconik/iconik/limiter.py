"""The instance's budget of requests to iconik, shared by every thread: clicks go first.

iconik counts requests per application in a sliding second; this is where the plugin counts them
the same way, and where a click's calls overtake background work (DESIGN §6). The budget is pure
bookkeeping: it sends nothing (:mod:`.pool` and :mod:`.retry` draw on it for every request).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

#: The lanes of the instance's request budget: answering a click (iconik waits for the answer,
#: and gives up after about 10 s) and background steps (nobody waits on one request).
CLICK, BACKGROUND = "click", "background"
#: The share of the budget background steps always leave to clicks (at least one request).
CLICK_RESERVE = 0.05
#: The most they leave while clicks come in bursts: three quarters of the budget.
CLICK_RESERVE_MAX = 0.75
#: How long a burst of clicks keeps room reserved for the next one.
CLICK_MEMORY_SECONDS = 5.0
#: The room kept after a burst, per click in it. Half as much again as the burst: iconik counts
#: a burst's requests as it gets to them, spread later than they were sent, so when bursts come
#: a second apart, iconik's count of one second holds part of the last burst as well as the new
#: one (measured on the sandbox with bursts of 20 a second apart: 429s with room for 1.0 and
#: 1.25 times the burst).
CLICK_HEADROOM = 1.5

#: The fewest background requests that may go at once (more when the budget is large).
BACKGROUND_BURST = 3


class RateLimiter:
    """The instance's budget of requests to iconik, shared by every thread, clicks first.

    iconik counts requests in a sliding second (about 50 a second per user and application), so
    the budget is counted the same way: never more than ``max_rps`` requests in any one second
    (for a rate under one a second, one request per ``1 / max_rps`` seconds).

    Two lanes share it. A click's own calls (:data:`CLICK`) must not queue behind work already
    accepted, since iconik gives up on an answer after about 10 s:

    * a waiting click is served before any waiting background request;
    * background steps (:data:`BACKGROUND`) leave part of each second free for clicks: at least
      :data:`CLICK_RESERVE` of it, and after a burst of clicks room for such a burst and a bit
      more (:data:`CLICK_HEADROOM`, up to :data:`CLICK_RESERVE_MAX` of the budget) for
      :data:`CLICK_MEMORY_SECONDS`, so the next burst finds its room free instead of waiting for
      background requests to age out of the second. Once clicks stop, background steps get the
      budget back.

    Background requests are also spaced evenly (a burst of a tenth of a second's room allowed, and
    at least three), so they never reach iconik in bursts and the room they leave frees up
    evenly. Within a lane, requests are served
    in arrival order. After a 429, :meth:`pause` holds background requests until iconik's
    ``Retry-After`` has passed: iconik said the budget is spent, whatever this instance counted.

    Args:
        max_rps: the most requests in any one second (``ICONIK_MAX_RPS``).
        reserve, reserve_max: the least and the most share of each second kept for clicks.
        memory: seconds a burst of clicks keeps its room reserved.
        clock: monotonic seconds (tests pass a fake clock with :meth:`ready_in`).
    """

    def __init__(
        self,
        max_rps: float,
        reserve: float = CLICK_RESERVE,
        reserve_max: float = CLICK_RESERVE_MAX,
        memory: float = CLICK_MEMORY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_rps > 0:
            raise ValueError(f"max_rps must be positive, not {max_rps!r}")
        self.window = max(1.0, 1.0 / max_rps)
        self.capacity = max(1, math.floor(max_rps * self.window + 1e-9))
        most = self.capacity - 1  # background steps always keep one request a window
        self.reserve_min = min(most, math.ceil(self.capacity * reserve)) if reserve > 0 else 0
        self.reserve_max = max(self.reserve_min, min(most, math.floor(self.capacity * reserve_max)))
        self.memory = memory
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._sent_background: deque[float] = deque()
        self._sent_clicks: deque[float] = deque()
        self._bursts: deque[tuple[float, int]] = deque()  # (when, clicks in the second before)
        self._next_background = 0.0
        self._paused_until = 0.0
        self._waiting: dict[str, deque[threading.Condition]] = {
            CLICK: deque(),
            BACKGROUND: deque(),
        }

    def __repr__(self) -> str:
        return (
            f"RateLimiter({self.capacity} per {self.window:g} s, "
            f"{self.reserve_min} to {self.reserve_max} kept for clicks)"
        )

    def acquire(self, lane: str = BACKGROUND) -> None:
        """Wait until a request of this lane may be sent, and count it as sent."""
        lane = CLICK if lane == CLICK else BACKGROUND
        with self._lock:
            turn = threading.Condition(self._lock)
            queue = self._waiting[lane]
            queue.append(turn)
            try:
                while True:
                    now = self._clock()
                    wait = self._wait(lane, turn, now)
                    if wait is not None and wait < 1e-6:  # not worth sleeping for
                        self._send(lane, now)
                        return
                    turn.wait(wait)
            finally:
                queue.remove(turn)
                self._wake()

    def pause(self, seconds: float) -> None:
        """Send no background request for this long (iconik answered 429 with Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def ready_in(self, lane: str = BACKGROUND) -> float:
        """Seconds until a request of this lane could be sent, were none waiting."""
        with self._lock:
            now = self._clock()
            return self._ready(CLICK if lane == CLICK else BACKGROUND, now) - now

    def reserved(self) -> int:
        """Requests of each window background steps leave to clicks now."""
        with self._lock:
            return self._reserved(self._clock())

    def _reserved(self, now: float) -> int:
        while self._bursts and self._bursts[0][0] <= now - self.memory:
            self._bursts.popleft()
        burst = self._bursts[0][1] if self._bursts else 0
        return min(self.reserve_max, max(self.reserve_min, math.ceil(burst * CLICK_HEADROOM)))

    def _wait(self, lane: str, turn: threading.Condition, now: float) -> float | None:
        """Seconds this waiter must still wait, or None until another waiter wakes it."""
        if self._waiting[lane][0] is not turn:
            return None
        if lane == BACKGROUND and self._waiting[CLICK]:
            return None
        return max(0.0, self._ready(lane, now) - now)

    def _ready(self, lane: str, now: float) -> float:
        """When the budget next allows a request of this lane."""
        for sent in (self._sent, self._sent_background, self._sent_clicks):
            while sent and sent[0] <= now - self.window:
                sent.popleft()
        ready = now
        if len(self._sent) >= self.capacity:
            ready = self._sent[0] + self.window
        if lane == BACKGROUND:
            room = self.capacity - self._reserved(now)
            if len(self._sent_background) >= room:
                ready = max(
                    ready, self._sent_background[len(self._sent_background) - room] + self.window
                )
            burst = max(BACKGROUND_BURST, room // 10)
            ready = max(
                ready, self._next_background - (burst - 1) * self.window / room, self._paused_until
            )
        return ready

    def _send(self, lane: str, now: float) -> None:
        self._sent.append(now)
        if lane == CLICK:
            self._sent_clicks.append(now)
            # Keep the largest recent bursts first: a monotonic queue of (when, size).
            burst = len(self._sent_clicks)
            while self._bursts and self._bursts[-1][1] <= burst:
                self._bursts.pop()
            self._bursts.append((now, burst))
            return
        self._sent_background.append(now)
        room = self.capacity - self._reserved(now)
        self._next_background = max(self._next_background, now) + self.window / room

    def _wake(self) -> None:
        """Let the first waiter of each lane look at the budget again."""
        for queue in self._waiting.values():
            if queue:
                queue[0].notify()


@dataclass
class Budget:
    """What one client draws on: the instance's limiter (or none), in one lane."""

    limiter: RateLimiter | None
    lane: str = BACKGROUND

    def take(self) -> None:
        if self.limiter is not None:
            self.limiter.acquire(self.lane)

    def pause(self, seconds: float) -> None:
        if self.limiter is not None:
            self.limiter.pause(seconds)
