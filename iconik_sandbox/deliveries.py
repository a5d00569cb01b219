"""How the sandbox's Automation engine calls a custom action: the shape of the request, a small
pool of background threads that send it, and the record of every delivery.

Nobody outside iconik knows what its Automation engine sends to a custom action's URL
(``automations.md`` §5): whose ``auth_token`` (a user's, an application's, or none at all), one
asset per request or batches. So the shape is a setting, one for events and one for runs on
existing objects, and tests try each. Requests go out on the pool, never inside the request
that caused them (as iconik's backend calls custom actions from a task queue), and every one is
recorded, so tests wait on "nothing pending" instead of sleeping.

Records never hold a token or a header value: the action's headers carry the plugin's shared
secret, and the leak checks of the end-to-end tests read what the sandbox keeps.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import requests

from iconik_sandbox.state import Record, State
from iconik_sandbox.state.tables import APP_USER_ID, SYSTEM_DOMAIN_ID, iso
from iconik_sandbox.tokens import Tokens

TOKEN_MODES = ("user", "app", "none")
CONTEXTS = ("ASSET", "BULK")
SOURCES = ("events", "runs")
#: How long a custom action may take to answer (iconik gives up on a click after about 10 s).
TIMEOUT_SECONDS = 10.0
#: The most characters of an answer kept in a record.
ANSWER_LIMIT = 4096
WORKERS = 4


@dataclass(frozen=True)
class Shape:
    """What a request to a custom action looks like.

    ``token``: ``user`` (a fresh token of the automation's user), ``app`` (a fresh token of an
    application's service user) or ``none`` (no ``auth_token`` key at all). ``context``: ``ASSET``
    (one asset a request) or ``BULK`` (up to ``batch_size`` assets a request).
    """

    token: str = "user"
    context: str = "ASSET"
    batch_size: int = 100

    def __post_init__(self) -> None:
        if self.token not in TOKEN_MODES:
            raise ValueError(f"token: one of {', '.join(TOKEN_MODES)}")
        if self.context not in CONTEXTS:
            raise ValueError(f"context: one of {', '.join(CONTEXTS)}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError("batch_size: a whole number of at least 1")

    def batches(self, asset_ids: Sequence[str]) -> list[list[str]]:
        """The assets split into the requests this shape sends."""
        size = 1 if self.context == "ASSET" else self.batch_size
        return [list(asset_ids[i : i + size]) for i in range(0, len(asset_ids), size)]


@dataclass(frozen=True)
class Order:
    """One execution of an automation's custom action on some assets (of known versions)."""

    automation_id: str
    action_id: str
    user_id: str
    source: str
    asset_ids: tuple[str, ...]
    versions: Mapping[str, str] = field(default_factory=dict)
    metadata_values: Mapping[str, Any] = field(default_factory=dict)


#: Called on the pool thread once a request of an order is answered (or failed), with the
#: order restricted to that request's assets and the delivery's record.
Done = Callable[[Order, Record], None]


class Deliveries:
    """Sends orders in the configured shape on a small pool, and records every request."""

    def __init__(self, state: State, tokens: Tokens, app_id: str, workers: int = WORKERS):
        self._state, self._tokens, self._app_id = state, tokens, app_id
        self._cond = threading.Condition()
        self._pending = 0
        self._futures: set[Future[None]] = set()
        self._records: list[Record] = []
        self._generation = 0
        self._ids = itertools.count(1)
        self._shapes = {source: Shape() for source in SOURCES}
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="sandbox-automation")

    # -- the shape ----------------------------------------------------------------------------
    def shape(self, source: str) -> Shape:
        """The shape requests of ``source`` (``events`` or ``runs``) take."""
        with self._cond:
            return self._shapes[source]

    def set_shape(self, source: str | None = None, **fields: Any) -> dict[str, dict[str, Any]]:
        """Change ``token``, ``context`` or ``batch_size`` for one source (None: both); fields
        not given keep their value. Raises ValueError on a bad value."""
        if source is not None and source not in SOURCES:
            raise ValueError(f"source: one of {', '.join(SOURCES)}")
        unknown = set(fields) - {"token", "context", "batch_size"}
        if unknown:
            raise ValueError(f"unknown shape fields: {', '.join(sorted(unknown))}")
        with self._cond:
            for name in [source] if source else SOURCES:
                self._shapes[name] = replace(self._shapes[name], **fields)
        return self.describe()

    def describe(self) -> dict[str, dict[str, Any]]:
        """Both shapes, JSON-able."""
        with self._cond:
            return {source: asdict(shape) for source, shape in self._shapes.items()}

    # -- sending ------------------------------------------------------------------------------
    def send(self, order: Order, done: Done) -> int:
        """Queue the requests of an order, in its source's shape; returns how many."""
        shape = self.shape(order.source)
        with self._cond:
            generation = self._generation
            batches = shape.batches(order.asset_ids)
            self._pending += len(batches)
            for ids in batches:
                part = replace(order, asset_ids=tuple(ids))
                future = self._pool.submit(self._deliver, part, shape, generation, done)
                self._futures.add(future)
                future.add_done_callback(self._finished)
        return len(batches)

    def _finished(self, future: Future[None]) -> None:
        with self._cond:
            self._futures.discard(future)
            self._pending -= 1
            self._cond.notify_all()

    def _deliver(self, order: Order, shape: Shape, generation: int, done: Done) -> None:
        record = self._start_record(order, shape)
        try:
            action = self._action(order.action_id)
            payload = self._payload(order, shape, action)
            record.update(url=action["url"], payload=_without_token(payload))
            with requests.Session() as session:
                session.trust_env = False  # no proxy from the environment between two local ends
                response = session.post(
                    action["url"],
                    json=payload,
                    headers=dict(action.get("headers") or {}),
                    timeout=TIMEOUT_SECONDS,
                )
            answer = _answer(response)
            record.update(status=response.status_code, answer=answer, job_id=_job_id(answer))
        except (requests.RequestException, LookupError) as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["finished_at"] = iso(time.time())
        with self._cond:
            if generation != self._generation:
                return  # the sandbox was reset meanwhile: this delivery belongs to nothing
            self._records.append(record)
        done(order, record)

    def _start_record(self, order: Order, shape: Shape) -> Record:
        return {
            "id": next(self._ids),
            "automation_id": order.automation_id,
            "action_id": order.action_id,
            "source": order.source,
            "context": shape.context,
            "token_mode": shape.token,
            "object_ids": list(order.asset_ids),
            "url": None,
            "payload": None,
            "status": None,
            "answer": None,
            "job_id": None,
            "error": None,
            "started_at": iso(time.time()),
            "finished_at": None,
        }

    def _action(self, action_id: str) -> Record:
        with self._state.lock:
            action = self._state.custom_actions.get(action_id)
            if action is None:
                raise LookupError(f"Custom action {action_id} does not exist")
            return copy.deepcopy(action)

    def _payload(self, order: Order, shape: Shape, action: Record) -> dict[str, Any]:
        """iconik's custom-action body, as a click sends it, in the configured shape."""
        payload: dict[str, Any] = {
            "user_id": order.user_id,
            "system_domain_id": SYSTEM_DOMAIN_ID,
            "context": shape.context,
            "action_id": order.action_id,
            "asset_ids": list(order.asset_ids),
            "collection_ids": [],
            "saved_search_ids": [],
            "metadata_view_id": action.get("metadata_view"),
            "metadata_values": copy.deepcopy(dict(order.metadata_values)),
            "date_created": iso(self._state.now()),
        }
        if shape.token != "none":
            payload["auth_token"] = self._mint(shape.token, order, action)
        return payload

    def _mint(self, mode: str, order: Order, action: Record) -> str:
        """A fresh token under the action's application (what the plugin calls iconik with)."""
        token = secrets.token_urlsafe(24)
        user_id = order.user_id if mode == "user" else APP_USER_ID
        self._tokens.add(action.get("app_id") or self._app_id, token, user_id=user_id)
        return token

    # -- reading and waiting --------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Requests queued or in flight."""
        with self._cond:
            return self._pending

    def records(self) -> list[Record]:
        """Every finished delivery, in the order they finished."""
        with self._cond:
            return copy.deepcopy(self._records)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is pending; False when ``timeout`` seconds passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    # -- lifecycle ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the records, cancel queued requests (those in flight end unrecorded) and go
        back to the default shapes."""
        with self._cond:
            self._generation += 1
            self._records.clear()
            self._shapes = {source: Shape() for source in SOURCES}
            queued = list(self._futures)
        for future in queued:
            future.cancel()

    def stop(self) -> None:
        """Cancel what is queued and let the pool's threads end (without waiting for them)."""
        self.reset()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _without_token(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as recorded: ``auth_token`` replaced by a marker (tokens are never kept)."""
    out = dict(payload)
    if "auth_token" in out:
        out["auth_token"] = "<token>"
    return out


def _answer(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:ANSWER_LIMIT]


def _job_id(answer: Any) -> str | None:
    job_id = answer.get("job_id") if isinstance(answer, dict) else None
    return job_id if isinstance(job_id, str) else None
