"""A click's journey (DESIGN §3), top to bottom: from iconik's request to the answer it waits for.

Order: shared secret (401) → body (413, 400) → who asks and with which token → storages (400) →
create the iconik job → hand the work to the runner → answer 200 with the job id. An automation's
request that names only assets joins the open batch of its kind instead (:func:`_gather`).
Nothing that grows with the selection happens before the answer: expanding collections and
checking assets are the background steps' work, and the answer's own iconik calls (the storages,
the job) draw on the click lane of the instance's request budget, so they never queue behind
those steps. The router (:mod:`.router`) decides that a request is a click and maps errors to
statuses.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from b2_iconik.auth.secret import AppToken, SharedSecret
from b2_iconik.base.config import Settings
from b2_iconik.base.errors import (
    IconikError,
    IconikHTTPError,
    PayloadError,
    SecretUnavailable,
    is_transient,
)
from b2_iconik.base.logs import log_context, redact
from b2_iconik.edge.http import SECRET_HEADER, Request, Response, error, read_json, unauthorized
from b2_iconik.engine import batch
from b2_iconik.engine.batch import Source
from b2_iconik.engine.cloud_tasks import STEP_HEADER, CloudTasksRunner
from b2_iconik.engine.runners import Runner
from b2_iconik.engine.worker import Worker
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.limiter import CLICK
from b2_iconik.rules import jobs, plan
from b2_iconik.rules.payload import ActionOptions, CustomAction, shown
from b2_iconik.rules.steps import EXPAND, Step

log = logging.getLogger(__name__)

STORAGE_CACHE_SECONDS = 300.0
#: A policy's name in its action's URL (``…/policies/<name>/remove``).
_POLICY = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")


class StorageCache:
    """Storages iconik confirmed, remembered for a few minutes per instance.

    Every click names the same two storages; asking iconik each time would add two calls to
    every answer iconik is waiting for. Clicks that arrive together on a fresh instance ask once
    between them (:meth:`lookup`), not once each.
    """

    def __init__(
        self, seconds: float = STORAGE_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._seconds, self._clock = seconds, clock
        self._known: dict[str, float] = {}
        self._lookups: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def lookup(self, storage_id: str) -> threading.Lock:
        """The lock to hold while asking iconik about this storage (one lookup at a time)."""
        with self._lock:
            return self._lookups.setdefault(storage_id, threading.Lock())

    def known(self, storage_id: str) -> bool:
        with self._lock:
            expiry = self._known.get(storage_id)
            return expiry is not None and expiry > self._clock()

    def remember(self, storage_id: str) -> None:
        with self._lock:
            self._known[storage_id] = self._clock() + self._seconds


class Desk(Protocol):
    """What a click needs of the plugin (:class:`~.router.Plugin`), read afresh at each click."""

    settings: Settings
    secret: SharedSecret
    worker: Worker
    runner: Runner
    storages: StorageCache
    deliveries: CloudTasksRunner | None
    app_token: AppToken


def accept(
    desk: Desk,
    request: Request,
    operation: str,
    policy: str | None,
    marked: bool,
    trace: str | None,
) -> Response:
    """A click's journey: secret, body, who asks, token, options; then a job of its own, or a batch.

    Args:
        policy: the policy named in the URL (…/policies/<name>/…), or None.
        marked: the request carries the step marker, where steps run in-process: refused.
    """
    if not _authentic(desk.secret, request):
        log.warning("refused a request with a missing or wrong %s header", SECRET_HEADER)
        return unauthorized("missing or wrong shared secret")
    if marked:  # a step, where steps run in-process: none may come from outside
        raise PayloadError(STEP_HEADER, "this deployment runs its steps in-process")
    if policy is not None and not _POLICY.match(policy):
        raise PayloadError(
            "policy", f"{shown(policy)} in the URL is not a policy name (a-z, 0-9 and -)"
        )
    action = CustomAction.from_json(read_json(request))
    redact(action.auth_token)
    source = _source(action, policy)
    token = action.auth_token or _app_token(desk.app_token)
    options = ActionOptions.from_query(request.query, desk.settings)
    if source is not None and action.asset_ids and not (
        action.collection_ids or action.saved_search_ids
    ):
        return _gather(desk, operation, action, options, source, token, trace)
    return _start(desk, operation, action, options, source, token, trace)


def _authentic(secret: SharedSecret, request: Request) -> bool:
    """Compare the shared-secret header with the secret in constant time."""
    given = next((v for k, v in request.headers.items() if k.lower() == SECRET_HEADER), None)
    expected = secret.get()
    return given is not None and hmac.compare_digest(given.encode(), expected)


def _source(action: CustomAction, policy: str | None) -> Source | None:
    """Who asks: None for a person's click; otherwise a policy, or the application."""
    if policy is None and action.auth_token:
        return None
    return Source(policy or "", application=not action.auth_token)


def _app_token(app_token: AppToken) -> str:
    """The plugin's own token, for a request that carries none.

    Raises:
        PayloadError: none is configured (400, naming where to configure it).
    """
    try:
        token = app_token.get()
    except SecretUnavailable as problem:
        log.error("cannot read the application token: %s", problem)
        raise AppTokenUnavailable(str(problem)) from None
    if not token:
        raise PayloadError(
            "auth_token",
            f"is missing, and the plugin has no iconik token of its own to act with: "
            f"set {app_token.where}",
        )
    redact(token)
    return token


