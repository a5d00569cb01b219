"""The HTTP contract (DESIGN §3): routing, checks, and mapping errors to statuses.

Handler order: route (404/405) → shared secret (401) → size (413) → body (400) → storages
(400) → create the iconik job → hand the work to the runner → answer 200 with the job id.
Nothing that grows with the selection happens before the answer: expanding collections and
checking assets are the background steps' work, and the answer's own iconik calls (the storages,
the job) draw on the click lane of the instance's request budget, so they never queue behind
those steps. Only ``main.py`` knows about Flask; this module takes and returns plain dataclasses.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from b2_iconik.auth.oidc import CannotVerify, Unauthenticated
from b2_iconik.auth.sealing import SealBroken
from b2_iconik.auth.secret import AppToken, SharedSecret
from b2_iconik.base.config import Settings
from b2_iconik.base.errors import (
    IconikError,
    IconikHTTPError,
    PayloadError,
    SecretUnavailable,
    is_transient,
)
from b2_iconik.base.logs import log_context, redact, trace_from_headers
from b2_iconik.engine import gathering
from b2_iconik.engine.cloud_tasks import LEASE, STEP_HEADER, CloudTasksRunner, Delivery
from b2_iconik.engine.gathering import Source
from b2_iconik.engine.runners import Runner
from b2_iconik.engine.worker import Worker
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.limiter import CLICK
from b2_iconik.rules import jobs, plan
from b2_iconik.rules.payload import ActionOptions, CustomAction, shown
from b2_iconik.rules.steps import EXPAND, Step

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
SECRET_HEADER = "x-bz-secret"
STORAGE_CACHE_SECONDS = 300.0
_ROUTE = re.compile(r"(?:^|/)(?:policies/([^/]*)/)?(add|remove)/?$")
#: A policy's name in its action's URL (``…/policies/<name>/remove``).
_POLICY = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")


@dataclass(frozen=True)
class Request:
    """An incoming request, as the plugin needs it.

    Attributes:
        read: reads at most n bytes of the body (so a huge body is never read whole).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    read: Callable[[int], bytes]
    content_length: int | None = None


