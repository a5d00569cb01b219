"""Background steps on Cloud Tasks: the function calls itself through a queue.

On Google Cloud the CPU is throttled once an answer is sent, so work cannot go on in a thread.
Instead each step becomes a task: an HTTP POST to the function's own URL (``TASKS_URL``) with
the step as its JSON body, the shared secret, and a marker header that tells the handler to run
the step now instead of treating the request as a click. A re-check is a task scheduled for
later (``schedule_time``), so nothing waits while holding an instance. Steps are idempotent, so
a task that Cloud Tasks delivers twice does no harm.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from b2_iconik.config import Settings
from b2_iconik.errors import PluginError
from b2_iconik.secret import SharedSecret
from b2_iconik.steps import Step

log = logging.getLogger(__name__)

#: The header that marks a request as a step to run, not a click.
STEP_HEADER = "X-B2-Iconik-Step"
#: Cloud Tasks' longest dispatch deadline: a step must answer within it.
DISPATCH_DEADLINE_SECONDS = 1800
#: The most a task's body may hold (Cloud Tasks takes 1 MB; the function reads 1 MiB).
MAX_TASK_BODY = 1_000_000

Execute = Callable[[Step], "Step | None"]
GiveUp = Callable[[Step, str], None]


class StepTooLarge(PluginError):
    """A step's state no longer fits in a task (a selection of many thousands of assets)."""


class CloudTasksRunner:
    """Runs each step as a Cloud Tasks task that POSTs it back to the function.

    Args:
        settings: ``TASKS_QUEUE``, ``TASKS_URL`` and, for local runs, the emulator's address.
        secret: the shared secret, sent with each task so the function accepts it.
        execute: runs one step and returns the next (``Worker.execute``).
        give_up: ends a step's job FAILED with a reason (``Worker.give_up``).
        clock: wall-clock seconds, to decide whether a step is for later.
    """

    def __init__(
        self,
        settings: Settings,
        secret: SharedSecret,
        execute: Execute,
        give_up: GiveUp | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not settings.tasks_queue or not settings.tasks_url:
            raise ValueError("CloudTasksRunner needs TASKS_QUEUE and TASKS_URL")
        self._queue = settings.tasks_queue
        self._url = settings.tasks_url.rstrip("/")
        self._emulator = settings.cloud_tasks_emulator_host
        self._secret = secret
        self._execute = execute
        self._give_up = give_up
        self._clock = clock
        self._client: Any = None
        self._lock = threading.Lock()

    def start(self, step: Step) -> None:
        """Queue the step as a task (scheduled for ``not_before`` when that is later).

        Raises:
            StepTooLarge: the step does not fit in a task.
            google.api_core.exceptions.GoogleAPICallError: the queue refused the task; the
                caller answers 5xx, so iconik (or Cloud Tasks, for a step) tries again.
        """
        task = self._task(step)
        size = len(task["http_request"]["body"])
        if size > MAX_TASK_BODY:
            raise StepTooLarge(
                f"the action's state ({size} bytes, {step.total} assets) does not fit in a "
                f"Cloud Tasks task ({MAX_TASK_BODY} bytes): select fewer assets at a time"
            )
        created = self._tasks_client().create_task(parent=self._queue, task=task)
        log.info("queued a %s step as task %s", step.stage, created.name.rsplit("/", 1)[-1])

    def run(self, step: Step) -> None:
        """Run a step delivered by Cloud Tasks, and queue the one that follows it."""
        following = self._execute(step)
        if following is None:
            return
        try:
            self.start(following)
        except StepTooLarge as error:
            log.error("%s", error)
            if self._give_up is None:
                raise
            self._give_up(following, str(error))

    def _task(self, step: Step) -> dict[str, Any]:
        from google.protobuf import duration_pb2, timestamp_pb2

        task: dict[str, Any] = {
            "http_request": {
                "http_method": "POST",
                "url": f"{self._url}/{step.operation}",
                "headers": {
                    "Content-Type": "application/json",
                    "x-bz-secret": self._secret.get().decode(),
                    STEP_HEADER: step.stage,
                },
                "body": step.to_json().encode(),
            },
            "dispatch_deadline": duration_pb2.Duration(seconds=DISPATCH_DEADLINE_SECONDS),
        }
        if step.not_before > self._clock():
            when = timestamp_pb2.Timestamp()
            when.FromNanoseconds(int(step.not_before * 1e9))
            task["schedule_time"] = when
        return task

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
