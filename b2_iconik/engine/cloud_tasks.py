"""Background steps on Cloud Tasks: the function calls itself through a queue.

On Google Cloud the CPU is throttled once an answer is sent, so work cannot go on in a thread.
Instead each step becomes a task: an HTTP POST to the function's own URL (``TASKS_URL``) with the
step as its JSON body and a marker header that tells the handler to run the step now instead of
treating the request as a click. A re-check is a task scheduled for later (``schedule_time``), so
nothing waits while holding an instance.

Nothing in a task lets its viewer act as someone else: with ``TASKS_SERVICE_ACCOUNT`` set, a task
carries Cloud Tasks' OIDC token for that account instead of the shared secret, checked by
:mod:`b2_iconik.auth.oidc`; and the user's iconik token in its body is sealed
(:mod:`b2_iconik.auth.sealing`).

Cloud Tasks delivers each task at least once, so every delivery goes through :meth:`deliver`:

* each task is named after its step (:meth:`Step.task_id`): a step that runs twice re-creates
  the same successors, and Cloud Tasks refuses them (ALREADY_EXISTS), which counts as done;
* a delivery first takes a *lease*, a name of its own per attempt (created, then deleted: Cloud
  Tasks keeps a used name for an hour). A twin delivered at the same time finds it taken, waits
  for the first to finish, and answers 200 without doing the work again;
* a delivery that is a retry (``X-CloudTasks-TaskRetryCount`` > 0, say after a lost answer)
  first reads the step's marker on its job, and does nothing if the step is already done;
* on the queue's last attempt (``TASKS_MAX_ATTEMPTS``) a step that fails keeps its assets and
  names them on the job instead of failing again, so nothing is dropped silently;
* a step the queue refuses for good (too large, not allowed) ends its part FAILED with the
  reason: it is never answered with an error that Cloud Tasks would retry forever.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from b2_iconik.auth.oidc import GOOGLE_CERTS_URL, OidcVerifier, Unauthenticated
from b2_iconik.auth.sealing import KEY_SECRET_ID, TokenSeal
from b2_iconik.auth.secret import ManagedSecret, SharedSecret
from b2_iconik.base.config import Settings
from b2_iconik.base.errors import QueueRefused
from b2_iconik.engine.runners import Queue
from b2_iconik.rules.steps import Step

log = logging.getLogger(__name__)

#: The header that marks a request as a step to run, not a click; its value is the step's kind.
STEP_HEADER = "X-B2-Iconik-Step"
#: The value of STEP_HEADER on a lease task (only delivered if deleting it failed): a no-op.
LEASE = "lease"
#: Cloud Tasks' longest dispatch deadline: a step must answer within it.
DISPATCH_DEADLINE_SECONDS = 1800
#: The most a task's body may hold: Cloud Tasks' tasks.create reference says 100 KB.
MAX_TASK_BODY = 100_000
#: How long a twin delivery waits for the first one to finish before asking to be retried.
TWIN_WAIT_SECONDS = 300.0
#: A lease task is deleted at once; should that fail, it fires this much later, as a no-op.
LEASE_PARK_SECONDS = 86_400

_REFUSED = ("InvalidArgument", "FailedPrecondition", "PermissionDenied", "NotFound",
            "Unauthenticated", "OutOfRange")


class StepTooLarge(QueueRefused):
    """A step's state does not fit in a task (it never should: steps are bounded)."""


class StepWorker(Protocol):
    """What the runner needs of :class:`b2_iconik.engine.worker.Worker`."""

    def execute(self, step: Step, queue: Queue, last_attempt: bool = True) -> None: ...

    def already_done(self, step: Step, queue: Queue) -> bool: ...


@dataclass(frozen=True)
class Delivery:
    """How Cloud Tasks delivered a step: its headers, read once."""

    task_name: str = ""
    retry_count: int = 0
    execution_count: int = 0

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Delivery:
        lowered = {k.lower(): v for k, v in headers.items()}
        return cls(
            task_name=lowered.get("x-cloudtasks-taskname", ""),
            retry_count=_count(lowered.get("x-cloudtasks-taskretrycount")),
            execution_count=_count(lowered.get("x-cloudtasks-taskexecutioncount")),
        )


