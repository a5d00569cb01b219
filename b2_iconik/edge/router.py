"""The HTTP edge's one entry: route a request to its journey, and turn every error into a status.

:meth:`Plugin.handle` is what ``main.py`` calls. A POST to …/add or …/remove (or
…/policies/<name>/add|remove) is one of two journeys: a step Cloud Tasks delivers (marked with
:data:`~b2_iconik.engine.cloud_tasks.STEP_HEADER`, where steps are queued), read in
:mod:`.delivery`; or a click (or an automation's request), read in :mod:`.click`. GET on ``/`` and
``/healthz`` is :mod:`.status` (open to anyone); anything else is 404 or 405. Other routes are
added in :meth:`Plugin._handle`, before the two journeys.
"""

from __future__ import annotations

import logging
import re

from b2_iconik.auth.secret import AppToken, SharedSecret
from b2_iconik.base.config import Settings
from b2_iconik.base.errors import IconikError, PayloadError, SecretUnavailable, is_transient
from b2_iconik.base.logs import log_context, trace_from_headers
from b2_iconik.edge import click, delivery, status
from b2_iconik.edge.click import AppTokenRefused, AppTokenUnavailable, StorageCache
from b2_iconik.edge.http import Request, Response, error
from b2_iconik.engine.cloud_tasks import STEP_HEADER, CloudTasksRunner
from b2_iconik.engine.runners import Runner
from b2_iconik.engine.worker import Worker

log = logging.getLogger(__name__)

_ROUTE = re.compile(r"(?:^|/)(?:policies/([^/]*)/)?(add|remove)/?$")


class Plugin:
    """Answers iconik's custom-action requests and starts their work.

    Args:
        settings: the validated settings.
        secret: the shared secret provider.
        worker: builds iconik clients (per user token) and runs steps.
        runner: where the background steps run.
        deliveries: the Cloud Tasks runner that takes steps the queue delivers; None when the
            steps run in-process (a marked request is then refused).
        app_token: the plugin's own iconik token, for requests that carry none.
    """

    def __init__(
        self,
        settings: Settings,
        secret: SharedSecret,
        worker: Worker,
        runner: Runner,
        storages: StorageCache | None = None,
        deliveries: CloudTasksRunner | None = None,
        app_token: AppToken | None = None,
    ) -> None:
        self.settings = settings
        self.secret = secret
        self.worker = worker
        self.runner = runner
        self.storages = storages or StorageCache()
        self.deliveries = deliveries
        self.app_token = app_token or AppToken(settings)
        self.health = status.Health(secret)

    def handle(self, request: Request) -> Response:
        """Answer one request; never raises."""
        trace = trace_from_headers(request.headers)
        with log_context(trace=trace):
            try:
                return self._handle(request, trace)
            except PayloadError as bad:
                log.info("refused a request: %s", bad)
                return error(bad.status, str(bad))
            except AppTokenUnavailable:
                return error(
                    503, "the plugin cannot read its application token now; try again",
                    **{"Retry-After": "30"},
                )
            except AppTokenRefused as refused:
                log.error("%s", refused)
                return error(502, str(refused))
            except SecretUnavailable as problem:
                log.error("cannot check requests: %s", problem)
                return error(
                    503, "the plugin cannot read its shared secret", **{"Retry-After": "60"}
                )
            except IconikError as problem:
                log.error("iconik failed while accepting an action: %s", problem)
                if is_transient(problem):
                    return error(503, f"iconik is unavailable: {problem}", **{"Retry-After": "30"})
                return error(502, f"iconik refused the action: {problem}")
            except Exception:
                log.exception("unexpected error while accepting an action")
                return error(500, "internal error; see the plugin's logs")

    def _handle(self, request: Request, trace: str | None) -> Response:
        """Route: a POST to …/add or …/remove is a queued step (marked) or a click."""
        if (about := status.answer(request.method, request.path, self.health)) is not None:
            return about  # GET / and GET /healthz: open to anyone
        match = _ROUTE.search(request.path)
        if not match:
            return error(404, f"no such endpoint {request.path!r}: POST to …/add or …/remove")
        policy, operation = match.group(1), match.group(2)
        if request.method.upper() != "POST":
            return error(
                405, f"{request.method} is not allowed on …/{operation}: use POST", Allow="POST"
            )
        marker = next((v for k, v in request.headers.items() if k.lower() == STEP_HEADER.lower()),
                      None)
        if marker is not None and self.deliveries is not None:
            return delivery.run_step(self.deliveries, request, operation, marker)
        return click.accept(self, request, operation, policy, marker is not None, trace)
