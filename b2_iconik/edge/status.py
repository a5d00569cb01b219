"""``GET /`` and ``GET /healthz``: what the plugin is, and whether it can serve (issue 17).

People test a deployment by opening its URL in a browser, and uptime checkers (Cloud Run,
Cloud Monitoring, a load balancer) carry no shared secret: both paths are open to anyone, so
they reveal nothing that is configured (no storage, no iconik URL, no queue, no error text).
``GET /`` names the plugin, its version and its endpoints. ``GET /healthz`` answers 200 when
the configuration loaded (a server only runs once it has: a bad setting stops start-up) and
the shared secret can be read, 503 with ``Retry-After`` when it cannot.

HEAD is answered like GET, without the body. Any other method is left to the router, which
answers 404 as for any path that is not an action's (DESIGN §3: "any other path: 404"; a
custom action pointed at the function's bare URL must keep getting that 404). Only
these exact paths (``/health`` as ``/healthz``, a trailing slash allowed) are answered here:
``/healthz/add`` is still an add path.

It answers with the edge's own :class:`~b2_iconik.edge.http.Response`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import b2_iconik
from b2_iconik.edge.http import Response

log = logging.getLogger(__name__)

NAME = "Backblaze B2 Storage Plugin for iconik"
ROOT, HEALTH = "/", "/healthz"
#: ``/health`` answers as ``/healthz`` does: Cloud Run, which serves Cloud Functions, reserves
#: some paths ending in ``z`` for itself, so a check from outside a deployed function may never
#: reach ``/healthz``.
HEALTH_PATHS = frozenset({HEALTH, HEALTH + "/", "/health", "/health/"})
#: How long an unreadable secret is remembered: as long as the 503 tells checkers to wait, so
#: a checker polling faster than that (or many at once) cannot turn into Secret Manager calls.
RETRY_SECONDS = 30
#: The endpoints ``GET /`` lists: the contract's paths, not this deployment's URLs.
ENDPOINTS: tuple[dict[str, str], ...] = (
    {"method": "POST", "path": "…/add", "summary": "Add to LucidLink (iconik's custom action)"},
    {"method": "POST", "path": "…/remove", "summary": "Remove from LucidLink (the same)"},
    {"method": "POST", "path": "…/policies/<name>/add", "summary": "Add, for a policy"},
    {"method": "POST", "path": "…/policies/<name>/remove", "summary": "Remove, for a policy"},
    {"method": "GET", "path": HEALTH, "summary": "200 when the plugin can serve, else 503"},
    {"method": "GET", "path": "/health", "summary": "the same, where /healthz is Cloud Run's"},
    {"method": "GET", "path": ROOT, "summary": "this page"},
)


class Secret(Protocol):
    """What the health check needs of the shared secret (``secret.SharedSecret``)."""

    def get(self) -> bytes: ...


class Health:
    """Whether the shared secret can be read, asked at most once per ``RETRY_SECONDS``.

    Once read, the secret is cached by :class:`b2_iconik.auth.secret.ManagedSecret` for the
    life of the instance, so a healthy check costs nothing. A failure is not cached there (the next
    click should try again), so it is remembered here instead; checks arriving together wait
    for one read rather than each making their own.
    """

    def __init__(self, secret: Secret, clock: Callable[[], float] = time.monotonic) -> None:
        self._secret, self._clock = secret, clock
        self._failed_until = float("-inf")
        self._lock = threading.Lock()

    def secret_readable(self) -> bool:
        with self._lock:
            if self._clock() < self._failed_until:
                return False
            try:
                self._secret.get()
            except Exception as problem:  # SecretUnavailable, or no credentials at all
                log.error("health check: cannot read the shared secret: %s", problem)
                self._failed_until = self._clock() + RETRY_SECONDS
                return False
            return True


def answer(method: str, path: str, health: Health) -> Response | None:
    """The answer for GET or HEAD on ``/`` or ``/healthz``; None otherwise (the router's)."""
    if method.upper() not in ("GET", "HEAD"):
        return None
    if path == ROOT:
        return _about()
    if path in HEALTH_PATHS:
        return health_answer(health)
    return None


def _about() -> Response:
    body = {"name": NAME, "version": b2_iconik.__version__, "endpoints": list(ENDPOINTS)}
    return Response(200, body)


def health_answer(health: Health) -> Response:
    """200 when the shared secret can be read; 503 with ``Retry-After`` when it cannot."""
    if health.secret_readable():
        return Response(200, {"status": "ok", "configuration": "loaded",
                              "shared_secret": "readable"})
    text = "the plugin cannot read its shared secret"
    body = {"status": "unavailable", "configuration": "loaded", "shared_secret": "unreadable",
            "error": text, "message": text}
    return Response(503, body, {"Retry-After": str(RETRY_SECONDS)})
