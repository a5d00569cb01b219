"""Faults injected on demand: slow answers, 429s, 5xx, and copy jobs that go wrong.

Every HTTP fault is decided before a request reaches its handler, so a faulted request changes
nothing, as with a real server that rejected it. Random choices come from ``random.Random(seed)``
(HTTP faults, in request order) or from a hash of (seed, fault, asset id) (copy faults, so the
same asset fails the same way whatever order the copies run in): a failing test repeats.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: A copy fault: None (off), a share in [0, 1], asset ids, or {"asset_ids": [...], "share": x}.
CopyFaultSpec = None | float | Iterable[str] | Mapping[str, Any]

COPY_FAULTS = ("copy_fail", "copy_wrong_size", "copy_stays_open")
SETTINGS = (
    "latency",
    "latency_path",
    "rate_limit_rps",
    "error_rate",
    "error_method",
    "error_path",
    *COPY_FAULTS,
)


@dataclass
class HttpFault:
    """An answer a fault produced instead of the handler's."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _FailNext:
    method: str
    path: re.Pattern[str]
    status: int
    count: int
    retry_after: int | None


class Faults:
    """The faults the sandbox injects; change them at any time, from any thread.

    Attributes (plain, settable; ``configure(**kw)`` sets several at once):
        latency: seconds added to every matching request.
        latency_path: regex; when set, latency only applies to paths it matches.
        rate_limit_rps: requests a second served before answering 429 (None: no limit).
            Only served requests count, so a client that keeps under the limit is never refused.
        error_rate: share of matching requests answered 500 or 503.
        error_method / error_path: limit ``error_rate`` to a method and a path regex.
        copy_fail: copies of these assets (or this share of assets) fail: the job part ends
            FAILED and no destination file set is made.
        copy_wrong_size: copies come out CLOSED but one byte longer (and another checksum).
        copy_stays_open: copies come out with files OPEN and their jobs stay STARTED until
            ``State.complete_open_copies()``.
    """

    def __init__(self, seed: int = 0, **settings: Any) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self._rng = random.Random(seed)
        self.latency: float = 0.0
        self.latency_path: str | None = None
        self.rate_limit_rps: float | None = None
        self.error_rate: float = 0.0
        self.error_method: str | None = None
        self.error_path: str | None = None
        self.copy_fail: CopyFaultSpec = None
        self.copy_wrong_size: CopyFaultSpec = None
        self.copy_stays_open: CopyFaultSpec = None
        self._fail_next: list[_FailNext] = []
        self._served: deque[float] = deque()
        self.configure(**settings)

    # -- configuration -------------------------------------------------------------------------
    def configure(self, **settings: Any) -> Faults:
        """Set several faults at once (unknown names raise ``TypeError``); returns self.

        ``seed`` restarts the random sequence; ``fail_next`` takes a list of dicts with the
        arguments of :meth:`fail_next`.
        """
        for name, value in settings.items():
            if name == "seed":
                with self._lock:
                    self.seed = int(value)
                    self._rng = random.Random(self.seed)
            elif name == "fail_next":
                for item in value or []:
                    self.fail_next(**item)
            elif name in SETTINGS:
                setattr(self, name, value)
            else:
                raise TypeError(f"unknown fault {name!r}")
        return self

    def clear(self) -> None:
        """Turn every fault off (the seed stays)."""
        with self._lock:
            self._fail_next.clear()
            self._served.clear()
        self.latency, self.latency_path, self.rate_limit_rps = 0.0, None, None
        self.error_rate, self.error_method, self.error_path = 0.0, None, None
        self.copy_fail = self.copy_wrong_size = self.copy_stays_open = None

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 503,
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``count`` requests matching METHOD and path regex with ``status``.

        ``method`` may be ``"*"`` for any method; the regex is searched in the path.
        """
        with self._lock:
            self._fail_next.append(
                _FailNext(method.upper(), re.compile(path_regex), status, count, retry_after)
            )

    def describe(self) -> dict[str, Any]:
        """The current settings, JSON-able (for the admin API and debugging)."""
        with self._lock:
            pending = [
                {
                    "method": f.method,
                    "path_regex": f.path.pattern,
                    "status": f.status,
                    "count": f.count,
                    "retry_after": f.retry_after,
                }
                for f in self._fail_next
            ]
        return {
            "latency": self.latency,
            "latency_path": self.latency_path,
            "rate_limit_rps": self.rate_limit_rps,
            "error_rate": self.error_rate,
            "error_method": self.error_method,
            "error_path": self.error_path,
            "copy_fail": _jsonable(self.copy_fail),
            "copy_wrong_size": _jsonable(self.copy_wrong_size),
            "copy_stays_open": _jsonable(self.copy_stays_open),
            "pending_fail_next": pending,
            "seed": self.seed,
        }

    # -- HTTP faults ---------------------------------------------------------------------------
    def delay_for(self, path: str) -> float:
        """Seconds to wait before answering a request to ``path``."""
        if self.latency and (self.latency_path is None or re.search(self.latency_path, path)):
            return float(self.latency)
        return 0.0

    def http_fault(self, method: str, path: str, now: float | None = None) -> HttpFault | None:
        """The fault answer for this request, or None to serve it (and count it as served)."""
        method = method.upper()
        now = time.monotonic() if now is None else now
        with self._lock:
            for pending in self._fail_next:
                if pending.method in ("*", method) and pending.path.search(path):
                    pending.count -= 1
                    if pending.count <= 0:
                        self._fail_next.remove(pending)
                    headers = {}
                    if pending.retry_after is not None:
                        headers["Retry-After"] = str(pending.retry_after)
                    return HttpFault(pending.status, _error_body(pending.status), headers)
            if self.rate_limit_rps:
                while self._served and now - self._served[0] >= 1.0:
                    self._served.popleft()
                if len(self._served) >= self.rate_limit_rps:
                    wait = max(1, int(1.0 - (now - self._served[0]) + 0.999))
                    return HttpFault(
                        429, {"errors": ["Too many requests"]}, {"Retry-After": str(wait)}
                    )
            if (
                self.error_rate
                and self._error_applies(method, path)
                and self._rng.random() < self.error_rate
            ):
                status = self._rng.choice((500, 503))
                headers = {"Retry-After": "1"} if status == 503 else {}
                return HttpFault(status, _error_body(status), headers)
            self._served.append(now)
        return None

    def _error_applies(self, method: str, path: str) -> bool:
        if self.error_method and self.error_method.upper() not in ("*", method):
            return False
        return not (self.error_path and not re.search(self.error_path, path))

    # -- copy faults ---------------------------------------------------------------------------
    def copy_outcome(self, asset_id: str) -> str | None:
        """Which copy fault hits this asset: one of ``COPY_FAULTS`` or None.

        Checked in the order fail, wrong size, stays open; the first that selects it wins.
        """
        for name in COPY_FAULTS:
            if _selects(getattr(self, name), asset_id, f"{self.seed}:{name}"):
                return name
        return None


def _selects(spec: CopyFaultSpec, asset_id: str, salt: str) -> bool:
    if spec is None or spec is False:
        return False
    if spec is True:
        return True
    if isinstance(spec, int | float):
        return random.Random(f"{salt}:{asset_id}").random() < float(spec)
    if isinstance(spec, Mapping):
        ids = spec.get("asset_ids") or ()
        return asset_id in ids or _selects(spec.get("share"), asset_id, salt)
    if isinstance(spec, str):
        return asset_id == spec
    return asset_id in set(spec)


def _jsonable(spec: CopyFaultSpec) -> Any:
    if spec is None or isinstance(spec, bool | int | float | str):
        return spec
    if isinstance(spec, Mapping):
        return {"asset_ids": sorted(spec.get("asset_ids") or ()), "share": spec.get("share")}
    return sorted(spec)


_REASONS = {
    400: "Bad request",
    401: "Token is invalid",
    403: "Permission denied",
    404: "Not found",
    409: "Conflict",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def _error_body(status: int) -> dict[str, Any]:
    return {"errors": [_REASONS.get(status, "Error")]}
