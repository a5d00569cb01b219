"""A thin client for the parts of iconik's API the plugin uses.

One :class:`IconikClient` per action: tokens are per user, so the session carries that user's
``Auth-Token``. The session's adapter owns the cross-cutting rules of DESIGN §6: a timeout on every
call, urllib3's ``Retry`` for 429/5xx and connection errors (honouring ``Retry-After``), and an
instance-wide request-rate cap (:class:`RateLimiter`) in which answering a click goes before
background work. Every client of the instance shares one pool of connections, so a click or a step
does not open (and, against the real iconik, handshake) connections of its own. Public methods are
iconik operations, not ``get``/``post``; every ``requests`` failure is translated into
:mod:`b2_iconik.base.errors` here and nowhere else. The user's token goes to ``ICONIK_URL`` only:
``next_url`` is used for its path, and redirects are never followed.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.util.retry import Retry

from b2_iconik.base.errors import IconikHTTPError, IconikUnavailable

log = logging.getLogger(__name__)

Json = dict[str, Any]

#: (connect, read) seconds for every call; iconik's slowest reads (big collections) fit in 30 s.
DEFAULT_TIMEOUT = (3.05, 30.0)
#: Page size asked of list endpoints: iconik's default of 10 would cost ten times the calls.
PER_PAGE = 100
#: Most ids iconik takes in one bulk body.
BULK_LIMIT = 500
#: A loop guard: no real listing the plugin walks has this many pages.
MAX_PAGES = 100_000
#: iconik's automations collection (the Automation engine's API).
AUTOMATIONS = "/API/automations/v1/automations/"

#: Connections to iconik kept open per instance, shared by every client: enough for every thread
#: that may call iconik at once (worker threads times Remove's parallel checks, plus the clicks).
POOL_SIZE = 64
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

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


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
class _Budget:
    """What one client draws on: the instance's limiter (or none), in one lane."""

    limiter: RateLimiter | None
    lane: str = BACKGROUND

    def take(self) -> None:
        if self.limiter is not None:
            self.limiter.acquire(self.lane)

    def pause(self, seconds: float) -> None:
        if self.limiter is not None:
            self.limiter.pause(seconds)


class _IconikRetry(Retry):
    """urllib3's Retry, also retrying 429 for POST.

    A 429 means iconik refused the request before doing anything, so repeating it is always safe,
    whereas a 5xx on a POST may have half-happened and is retried only where the adapter allows
    POST (bulk copies, which iconik deduplicates).
    """

    #: The client's budget; set on per-client subclasses (see :func:`_limited`), because urllib3
    #: rebuilds a Retry from its constructor arguments at every attempt.
    budget: _Budget | None = None

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.total:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def sleep(self, response: Any = None) -> None:
        """Back off, then wait for the budget: a retry is a request like any other.

        A 429 also pauses the instance's background requests for its ``Retry-After`` (or this
        backoff), not only this thread's: iconik's budget is shared, so every thread must slow.
        """
        if self.budget is not None and response is not None and response.status == 429:
            self.budget.pause(self.get_retry_after(response) or self.get_backoff_time())
        super().sleep(response)
        if self.budget is not None:
            self.budget.take()


def _limited(policy: Retry, budget: _Budget) -> Retry:
    """The same policy, whose retries also draw from the client's budget."""
    if budget.limiter is None or not isinstance(policy, _IconikRetry):
        return policy
    kind = type("_LimitedRetry", (type(policy),), {"budget": budget})
    limited = policy.new()
    limited.__class__ = kind
    return limited