@dataclass(frozen=True)
class Response:
    """What to answer: a status, a JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> str:
        return json.dumps(self.body)


def error(status: int, text: str, **headers: str) -> Response:
    """An error answer; ``error`` and ``message`` both carry the text, for any client."""
    return Response(status, {"error": text, "message": text}, headers)


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
            return self._run_step(request, operation, marker)
        if not self._authentic(request):
            log.warning("refused a request with a missing or wrong %s header", SECRET_HEADER)
            return _unauthorized("missing or wrong shared secret")
        if marker is not None:  # a step, where steps run in-process: none may come from outside
            raise PayloadError(STEP_HEADER, "this deployment runs its steps in-process")
        if policy is not None and not _POLICY.match(policy):
            raise PayloadError(
                "policy", f"{shown(policy)} in the URL is not a policy name (a-z, 0-9 and -)"
            )
        action = CustomAction.from_json(_read_json(request))
        redact(action.auth_token)
        source = self._source(action, policy)
        token = action.auth_token or self._app_token()
        options = ActionOptions.from_query(request.query, self.settings)
        if source is not None and action.asset_ids and not (
            action.collection_ids or action.saved_search_ids
        ):
            return self._gather(operation, action, options, source, token, trace)
        return self._start(operation, action, options, source, token, trace)

    def _source(self, action: CustomAction, policy: str | None) -> Source | None:
        """Who asks: None for a person's click; otherwise a policy, or the application."""
        if policy is None and action.auth_token:
            return None
        return Source(policy or "", application=not action.auth_token)

    def _app_token(self) -> str:
        """The plugin's own token, for a request that carries none.

        Raises:
            PayloadError: none is configured (400, naming where to configure it).
        """
        try:
            token = self.app_token.get()
        except SecretUnavailable as problem:
            log.error("cannot read the application token: %s", problem)
            raise AppTokenUnavailable(str(problem)) from None
        if not token:
            raise PayloadError(
                "auth_token",
                f"is missing, and the plugin has no iconik token of its own to act with: "
                f"set {self.app_token.where}",
            )
        redact(token)
        return token

    def _start(
        self,
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
        with self.worker.client(token) as client, _refusals(source):
            # iconik is waiting for this answer: its calls go before background work.
            client.use_lane(CLICK)
            self._check_storages(client, options)
            runner = jobs.IN_PROCESS if self.deliveries is None else jobs.CLOUD_TASKS
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
                self.runner.start(steps)
            except Exception as problem:  # the queue refused it: the job must not hang
                log.exception("could not start the work of job %s", job_id)
                self.worker.abandon(steps[0], f"could not start the work: {type(problem).__name__}")
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
        self,
        operation: str,
        action: CustomAction,
        options: ActionOptions,
        source: Source,
        token: str,
        trace: str | None,
    ) -> Response:
        """Accept an automation's request into the open batch of its kind (one job a window)."""
        with self.worker.client(token) as client, _refusals(source):
            client.use_lane(CLICK)
            self._check_storages(client, options)
            try:
                joined = self.worker.gatherer.join(client, self.runner, operation, options,
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
        starts = gathering.clock_text(joined.closes_at)
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
                "starts_at": gathering.iso(joined.closes_at),
                "message": f"{title}: gathered into a batch that starts at {starts}",
            },
        )

    def _run_step(self, request: Request, operation: str, marker: str) -> Response:
        """Run one background step delivered by Cloud Tasks (its successors go to the queue).

        Only a deployment that queues its steps takes them, and only from the queue: with
        ``TASKS_SERVICE_ACCOUNT`` set, a step must carry Cloud Tasks' OIDC token for that account
        (the shared secret is not enough); the user's token in it must open (it is sealed).
        """
        assert self.deliveries is not None
        try:
            self.deliveries.authenticate(request.headers)
        except Unauthenticated as refused:
            log.warning("refused a step request: %s", refused)
            return _unauthorized(str(refused))
        except CannotVerify as problem:
            log.error("cannot check a step request: %s", problem)
            return error(503, "the step cannot be checked now", **{"Retry-After": "30"})
        if marker.strip().lower() == LEASE:
            return Response(200, {"message": "a lease: nothing to do"})
        try:
            step = Step.from_json(_read_body(request))
        except (ValueError, KeyError, TypeError, RecursionError):
            raise PayloadError("body", "is not a background step") from None
        if step.operation != operation:
            raise PayloadError("body", f"is a {step.operation} step, sent to …/{operation}")
        try:
            step = self.deliveries.unseal(step)
        except SealBroken as broken:
            raise PayloadError("body", str(broken)) from None
        redact(step.auth_token)
        delivery = Delivery.from_headers(request.headers)
        with log_context(job_id=step.job_id, trace=step.trace):
            log.info("running a %s step (%s) from the queue, attempt %d", step.kind, step.unit,
                     delivery.retry_count + 1)
            done = self.deliveries.deliver(step, delivery)
        headers = {"Retry-After": str(done.retry_after)} if done.retry_after else {}
        body = {"job_id": step.job_id, "kind": step.kind, "message": done.message}
        return Response(done.status, body, headers)

    def _authentic(self, request: Request) -> bool:
        """Compare the shared-secret header with the secret in constant time."""
        given = next((v for k, v in request.headers.items() if k.lower() == SECRET_HEADER), None)
        expected = self.secret.get()
        return given is not None and hmac.compare_digest(given.encode(), expected)

    def _check_storages(self, client: IconikClient, options: ActionOptions) -> None:
        """Both storages must be known to iconik (remembered for a few minutes).

        Raises:
            PayloadError: a storage is unknown, or iconik refused the user's token.
        """
        for name, storage_id in (
            ("b2_storage_id", options.b2_storage_id),
            ("ll_storage_id", options.ll_storage_id),
        ):
            if self.storages.known(storage_id):
                continue
            with self.storages.lookup(storage_id):
                if self.storages.known(storage_id):
                    continue  # a click that came at the same time has just confirmed it
                self._look_up_storage(client, name, storage_id)
                self.storages.remember(storage_id)

    def _look_up_storage(self, client: IconikClient, name: str, storage_id: str) -> None:
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


def _unauthorized(text: str) -> Response:
    return error(401, text, **{"WWW-Authenticate": f'SharedSecret header="{SECRET_HEADER}"'})


def _read_body(request: Request) -> bytes:
    """The body, refusing more than 1 MiB before reading it whole."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadError("body", f"is larger than {MAX_BODY} bytes", status=413)
    raw = request.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise PayloadError("body", f"is larger than {MAX_BODY} bytes", status=413)
    return raw


def _read_json(request: Request) -> Any:
    """The body as strict JSON (RFC 8259): no NaN or Infinity, no key given twice.

    A key given twice is refused rather than resolved: another parser (a proxy, a log viewer)
    may keep the other copy, and iconik never sends one.
    """
    raw = _read_body(request)
    if not raw.strip():
        raise PayloadError("body", "is empty: expected iconik's custom-action JSON")
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("body", "is not valid JSON") from None
    except RecursionError:
        # json nests by recursion: a body of 100,000 "[" fits in 1 MiB and would be a 500.
        raise PayloadError("body", "is nested too deeply to be iconik's payload") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict, refusing a key given twice."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise PayloadError("body", f"has the key {shown(key)} twice")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity are Python's extensions, not JSON."""
    raise ValueError(f"{name} is not JSON")
