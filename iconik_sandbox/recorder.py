"""A log of every request the sandbox answered, for assertions on what a client sent.

Header values are never stored: the ``Auth-Token`` of a request is a user's credential, and the
plugin's tests check that tokens do not leak, so the sandbox must not be a place they leak to.
"""

from __future__ import annotations

import builtins
import re
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One answered request. ``time`` is ``time.monotonic()`` at arrival, ``wall`` epoch seconds."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    time: float
    wall: float
    latency: float
    app_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


class RequestLog:
    """Thread-safe, append-only list of :class:`RecordedRequest` with query helpers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def append(self, item: RecordedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._items.append(item)

    def list(self) -> list[RecordedRequest]:
        """A copy of the records, oldest first."""
        with self._lock:
            return list(self._items)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.list())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: int) -> RecordedRequest:
        with self._lock:
            return self._items[index]

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._items.clear()

    def filter(
        self, method: str | None = None, path_regex: str | None = None, status: int | None = None
    ) -> builtins.list[RecordedRequest]:
        """Records with this method, a path the regex is found in, and this status."""
        pattern = re.compile(path_regex) if path_regex else None
        return [
            r
            for r in self.list()
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
            and (status is None or r.status == status)
        ]

    def count(
        self, method: str | None = None, path_regex: str | None = None, status: int | None = None
    ) -> int:
        """How many records :meth:`filter` would return."""
        return len(self.filter(method, path_regex, status))

    def max_rate(self, window: float = 1.0, path_regex: str | None = None) -> int:
        """The most requests that arrived within any ``window`` seconds (a sliding window)."""
        times = sorted(r.time for r in self.filter(path_regex=path_regex))
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def to_list(self) -> builtins.list[dict[str, Any]]:
        """JSON-able form of every record."""
        return [r.to_dict() for r in self.list()]