def retry_policy(total: int = 6, backoff_factor: float = 0.5, post: bool = False) -> Retry:
    """The retry policy for iconik calls: exponential backoff with jitter, Retry-After honoured.

    Args:
        total: how many retries at the most.
        backoff_factor: the first backoff in seconds; it doubles each time, up to 30 s.
        post: also retry POSTs on 5xx (only for calls iconik deduplicates).
    """
    methods = _IDEMPOTENT | {"POST"} if post else _IDEMPOTENT
    return _IconikRetry(
        total=total,
        backoff_factor=backoff_factor,
        backoff_max=30,
        backoff_jitter=backoff_factor / 2,
        status_forcelist=_RETRY_STATUSES,
        allowed_methods=methods,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class RateLimitedAdapter(HTTPAdapter):
    """An HTTPAdapter that waits for the client's budget before each request.

    Its connections come from the instance's shared pool (:func:`shared_pool`), so closing a
    client leaves them open for the next one.
    """

    def __init__(self, budget: _Budget | None, **kwargs: Any) -> None:
        self.budget = budget or _Budget(None)
        kwargs.setdefault("pool_maxsize", POOL_SIZE)
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self.poolmanager = shared_pool(connections, maxsize, block, **pool_kwargs)

    def close(self) -> None:
        """Close only this adapter's proxies: the shared pool outlives the client."""
        for proxy in self.proxy_manager.values():
            proxy.clear()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self.budget.take()
        return super().send(request, stream, timeout, verify, cert, proxies)


_limiters: dict[float, RateLimiter] = {}
_pools: dict[tuple[Any, ...], PoolManager] = {}
_shared_lock = threading.Lock()


def shared_limiter(max_rps: float) -> RateLimiter:
    """The limiter all threads of this instance share for a given rate (created once).

    iconik's limit (about 50 requests a second) is per application, so every action's client on
    this instance must draw from one budget, not one each.
    """
    with _shared_lock:
        limiter = _limiters.get(max_rps)
        if limiter is None:
            limiter = _limiters[max_rps] = RateLimiter(max_rps)
        return limiter


def shared_pool(connections: int, maxsize: int, block: bool, **pool_kwargs: Any) -> PoolManager:
    """The connection pool every client of this instance shares (created on first use).

    Created lazily, in the process that uses it: functions-framework imports ``main`` before it
    forks its worker, and connections must not be shared across processes.
    """
    key = (connections, maxsize, block, tuple(sorted(pool_kwargs.items())))
    with _shared_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = PoolManager(
                num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
            )
        return pool


class IconikClient:
    """iconik's Assets, Files, Jobs and Search APIs as the plugin uses them (and Automations, for
    the admin tool's policies).

    Args:
        base_url: ``ICONIK_URL``; every request, including ``next_url`` pages, goes only here.
        app_id: ``ICONIK_ID``, sent as ``App-ID``.
        token: the acting user's ``auth_token``, sent as ``Auth-Token`` (never logged).
        max_rps: the instance-wide request-rate cap, or None for none.
        timeout: (connect, read) seconds for each call.
        retry: the retry policy for idempotent calls (tests pass a fast one).
        copy_retry: the policy for bulk copies, which may also retry POST on 5xx.
        lane: which lane of the budget the requests draw on (see :meth:`use_lane`).
    """

    def __init__(
        self,
        base_url: str,
        app_id: str,
        token: str,
        *,
        max_rps: float | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        copy_retry: Retry | None = None,
        lane: str = BACKGROUND,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._budget = _Budget(shared_limiter(max_rps) if max_rps else None, lane)
        self.session = requests.Session()
        self.session.headers.update(
            {"App-ID": app_id, "Auth-Token": token, "Accept": "application/json"}
        )
        self.session.mount(
            self.base_url + "/",
            RateLimitedAdapter(
                self._budget, max_retries=_limited(retry or retry_policy(), self._budget)
            ),
        )
        self.session.mount(
            self.base_url + "/API/files/v1/storages/",
            RateLimitedAdapter(
                self._budget,
                max_retries=_limited(copy_retry or retry_policy(post=True), self._budget),
            ),
        )

    def __repr__(self) -> str:
        return f"IconikClient({self.base_url!r})"

    @property
    def lane(self) -> str:
        """The lane of the instance's budget this client's requests draw on."""
        return self._budget.lane

    def use_lane(self, lane: str) -> None:
        """Draw on this lane from now on: :data:`CLICK` while answering a click."""
        if lane not in (CLICK, BACKGROUND):
            raise ValueError(f"no lane {lane!r}: {CLICK!r} or {BACKGROUND!r}")
        self._budget.lane = lane

    def use_token(self, token: str) -> None:
        """Act with another token of the same user from now on (after renewing it)."""
        self.session.headers["Auth-Token"] = token

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    def __enter__(self) -> IconikClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- storages --------------------------------------------------------------------------

    def get_storage(self, storage_id: str) -> Json | None:
        """The storage, or None when iconik does not know it."""
        return self._call("GET", f"/API/files/v1/storages/{storage_id}/", missing_ok=True)

    def list_storages(self) -> list[Json]:
        """Every storage the user can see."""
        return list(self._pages("/API/files/v1/storages/", {"per_page": PER_PAGE}))

    def storage_files(self, storage_id: str) -> Iterator[Json]:
        """Every file iconik lists on a storage, one page (its envelope) at a time.

        A scroll (``scroll=true``): pages of a changing storage do not shift under the reader
        as page numbers would. ``next_url`` is followed; should iconik give only a
        ``scroll_id``, it is passed back until ``total`` files were read or a page is empty.

        Raises:
            IconikHTTPError: 404 for an unknown storage, 403 without ``can_list_storage_files``.
        """
        path = f"/API/files/v1/storages/{storage_id}/files/"
        params: dict[str, Any] | None = {"per_page": PER_PAGE, "scroll": "true"}
        seen: set[str] = set()
        read = 0
        for _ in range(MAX_PAGES):
            page = self._call("GET", path, params=params) or {}
            objects = page.get("objects") or []
            read += len(objects)
            yield page
            total = page.get("total")
            next_url = page.get("next_url")
            if next_url:
                path, params = _local_path(next_url), None
            elif page.get("scroll_id") and objects and (not isinstance(total, int) or read < total):
                path = f"/API/files/v1/storages/{storage_id}/files/"
                params = {"per_page": PER_PAGE, "scroll": "true", "scroll_id": page["scroll_id"]}
            else:
                return
            key = path + repr(sorted((params or {}).items())) + str(read)
            if key in seen:
                raise IconikHTTPError(200, [f"next page repeats {path}"], "GET", path)
            seen.add(key)
        raise IconikHTTPError(200, [f"more than {MAX_PAGES} pages"], "GET", path)

    def storage_files_page(self, storage_id: str, page: int, per_page: int = PER_PAGE) -> Json:
        """One page, by number, of the files iconik lists on a storage (its envelope: objects,
        page, pages, total...). Pages can be asked for in any order, or several at once.

        Raises:
            IconikHTTPError: 404 for an unknown storage or a page past the last.
        """
        path = f"/API/files/v1/storages/{storage_id}/files/"
        return self._call("GET", path, params={"per_page": per_page, "page": page}) or {}

    # -- copies ----------------------------------------------------------------------------

    def bulk_copy(
        self,
        destination_id: str,
        asset_ids: list[str],
        format_name: str,
        source_id: str | None = None,
        overwrite: bool | None = None,
    ) -> str:
        """Ask iconik to copy one format of up to 500 assets to a storage.

        ``overwrite``: sent when given (False: iconik must not replace a file set already on
        the destination; left out, iconik's default, which is also False).

        Returns:
            the id of the copy job iconik created.
        """
        if not 0 < len(asset_ids) <= BULK_LIMIT:
            raise ValueError(f"bulk_copy takes 1 to {BULK_LIMIT} asset ids, not {len(asset_ids)}")
        body: Json = {
            "object_ids": asset_ids,
            "object_type": "assets",
            "format_name": format_name,
            "allow_duplicate_transfers": False,
        }
        if source_id:
            body["preferred_original_storage_id"] = source_id
        if overwrite is not None:
            body["overwrite"] = overwrite
        answer = self._call("POST", f"/API/files/v1/storages/{destination_id}/bulk/", json=body)
        return str((answer or {}).get("job_id") or "")

    # -- formats, file sets, files ---------------------------------------------------------

    def asset_formats(self, asset_id: str) -> list[Json]:
        """Every format of the asset (empty when it has none)."""
        return self._list(f"/API/files/v1/assets/{asset_id}/formats/")

    def asset_file_sets(self, asset_id: str) -> list[Json]:
        """Every file set of the asset, all formats and storages, with ``file_count`` filled."""
        return self._list(f"/API/files/v1/assets/{asset_id}/file_sets/", file_count="true")

    def asset_files(self, asset_id: str) -> list[Json]:
        """Every file of the asset, all formats and storages."""
        return self._list(f"/API/files/v1/assets/{asset_id}/files/", generate_signed_url="false")

    def delete_file_set(self, asset_id: str, file_set_id: str) -> None:
        """Delete a file set, skipping the recycle bin (one call, not delete then purge).

        ``immediately=true`` is iconik's own "delete and purge at once" (files spec: "skip the
        recycle bin"). A file set that is already gone (404) counts as deleted, so a step that
        runs twice, or two actions on the same asset, do no harm.
        """
        path = f"/API/files/v1/assets/{asset_id}/file_sets/{file_set_id}/"
        self._call("DELETE", path, params={"immediately": "true"}, missing_ok=True)

    def get_asset(self, asset_id: str) -> Json | None:
        """The asset (for its title), or None when iconik does not know it."""
        return self._call("GET", f"/API/assets/v1/assets/{asset_id}/", missing_ok=True)

    # -- collections and saved searches ----------------------------------------------------

    def collection_contents(self, collection_id: str) -> Iterator[Json]:
        """The direct children (assets and collections) of a collection, every page.

        Raises:
            IconikHTTPError: 404 when the collection does not exist.
        """
        return self._pages(
            f"/API/assets/v1/collections/{collection_id}/contents/",
            {"per_page": PER_PAGE, "object_types": "assets,collections"},
        )

    def saved_search_results(self, search_id: str) -> Iterator[Json]:
        """The objects a saved search finds, every page."""
        return self._pages(f"/API/search/v1/search/saved/{search_id}/", {"per_page": PER_PAGE})

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, job: Json) -> str:
        """Create an iconik job; returns its id."""
        answer = self._call("POST", "/API/jobs/v1/jobs/", json=job) or {}
        job_id = answer.get("id")
        if not job_id:
            raise IconikHTTPError(200, ["job created without an id"], "POST", "/API/jobs/v1/jobs/")
        return str(job_id)

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Change some fields of a job (a partial PATCH); ``metadata`` keys are merged."""
        params = {"merge_metadata": "true"} if "metadata" in fields else None
        self._call("PATCH", f"/API/jobs/v1/jobs/{job_id}/", params=params, json=fields)

    def get_job(self, job_id: str) -> Json | None:
        """The job, or None when iconik does not know it."""
        return self._call("GET", f"/API/jobs/v1/jobs/{job_id}/", missing_ok=True)

    def child_jobs(self, parent_id: str, status: str | None = None) -> list[Json]:
        """The jobs iconik made under a parent job (a bulk copy's per-asset transfers)."""
        params: dict[str, Any] = {"parent_id": parent_id, "per_page": PER_PAGE}
        if status:
            params["status"] = status
        return list(self._pages("/API/jobs/v1/jobs/", params))

    def jobs_about(self, object_id: str) -> Iterator[Json]:
        """The CUSTOM jobs whose ``object_id`` is this one, page by page (as needed)."""
        params = {"object_id": object_id, "type": "CUSTOM", "per_page": PER_PAGE}
        return self._pages("/API/jobs/v1/jobs/", params)

    def started_jobs(self, most: int = 500) -> list[Json]:
        """The user's CUSTOM jobs still STARTED, newest first (at most ``most``)."""
        params = {"type": "CUSTOM", "status": "STARTED", "per_page": PER_PAGE}
        return list(itertools.islice(self._pages("/API/jobs/v1/jobs/", params), most))

    # -- the user's token ------------------------------------------------------------------

    def check_token(self) -> Json:
        """iconik's answer on the session's token (401 when it is no longer valid)."""
        return self._call("GET", "/API/auth/v1/auth/token/") or {}

    def new_token(self) -> Json:
        """A new token for the same user and application; the current one stays valid.

        Returns:
            iconik's TokenSchema: ``token`` and ``expires``.
        """
        return self._call("POST", "/API/auth/v1/auth/token/", json={}) or {}

    # -- custom actions --------------------------------------------------------------------

    def list_custom_actions(self) -> list[Json]:
        """Every custom action of the domain, all contexts."""
        return list(self._pages("/API/assets/v1/custom_actions/", {}))

    def create_custom_action(self, context: str, action: Json) -> Json:
        """Create a custom action in a context; returns it as iconik stored it."""
        return self._call("POST", f"/API/assets/v1/custom_actions/{context}/", json=action) or {}

    def update_custom_action(self, context: str, action_id: str, action: Json) -> Json:
        """Replace a custom action's fields; returns it as iconik stored it."""
        path = f"/API/assets/v1/custom_actions/{context}/{action_id}/"
        return self._call("PUT", path, json=action) or {}

    def delete_custom_action(self, context: str, action_id: str) -> None:
        """Delete a custom action; one already gone counts as deleted."""
        path = f"/API/assets/v1/custom_actions/{context}/{action_id}/"
        self._call("DELETE", path, missing_ok=True)

    # -- automations (policies) ------------------------------------------------------------

    def get_collection(self, collection_id: str) -> Json | None:
        """The collection, or None when iconik does not know it."""
        path = f"/API/assets/v1/collections/{collection_id}/"
        return self._call("GET", path, missing_ok=True)

    def list_automations(self) -> list[Json]:
        """Every automation of the domain, every page."""
        return list(self._pages(AUTOMATIONS, {}))

    def create_automation(self, automation: Json) -> Json:
        """Create an automation (201); returns it as iconik stored it, with its id."""
        return self._call("POST", AUTOMATIONS, json=automation) or {}

    def update_automation(self, automation_id: str, automation: Json) -> Json:
        """Replace an automation's fields (PUT); returns it as iconik stored it."""
        return self._call("PUT", f"{AUTOMATIONS}{automation_id}/", json=automation) or {}

    def patch_automation(self, automation_id: str, **fields: Any) -> Json:
        """Change some fields of an automation (PATCH), e.g. its ``status``."""
        return self._call("PATCH", f"{AUTOMATIONS}{automation_id}/", json=fields) or {}

    def delete_automation(self, automation_id: str) -> None:
        """Delete an automation (204); one already gone counts as deleted."""
        self._call("DELETE", f"{AUTOMATIONS}{automation_id}/", missing_ok=True)

    def estimate_automation(self, automation_id: str) -> Json:
        """iconik's estimate of a run on existing objects: ``{total, facets, errors}``."""
        return self._call("GET", f"{AUTOMATIONS}{automation_id}/runs/estimate/") or {}

    def run_automation(self, automation_id: str) -> None:
        """Run an automation on the existing objects it matches; iconik answers 202 at once."""
        self._call("POST", f"{AUTOMATIONS}{automation_id}/runs/")

    # -- plumbing --------------------------------------------------------------------------

    def _list(self, path: str, **params: str) -> list[Json]:
        """Every object of a listing whose 404 means "none" (formats, file sets, files)."""
        try:
            return list(self._pages(path, {"per_page": PER_PAGE, **params}))
        except IconikHTTPError as error:
            if error.status == 404:
                return []
            raise

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[Json]:
        """Yield every object of a paged listing by following ``next_url``.

        ``next_url`` is used only for its path and query, joined to ``ICONIK_URL``, so a
        listing can never send the user's token to another host.
        """
        seen: set[str] = set()
        page: Json | None = self._call("GET", path, params=params)
        for _ in range(MAX_PAGES):
            if not page:
                return
            yield from page.get("objects") or []
            next_url = page.get("next_url")
            if not next_url:
                return
            path = _local_path(next_url)
            if path in seen:
                raise IconikHTTPError(200, [f"next_url repeats {path}"], "GET", path)
            seen.add(path)
            page = self._call("GET", path)
        raise IconikHTTPError(200, [f"more than {MAX_PAGES} pages"], "GET", path)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Json | None = None,
        missing_ok: bool = False,
    ) -> Json | None:
        """Send one request; return its JSON body (None for 204 or a tolerated 404).

        Raises:
            IconikHTTPError: iconik answered an error status (after retries).
            IconikUnavailable: no answer: connection error, timeout or retries exhausted.
        """
        url = self.base_url + path
        try:
            # Never follow a redirect: requests would re-send the Auth-Token header to
            # whatever host Location names (it drops only Authorization across hosts).
            response = self.session.request(
                method,
                url,
                params=params,
                json=json,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            reason = type(error).__name__
            raise IconikUnavailable(f"iconik did not answer {method} {path}: {reason}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if 300 <= response.status_code < 400:
            # Not a success either: a redirected DELETE has deleted nothing.
            raise IconikHTTPError(
                response.status_code, ["redirected elsewhere; not followed"], method, path
            )
        if response.status_code >= 400:
            raise IconikHTTPError(response.status_code, _messages(response), method, path)
        if response.status_code == 204 or not response.content:
            return None
        try:
            body = response.json()
        except ValueError:
            raise IconikHTTPError(
                response.status_code, ["answer is not JSON"], method, path
            ) from None
        return body if isinstance(body, dict) else {"objects": body}


def _local_path(next_url: str) -> str:
    """The path and query of a ``next_url``, whatever host it names."""
    parts = urlsplit(next_url)
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    return path + (f"?{parts.query}" if parts.query else "")


def _messages(response: requests.Response) -> list[str]:
    """iconik's error messages from an ``{"errors": [...]}`` or ``{"errors": {...}}`` body."""
    try:
        body = response.json()
    except ValueError:
        return [response.reason or f"HTTP {response.status_code}"]
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        return [str(e) for e in errors]
    if isinstance(errors, dict):
        return [f"{k}: {v}" for k, v in errors.items()]
    if isinstance(body, dict) and body.get("message"):
        return [str(body["message"])]
    return [response.reason or f"HTTP {response.status_code}"]