@dataclass(frozen=True)
class Delivered:
    """What to answer Cloud Tasks: 2xx ends the task, anything else has it delivered again."""

    status: int
    message: str
    retry_after: int | None = None


class CloudTasksRunner:
    """Runs each step as a Cloud Tasks task that POSTs it back to the function.

    Args:
        settings: ``TASKS_QUEUE``, ``TASKS_URL``, ``TASKS_MAX_ATTEMPTS`` and, for local runs,
            the emulator's address.
        secret: the shared secret, sent with each task so the function accepts it.
        worker: runs steps (:class:`b2_iconik.engine.worker.Worker`).
        clock, sleep: wall-clock seconds and a sleeper (tests pass fakes).
    """

    def __init__(
        self,
        settings: Settings,
        secret: SharedSecret,
        worker: StepWorker,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not settings.tasks_queue or not settings.tasks_url:
            raise ValueError("CloudTasksRunner needs TASKS_QUEUE and TASKS_URL")
        self._queue = settings.tasks_queue
        self._url = settings.tasks_url.rstrip("/")
        self._emulator = settings.cloud_tasks_emulator_host
        self._max_attempts = settings.tasks_max_attempts
        self._secret = secret
        self._worker = worker
        self._clock = clock
        self._sleep = sleep
        self._client: Any = None
        self._lock = threading.Lock()
        self._seal = TokenSeal(ManagedSecret(settings, KEY_SECRET_ID, settings.tasks_token_key))
        self._account = settings.tasks_service_account
        self._oidc = (
            OidcVerifier(self._url, self._account,
                         settings.tasks_oidc_certs_url or GOOGLE_CERTS_URL)
            if self._account
            else None
        )

    # -- the queue -----------------------------------------------------------------------------

    def start(self, steps: Sequence[Step]) -> None:
        for step in steps:
            self.enqueue(step)

    def enqueue(self, step: Step) -> bool:
        """Queue the step as a task named after it (scheduled for ``not_before``).

        Returns:
            False when Cloud Tasks already had a task of that name: the step was queued before.

        Raises:
            QueueRefused: Cloud Tasks will never take this step.
            google.api_core.exceptions.GoogleAPICallError: a passing failure; try again.
        """
        sealed = replace(step, auth_token=self._seal.seal(step.auth_token, step.job_id))
        task = self._task(step.task_id(), step.operation, step.kind, sealed.to_json().encode())
        if step.not_before > self._clock():
            task["schedule_time"] = _timestamp(step.not_before)
        size = len(task["http_request"]["body"])
        if size > MAX_TASK_BODY:
            raise StepTooLarge(
                f"a {step.kind} step of {size} bytes does not fit in a Cloud Tasks task "
                f"({MAX_TASK_BODY} bytes)"
            )
        created = self._create(task)
        if created:
            log.info("queued a %s step as task %s", step.kind, step.task_id())
        return created

    def claim(self, name: str) -> bool:
        """Take a name as a lease: create a task of that name, then delete it at once.

        Cloud Tasks refuses the name for an hour afterwards, which is all a lease needs; the
        task itself never runs (if deleting it fails, it fires a day later as a no-op).
        """
        task = self._task(name, "remove", LEASE, b"{}")
        task["schedule_time"] = _timestamp(self._clock() + LEASE_PARK_SECONDS)
        if not self._create(task):
            return False
        try:
            self._tasks_client().delete_task(name=task["name"])
        except Exception as error:  # google.api_core errors; the lease holds either way
            log.warning("could not delete lease task %s: %s", name, type(error).__name__)
        return True

    # -- deliveries ----------------------------------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> None:
        """Check that a step request comes from the queue.

        Raises:
            Unauthenticated: no valid OIDC token for ``TASKS_SERVICE_ACCOUNT`` (or, without
                one set, no valid shared secret).
            b2_iconik.auth.oidc.CannotVerify: Google's certificates cannot be fetched now.
        """
        if self._oidc is not None:
            self._oidc.verify(headers)
            return
        given = next((v for k, v in headers.items() if k.lower() == "x-bz-secret"), "")
        if not hmac.compare_digest(given.encode(), self._secret.get()):
            raise Unauthenticated("missing or wrong shared secret")

    def unseal(self, step: Step) -> Step:
        """The step with its user's token opened.

        Raises:
            b2_iconik.auth.sealing.SealBroken: the token was changed, or sealed for another action.
        """
        return replace(step, auth_token=self._seal.open(step.auth_token, step.job_id))

    def deliver(self, step: Step, delivery: Delivery) -> Delivered:
        """Run a step Cloud Tasks delivered, at most once in effect (see the module's notes)."""
        try:
            if not self.claim(f"{step.task_id()}-lease{delivery.retry_count}"):
                return self._twin(step)
        except QueueRefused as refused:  # a lease only guards against rare twins: go on
            log.error("could not take this step's lease: %s", refused)
        except Exception as error:  # the queue is unreachable: have the step delivered again
            log.warning("could not take this step's lease (%s): asking to be retried", error)
            return Delivered(503, "the queue is unavailable; deliver the step again", 30)
        if delivery.retry_count and self._worker.already_done(step, self):
            log.info("a %s step delivered again was already done", step.kind)
            return Delivered(200, "already done")
        last = delivery.retry_count + 1 >= self._max_attempts
        try:
            self._worker.execute(step, self, last_attempt=last)
        except Exception as error:
            log.warning("the %s step failed (%s); the queue will deliver it again", step.kind,
                        type(error).__name__)
            return Delivered(500, "the step failed; deliver it again")
        return Delivered(200, "done")

    def _twin(self, step: Step) -> Delivered:
        """Another delivery of this attempt holds the lease: wait until it is done."""
        log.info("a twin delivery of this %s step is running: waiting for it", step.kind)
        deadline = self._clock() + TWIN_WAIT_SECONDS
        pause = 0.5
        while self._clock() < deadline:
            self._sleep(pause)
            if self._worker.already_done(step, self):
                return Delivered(200, "already done by a twin delivery")
            pause = min(pause * 2, 15.0)
        return Delivered(503, "a twin delivery of this step is still running", 60)

    # -- plumbing ------------------------------------------------------------------------------

    def _task(self, name: str, operation: str, kind: str, body: bytes) -> dict[str, Any]:
        from google.protobuf import duration_pb2

        headers = {"Content-Type": "application/json", STEP_HEADER: kind}
        request: dict[str, Any] = {
            "http_method": "POST",
            "url": f"{self._url}/{operation}",
            "headers": headers,
            "body": body,
        }
        if self._account:
            request["oidc_token"] = {"service_account_email": self._account,
                                     "audience": self._url}
        else:
            headers["x-bz-secret"] = self._secret.get().decode()
        return {
            "name": f"{self._queue}/tasks/{name}",
            "http_request": request,
            "dispatch_deadline": duration_pb2.Duration(seconds=DISPATCH_DEADLINE_SECONDS),
        }

    def _create(self, task: dict[str, Any]) -> bool:
        from google.api_core import exceptions

        try:
            self._tasks_client().create_task(parent=self._queue, task=task)
        except exceptions.AlreadyExists:
            return False
        except exceptions.GoogleAPICallError as error:
            if type(error).__name__ in _REFUSED:
                raise QueueRefused(f"Cloud Tasks refused the step: {error.message}") from None
            raise
        return True

    def _tasks_client(self) -> Any:
        """The Cloud Tasks client, built once (the import is heavy: only when first needed)."""
        with self._lock:
            if self._client is None:
                from google.cloud import tasks_v2

                if self._emulator:
                    import grpc
                    from google.cloud.tasks_v2.services.cloud_tasks.transports import (
                        CloudTasksGrpcTransport,
                    )

                    channel = grpc.insecure_channel(self._emulator)
                    transport = CloudTasksGrpcTransport(channel=channel)
                    self._client = tasks_v2.CloudTasksClient(transport=transport)
                else:
                    self._client = tasks_v2.CloudTasksClient()
            return self._client


def _timestamp(when: float) -> Any:
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(when * 1e9))
    return stamp


def _count(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
