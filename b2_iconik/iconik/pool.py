"""What every client of an instance shares: its connections to iconik and its rate limiter.

One pool of connections per instance, so a click or a step does not open (and, against the real
iconik, handshake) connections of its own; one limiter per rate, since iconik's budget is per
application, not per client. Both are created lazily, in the process that uses them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager

from b2_iconik.iconik.limiter import Budget, RateLimiter

#: Connections to iconik kept open per instance, shared by every client: enough for every thread
#: that may call iconik at once (worker threads times Remove's parallel checks, plus the clicks).
POOL_SIZE = 64


class RateLimitedAdapter(HTTPAdapter):
    """An HTTPAdapter that waits for the client's budget before each request.

    Its connections come from the instance's shared pool (:func:`shared_pool`), so closing a
    client leaves them open for the next one.
    """

    def __init__(self, budget: Budget | None, **kwargs: Any) -> None:
        self.budget = budget or Budget(None)
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