def _start(
    desk: Desk,
    operation: str,
    action: CustomAction,
    options: ActionOptions,
    source: Source | None,
    token: str,
    trace: str | None,
) -> Response:
    """Accept an action as one job of its own (a click, or a request naming collections)."""
    shards = plan.shards(action)
    label = source.label if source else ""
    with desk.worker.client(token) as client, _refusals(source):
        # iconik is waiting for this answer: its calls go before background work.
        client.use_lane(CLICK)
        _check_storages(desk.storages, client, options)
        runner = jobs.IN_PROCESS if desk.deliveries is None else jobs.CLOUD_TASKS
        try:
            job_id = jobs.create(client, operation, action, options, len(shards), runner,
                                 source=label)
        except IconikHTTPError as problem:
            # With the storages cached, creating the job is the first use of the token.
            if problem.status == 401:
                raise PayloadError("auth_token", f"iconik refused it: {problem}") from None
            raise
    steps = [
        Step(operation, job_id, options, token, kind=EXPAND, shard=index,
             shards=len(shards), selection=part, trace=trace, source=label)
        for index, part in enumerate(shards)
    ]
    with log_context(job_id=job_id):
        try:
            desk.runner.start(steps)
        except Exception as problem:  # the queue refused it: the job must not hang
            log.exception("could not start the work of job %s", job_id)
            desk.worker.abandon(steps[0], f"could not start the work: {type(problem).__name__}")
            return error(503, "could not start the work; try again", **{"Retry-After": "30"})
        log.info(
            "accepted %s of %s (formats %s%s)%s",
            operation,
            action.describe(),
            ",".join(options.formats),
            ", dry run" if options.dry_run else "",
            f" from {label}, acting with {source.acting}" if source else "",
        )
    title = jobs.title(operation, action.describe(), options.dry_run, label)
    return Response(
        200,
        {
            "job_id": job_id,
            "operation": operation,
            "dry_run": options.dry_run,
            "message": f"{title}: started",
        },
    )


def _gather(
    desk: Desk,
    operation: str,
    action: CustomAction,
    options: ActionOptions,
    source: Source,
    token: str,
    trace: str | None,
) -> Response:
    """Accept an automation's request into the open batch of its kind (one job a window)."""
    with desk.worker.client(token) as client, _refusals(source):
        client.use_lane(CLICK)
        _check_storages(desk.storages, client, options)
        try:
            joined = desk.worker.gatherer.join(client, desk.runner, operation, options,
                                               source, token, action.asset_ids, trace)
        except IconikHTTPError as problem:
            if problem.status == 401:
                raise PayloadError("auth_token", f"iconik refused it: {problem}") from None
            raise
        except (IconikError, PayloadError):
            raise
        except Exception as problem:  # the queue: a name or the batch's CLOSE step
            log.exception("could not gather a request: %s", type(problem).__name__)
            return error(503, "could not start the work; try again", **{"Retry-After": "30"})
    starts = batch.clock_text(joined.closes_at)
    with log_context(job_id=joined.job_id):
        log.info("gathered %s of %s from %s, acting with %s, into batch %s (starts %s)",
                 operation, action.describe(), source.label, source.acting, joined.job_id,
                 starts)
    title = jobs.title(operation, action.describe(), options.dry_run, source.label)
    return Response(
        200,
        {
            "job_id": joined.job_id,
            "operation": operation,
            "dry_run": options.dry_run,
            "gathered": True,
            "source": source.label,
            "starts_at": batch.iso(joined.closes_at),
            "message": f"{title}: gathered into a batch that starts at {starts}",
        },
    )


def _check_storages(
    storages: StorageCache, client: IconikClient, options: ActionOptions
) -> None:
    """Both storages must be known to iconik (remembered for a few minutes).

    Raises:
        PayloadError: a storage is unknown, or iconik refused the user's token.
    """
    for name, storage_id in (
        ("b2_storage_id", options.b2_storage_id),
        ("ll_storage_id", options.ll_storage_id),
    ):
        if storages.known(storage_id):
            continue
        with storages.lookup(storage_id):
            if storages.known(storage_id):
                continue  # a click that came at the same time has just confirmed it
            _look_up_storage(client, name, storage_id)
            storages.remember(storage_id)


def _look_up_storage(client: IconikClient, name: str, storage_id: str) -> None:
    """Ask iconik whether the storage exists, as the user who clicked.

    Raises:
        PayloadError: it does not, or iconik refused the user's token.
    """
    try:
        storage = client.get_storage(storage_id)
    except IconikHTTPError as problem:
        if is_transient(problem):
            raise
        if problem.status in (401, 403):
            raise PayloadError("auth_token", f"iconik refused it: {problem}") from None
        raise PayloadError(name, f"cannot look up storage {storage_id}: {problem}") from None
    if storage is None:
        raise PayloadError(name, f"iconik has no storage {storage_id}")


class AppTokenUnavailable(SecretUnavailable):
    """The application token is configured in Secret Manager, which cannot be read now."""


class AppTokenRefused(IconikError):
    """iconik refused the plugin's own token: the operator must replace it."""


@contextmanager
def _refusals(source: Source | None) -> Iterator[None]:
    """A refusal of the plugin's own token is the operator's to fix, not the caller's."""
    try:
        yield
    except PayloadError as refused:
        if source is None or not source.application or refused.field != "auth_token":
            raise
        raise AppTokenRefused(
            f"iconik refused the plugin's application token (ICONIK_TOKEN or the Secret "
            f"Manager secret bz-iconik-token): {refused}"
        ) from None
