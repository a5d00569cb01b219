"""The Cloud Tasks runner's rules, with a fake Cloud Tasks client: names, leases, twins, retries
and the last attempt. (tests/scenarios/test_cloud_tasks*.py run the real client end to end.)"""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions

from b2_iconik.auth.secret import SharedSecret
from b2_iconik.base.config import Settings
from b2_iconik.base.errors import QueueRefused
from b2_iconik.engine.cloud_tasks import (
    LEASE,
    MAX_TASK_BODY,
    STEP_HEADER,
    TWIN_WAIT_SECONDS,
    CloudTasksRunner,
    Delivery,
    StepTooLarge,
)
from b2_iconik.rules.payload import ActionOptions
from b2_iconik.rules.steps import CHUNK, Step

QUEUE = "projects/p/locations/l/queues/q"
OPTIONS = ActionOptions("b2000000-0000-4000-8000-000000000000",
                        "11000000-0000-4000-8000-000000000000", ("ORIGINAL",))
NOW = 1_000.0
KEY = "0123456789abcdef" * 4


class FakeTasks:
    """Cloud Tasks' client: names taken once; errors on demand."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.names: set[str] = set()
        self.error: Exception | None = None

    def create_task(self, parent: str, task: dict[str, Any]) -> Any:
        if self.error is not None:
            raise self.error
        if task["name"] in self.names:
            raise exceptions.AlreadyExists("exists")
        self.names.add(task["name"])
        self.created.append(task)
        return task

    def delete_task(self, name: str) -> None:
        self.deleted.append(name)


class FakeWorker:
    def __init__(self, done_after: int | None = None, error: Exception | None = None) -> None:
        self.ran: list[tuple[Step, bool]] = []
        self.checks = 0
        self.done_after = done_after
        self.error = error

    def execute(self, step: Step, queue: Any, last_attempt: bool = True) -> None:
        self.ran.append((step, last_attempt))
        if self.error:
            raise self.error

    def already_done(self, step: Step, queue: Any) -> bool:
        self.checks += 1
        return self.done_after is not None and self.checks >= self.done_after


def make(worker: FakeWorker | None = None, attempts: int = 10) -> tuple[CloudTasksRunner, Any]:
    settings = Settings(iconik_id="app", shared_secret="s3cret", tasks_queue=QUEUE,
                        tasks_url="https://fn.example/handler/", tasks_max_attempts=attempts,
                        tasks_token_key=KEY)
    clock = [NOW]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    runner = CloudTasksRunner(settings, SharedSecret(settings), worker or FakeWorker(),
                              clock=lambda: clock[0], sleep=sleep)
    runner._client = FakeTasks()
    return runner, runner._client


def step(**changes: Any) -> Step:
    fields = {"remaining": ("a",), "total": 1, **changes}
    return Step("remove", "job-1", OPTIONS, "user-token", kind=CHUNK, **fields)


# -- the queue ------------------------------------------------------------------------------------


def test_a_step_is_a_named_task_posting_it_to_the_function():
    runner, tasks = make()
    assert runner.enqueue(step()) is True
    (task,) = tasks.created
    assert task["name"] == f"{QUEUE}/tasks/{step().task_id()}"
    assert task["http_request"]["url"] == "https://fn.example/handler/remove"
    assert task["http_request"]["headers"][STEP_HEADER] == CHUNK
    assert task["http_request"]["headers"]["x-bz-secret"] == "s3cret"
    assert runner.unseal(Step.from_json(task["http_request"]["body"])) == step()
    assert "schedule_time" not in task


def test_a_step_for_later_is_scheduled():
    runner, tasks = make()
    runner.enqueue(step(not_before=NOW + 30))
    assert tasks.created[0]["schedule_time"].seconds == int(NOW + 30)


def test_already_exists_means_queued_before():
    runner, _ = make()
    assert runner.enqueue(step()) is True
    assert runner.enqueue(step()) is False


@pytest.mark.parametrize("error", [exceptions.PermissionDenied("no"),
                                   exceptions.InvalidArgument("Task size too large"),
                                   exceptions.FailedPrecondition("queue paused for good")])
def test_a_lasting_refusal_is_queue_refused(error):
    runner, tasks = make()
    tasks.error = error
    with pytest.raises(QueueRefused):
        runner.enqueue(step())


def test_a_passing_failure_is_raised_as_it_is():
    runner, tasks = make()
    tasks.error = exceptions.ServiceUnavailable("try later")
    with pytest.raises(exceptions.ServiceUnavailable):
        runner.enqueue(step())


def test_a_step_too_large_never_reaches_the_queue():
    runner, tasks = make()
    many = tuple(str(n) * 36 for n in range(MAX_TASK_BODY // 36))
    with pytest.raises(StepTooLarge):
        runner.enqueue(step(remaining=many))
    assert tasks.created == []


def test_a_lease_is_a_name_taken_then_its_task_deleted():
    runner, tasks = make()
    assert runner.claim("lease-1") is True
    assert runner.claim("lease-1") is False
    (task,) = tasks.created
    assert task["http_request"]["headers"][STEP_HEADER] == LEASE
    assert tasks.deleted == [task["name"]]


# -- deliveries -----------------------------------------------------------------------------------


def test_a_first_delivery_runs_the_step():
    worker = FakeWorker()
    runner, _ = make(worker)
    answer = runner.deliver(step(), Delivery(retry_count=0))
    assert answer.status == 200
    assert worker.ran == [(step(), False)]
    assert worker.checks == 0  # a first delivery reads no marker


def test_a_twin_waits_for_the_first_and_does_not_run_again():
    worker = FakeWorker(done_after=3)
    runner, _ = make(worker)
    assert runner.deliver(step(), Delivery()).status == 200
    twin = runner.deliver(step(), Delivery())  # the same attempt, delivered again
    assert twin.status == 200 and "twin" in twin.message
    assert len(worker.ran) == 1


def test_a_twin_whose_first_never_finishes_asks_to_be_retried():
    worker = FakeWorker()
    runner, _ = make(worker)
    runner.claim(f"{step().task_id()}-lease0")  # the first delivery holds the lease, then dies
    twin = runner.deliver(step(), Delivery())
    assert (twin.status, twin.retry_after) == (503, 60)
    assert worker.ran == [] and worker.checks > 1
    assert runner._clock() - NOW >= TWIN_WAIT_SECONDS


def test_a_retry_of_a_step_already_done_does_nothing():
    worker = FakeWorker(done_after=1)
    runner, _ = make(worker)
    answer = runner.deliver(step(), Delivery(retry_count=1))  # the first answer was lost
    assert answer.status == 200 and worker.ran == []


def test_a_retry_of_a_step_not_done_runs_it():
    worker = FakeWorker()
    runner, _ = make(worker)
    assert runner.deliver(step(), Delivery(retry_count=2)).status == 200
    assert len(worker.ran) == 1


@pytest.mark.parametrize(("retries", "last"), [(0, False), (8, False), (9, True), (12, True)])
def test_the_last_attempt_is_told_to_the_worker(retries, last):
    worker = FakeWorker()
    runner, _ = make(worker, attempts=10)
    runner.deliver(step(), Delivery(retry_count=retries))
    assert worker.ran[0][1] is last


def test_a_step_that_fails_is_answered_500_so_the_queue_delivers_it_again():
    runner, _ = make(FakeWorker(error=RuntimeError("bug")))
    assert runner.deliver(step(), Delivery()).status == 500


def test_no_lease_for_want_of_permission_still_runs_the_step():
    worker = FakeWorker()
    runner, tasks = make(worker)
    tasks.error = exceptions.PermissionDenied("no")
    assert runner.deliver(step(), Delivery()).status == 200
    assert len(worker.ran) == 1


def test_an_unreachable_queue_at_the_lease_asks_for_a_retry():
    worker = FakeWorker()
    runner, tasks = make(worker)
    tasks.error = exceptions.ServiceUnavailable("down")
    answer = runner.deliver(step(), Delivery())
    assert answer.status == 503 and worker.ran == []


def test_delivery_headers_are_read_leniently():
    delivery = Delivery.from_headers({"X-CloudTasks-TaskRetryCount": "4",
                                      "x-cloudtasks-taskexecutioncount": "2",
                                      "X-CloudTasks-TaskName": "abc"})
    assert (delivery.retry_count, delivery.execution_count, delivery.task_name) == (4, 2, "abc")
    assert Delivery.from_headers({"X-CloudTasks-TaskRetryCount": "x"}).retry_count == 0


# -- OIDC instead of the shared secret, and no readable token ------------------------------------


def test_with_a_service_account_a_task_carries_its_oidc_token_and_no_secret():
    settings = Settings(iconik_id="app", shared_secret="s3cret", tasks_queue=QUEUE,
                        tasks_url="https://fn.example/handler/", tasks_token_key=KEY,
                        tasks_service_account="b2-iconik@p.iam.gserviceaccount.com")
    runner = CloudTasksRunner(settings, SharedSecret(settings), FakeWorker())
    runner._client = FakeTasks()
    runner.enqueue(step())
    (task,) = runner._client.created
    request = task["http_request"]
    assert request["oidc_token"] == {"service_account_email": "b2-iconik@p.iam.gserviceaccount.com",
                                     "audience": "https://fn.example/handler"}
    assert "x-bz-secret" not in request["headers"]
    assert b"s3cret" not in request["body"] and b"user-token" not in request["body"]
    from b2_iconik.auth.oidc import Unauthenticated

    with pytest.raises(Unauthenticated):  # the shared secret opens no door to steps
        runner.authenticate({"x-bz-secret": "s3cret"})


def test_without_a_service_account_steps_need_the_shared_secret():
    from b2_iconik.auth.oidc import Unauthenticated

    runner, _ = make()
    runner.authenticate({"X-BZ-Secret": "s3cret"})
    with pytest.raises(Unauthenticated):
        runner.authenticate({"x-bz-secret": "wrong"})
