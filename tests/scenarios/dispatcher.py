"""Cloud Tasks' dispatch side, for tests: what gcloud-tasks-emulator 0.6.2 does not do.

The emulator (``run_tasks_emulator.py``) keeps the tasks and their schedule and asks this
dispatcher about names and hands it every task that falls due. The dispatcher then behaves as
Cloud Tasks documents:

* task names: refused (ALREADY_EXISTS) while a task of that name exists and for
  ``reserve_seconds`` after it ran or was deleted (Cloud Tasks: about an hour);
* size: over 100 KB a task is refused (INVALID_ARGUMENT), as the tasks.create reference says;
* dispatch: up to ``max_concurrent`` tasks at once; a non-2xx answer, a timeout (the dispatch
  deadline) or a dropped connection is retried with exponential backoff (honouring
  ``Retry-After`` on 429 and 503) until ``max_attempts``, then the task is dropped;
* headers: ``X-CloudTasks-QueueName``, ``-TaskName``, ``-TaskRetryCount`` (every earlier
  attempt), ``-TaskExecutionCount`` (earlier attempts that got an answer other than 5xx) and
  ``-TaskETA``;
* OIDC: a task created with an ``oidc_token`` is sent with ``Authorization: Bearer`` and an ID
  token signed by a test issuer, whose certificates it serves at ``/certs`` as Google does.

And it misbehaves on demand, as Cloud Tasks may: every task delivered twice (one after the
other, or both at the same moment), the first answer of every task lost after the work was done,
a hook before each delivery (to kill the server mid-step), delays that reorder deliveries, and
refusals of chosen creates. Everything it sends and decides is recorded for assertions.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from tests.oidc_issuer import Issuer

MAX_TASK_BYTES = 100_000


@dataclass
class Task:
    """A task handed over by the emulator."""

    name: str
    queue: str
    url: str
    headers: dict[str, str]
    body: bytes
    eta: float | None
    oidc: dict[str, str] | None = None
    attempt: int = 0
    executions: int = 0

    @property
    def short(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def kind(self) -> str:
        return self.headers.get("X-B2-Iconik-Step", "")


@dataclass(frozen=True)
class Delivery:
    """One HTTP delivery of a task."""

    task: str
    kind: str
    attempt: int
    status: int
    started: float
    ended: float
    size: int
    twin: bool = False


@dataclass
class Faults:
    """Misbehaviour on demand (all off by default).

    Attributes:
        duplicate: "sequential" (each delivery repeated after it answered) or "concurrent"
            (each delivery sent twice at once); None for neither.
        lose_first_answer: the first attempt of every task is treated as failed after the
            function answered (the work was done, the answer lost): Cloud Tasks retries it.
        before_delivery: called with each task before it is sent (it may block, or kill).
        delay: extra seconds to hold each task before its first attempt (reorders them).
        refuse: called with (task name, kind, size) on each create; a gRPC error name
            (e.g. "PermissionDenied") refuses it.
        only: a predicate on tasks: the faults above apply only where it is true.
    """

    duplicate: str | None = None
    lose_first_answer: bool = False
    before_delivery: Callable[[Task], None] | None = None
    delay: Callable[[Task], float] | None = None
    refuse: Callable[[str, str, int], str | None] | None = None
    only: Callable[[Task], bool] = lambda task: True


@dataclass
class Records:
    created: list[tuple[str, str, int]] = field(default_factory=list)
    already_exists: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    completed: set[str] = field(default_factory=set)
    bodies: list[bytes] = field(default_factory=list)


class Dispatcher:
    """The test's Cloud Tasks dispatcher (see the module's notes). A context manager."""

    def __init__(
        self,
        max_concurrent: int = 4,
        max_attempts: int = 10,
        min_backoff: float = 0.2,
        max_backoff: float = 2.0,
        max_retry_after: float = 2.0,
        deadline: float = 120.0,
        reserve_seconds: float = 3600.0,
    ) -> None:
        self.max_concurrent = max_concurrent
        self.max_attempts = max_attempts
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.max_retry_after = max_retry_after
        self.deadline = deadline
        self.reserve_seconds = reserve_seconds
        self.faults = Faults()
        self.records = Records()
        self.issuer = Issuer()
        self._names: dict[str, float] = {}  # name -> reserved until (inf while it exists)
        #: Tasks created since the last reset: the emulator still holds older ones for later
        #: (an END check a minute on, a watchdog), which belong to a test that has ended.
        self._since_reset: set[str] = set()
        self._ready: list[tuple[float, int, Task]] = []
        self._order = itertools.count()
        self._lock = threading.Condition()
        self._in_flight = 0
        self._stopped = False
        self._http = requests.Session()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Dispatcher:
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                 daemon=True, name="dispatcher-http")
        serve.start()
        self._threads.append(serve)
        for n in range(self.max_concurrent):
            worker = threading.Thread(target=self._work, daemon=True, name=f"dispatcher-{n}")
            worker.start()
            self._threads.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def reset(self, timeout: float = 10.0) -> None:
        """Forget pending tasks (those the emulator holds for later too), records and faults;
        names stay reserved, as in Cloud Tasks.

        Deliveries still in flight finish first (for up to ``timeout`` seconds): a step may
        answer a moment after its job ended, and its record must not land in the next test's.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight and time.monotonic() < deadline:
                self._lock.wait(0.05)
            self._ready.clear()
            self._since_reset.clear()
            self.records = Records()
            self.faults = Faults()

    def idle(self) -> bool:
        """Nothing being delivered and nothing waiting here for a retry (tasks the emulator
        holds for later, such as an END check, are not the dispatcher's yet)."""
        with self._lock:
            return not self._in_flight and not self._ready

    # -- what the emulator asks ----------------------------------------------------------------
    def on_create(self, name: str, size: int, kind: str) -> dict[str, str]:
        short = name.rsplit("/", 1)[-1]
        with self._lock:
            if self._names.get(name, 0.0) > time.time():
                self.records.already_exists.append(short)
                return {"error": "ALREADY_EXISTS", "message": f"task {short} exists"}
            refusal = self.faults.refuse(short, kind, size) if self.faults.refuse else None
            if size > MAX_TASK_BYTES:
                refusal = "InvalidArgument"
            if refusal:
                self.records.refused.append((short, refusal))
                return {"error": refusal, "message": f"Task size too large or refused ({size})"}
            self._names[name] = float("inf")
            self._since_reset.add(name)
            self.records.created.append((short, kind, size))
        return {}

    def on_deleted(self, name: str) -> None:
        with self._lock:
            self._names[name] = time.time() + self.reserve_seconds

    def on_dispatch(self, data: dict[str, Any]) -> None:
        task = Task(data["name"], data["queue"], data["url"], data["headers"],
                    base64.b64decode(data["body"]), data.get("eta"), data.get("oidc"))
        with self._lock:
            if data["name"] not in self._since_reset:
                return  # an earlier test's task, due only now: its world is gone
            self.records.bodies.append(task.body)
        hold = self.faults.delay(task) if self.faults.delay and self.faults.only(task) else 0.0
        self._push(task, time.time() + hold)

    # -- delivering ----------------------------------------------------------------------------
    def _push(self, task: Task, at: float) -> None:
        with self._lock:
            heapq.heappush(self._ready, (at, next(self._order), task))
            self._lock.notify()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._stopped:
                    now = time.time()
                    if self._ready and self._ready[0][0] <= now:
                        _, _, task = heapq.heappop(self._ready)
                        self._in_flight += 1
                        break
                    wait = self._ready[0][0] - now if self._ready else 0.5
                    self._lock.wait(min(wait, 0.5))
                else:
                    return
            try:
                self._attempt(task)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._lock.notify_all()

    def _attempt(self, task: Task) -> None:
        faults = self.faults
        applies = faults.only(task)
        if faults.before_delivery and applies:
            faults.before_delivery(task)
        if applies and faults.duplicate == "concurrent":
            results: list[tuple[int, float | None]] = [(0, None), (0, None)]
            twin = threading.Thread(target=lambda: results.__setitem__(1, self._send(task, True)))
            twin.start()
            results[0] = self._send(task)
            twin.join()
            status, retry_after = max(results, key=lambda r: 200 <= r[0] < 300)
        else:
            status, retry_after = self._send(task)
            if applies and faults.duplicate == "sequential":
                self._send(task, twin=True)
        if applies and faults.lose_first_answer and task.attempt == 0 and 200 <= status < 300:
            status, retry_after = 0, None  # the work was done; the answer never arrived
        if 200 <= status < 300:
            self._done(task)
            return
        task.executions += 1 if 0 < status < 500 else 0
        task.attempt += 1
        if task.attempt >= self.max_attempts:
            with self._lock:
                self.records.dropped.append(task.short)
            self._done(task)
            return
        backoff = min(self.min_backoff * 2 ** (task.attempt - 1), self.max_backoff)
        if retry_after is not None and status in (429, 503):
            backoff = min(max(retry_after, backoff), self.max_retry_after)
        self._push(task, time.time() + backoff)

    def _send(self, task: Task, twin: bool = False) -> tuple[int, float | None]:
        headers = {
            **task.headers,
            "X-CloudTasks-QueueName": task.queue.rsplit("/", 1)[-1],
            "X-CloudTasks-TaskName": task.short,
            "X-CloudTasks-TaskRetryCount": str(task.attempt),
            "X-CloudTasks-TaskExecutionCount": str(task.executions),
            "X-CloudTasks-TaskETA": str(task.eta or time.time()),
        }
        if task.oidc:
            token = self.issuer.token(task.oidc["email"], task.oidc["audience"])
            headers["Authorization"] = f"Bearer {token}"
        started = time.time()
        retry_after: float | None = None
        try:
            answer = self._http.post(task.url, data=task.body, headers=headers,
                                     timeout=self.deadline)
            status = answer.status_code
            if answer.headers.get("Retry-After", "").isdigit():
                retry_after = float(answer.headers["Retry-After"])
        except requests.RequestException:
            status = 0
        with self._lock:
            self.records.deliveries.append(Delivery(task.short, task.kind, task.attempt, status,
                                                    started, time.time(), len(task.body), twin))
        return status, retry_after

    def _done(self, task: Task) -> None:
        with self._lock:
            self._names[task.name] = time.time() + self.reserve_seconds
            self.records.completed.add(task.short)

    # -- views for assertions ------------------------------------------------------------------
    def deliveries(self, kind: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.records.deliveries if kind is None or d.kind == kind]

    def created(self, kind: str | None = None) -> list[tuple[str, str, int]]:
        with self._lock:
            return [c for c in self.records.created if kind is None or c[1] == kind]

    def largest_body(self) -> int:
        with self._lock:
            return max((size for _, _, size in self.records.created), default=0)


def _handler(dispatcher: Dispatcher) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            """Google's certificates, as the test issuer's (``/certs``)."""
            body = json.dumps(dispatcher.issuer.certs()).encode()
            self.send_response(200 if self.path == "/certs" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = json.loads(self.rfile.read(length) or b"{}")
            answer: dict[str, Any] = {}
            if self.path == "/create":
                answer = dispatcher.on_create(data["name"], data["size"], data.get("kind", ""))
            elif self.path == "/deleted":
                dispatcher.on_deleted(data["name"])
            elif self.path == "/dispatch":
                dispatcher.on_dispatch(data)
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
