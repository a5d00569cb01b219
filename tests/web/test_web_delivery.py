"""Step requests from the task queue (b2_iconik.edge.delivery), through the plugin's handler."""

from __future__ import annotations

import pytest

from tests.web.support import (
    B2,
    ICONIK,
    JOB,
    LL,
    SECRET,
    TOKEN,
    RecordingRunner,
)


def test_step_request_refused_when_steps_run_in_process(client, runner):
    answer = client.post("/remove", data=b"{}", content_type="application/json",
                         headers={"x-bz-secret": SECRET, "X-B2-Iconik-Step": "process"})
    assert answer.status_code == 400
    assert "X-B2-Iconik-Step" in answer.get_json()["error"]
    assert not runner.started


class RecordingDeliveries:
    """Stands in for the Cloud Tasks runner: records the steps delivered to it."""

    def __init__(self, answer=None) -> None:
        from b2_iconik.engine.cloud_tasks import Delivered

        self.delivered: list = []
        self.answer = answer or Delivered(200, "done")

    def deliver(self, step, delivery):
        self.delivered.append((step, delivery))
        return self.answer

    def authenticate(self, headers) -> None:
        from b2_iconik.auth.oidc import Unauthenticated

        if headers.get("x-bz-secret") != SECRET:
            raise Unauthenticated("missing or wrong shared secret")

    def unseal(self, step):
        return step


def _queued_plugin(answer=None):
    from b2_iconik.app import build_plugin
    from b2_iconik.base.config import Settings

    settings = Settings(iconik_id="app", iconik_url=ICONIK, shared_secret=SECRET,
                        tasks_queue="projects/p/locations/l/queues/q", tasks_url="http://x/")
    plugin = build_plugin(settings, configure_logging=False)
    plugin.runner = RecordingRunner()
    plugin.deliveries = RecordingDeliveries(answer)
    return plugin


def _step_request(path: str, data: bytes, kind: str = "chunk", **headers: str):
    import io

    from b2_iconik.edge.http import Request

    return Request("POST", path, {"x-bz-secret": SECRET, "X-B2-Iconik-Step": kind, **headers},
                   {}, io.BytesIO(data).read, len(data))


def test_step_request_is_delivered_with_its_retry_headers():
    from b2_iconik.rules.payload import ActionOptions
    from b2_iconik.rules.steps import CHUNK, Step

    plugin = _queued_plugin()
    step = Step("remove", JOB, ActionOptions(B2, LL, ("ORIGINAL",)), TOKEN, kind=CHUNK)
    answer = plugin.handle(_step_request(
        "/remove", step.to_json().encode(), **{"X-CloudTasks-TaskRetryCount": "3",
                                              "X-CloudTasks-TaskExecutionCount": "1",
                                              "X-CloudTasks-TaskName": step.task_id()}))
    assert (answer.status, answer.body["job_id"]) == (200, JOB)
    ((delivered, delivery),) = plugin.deliveries.delivered
    assert delivered == step
    assert (delivery.retry_count, delivery.execution_count, delivery.task_name) == (
        3, 1, step.task_id())
    assert not plugin.runner.started


def test_step_answer_carries_retry_after_when_asked_again():
    from b2_iconik.engine.cloud_tasks import Delivered
    from b2_iconik.rules.payload import ActionOptions
    from b2_iconik.rules.steps import CHUNK, Step

    plugin = _queued_plugin(Delivered(503, "a twin is running", 60))
    step = Step("remove", JOB, ActionOptions(B2, LL, ("ORIGINAL",)), TOKEN, kind=CHUNK)
    answer = plugin.handle(_step_request("/remove", step.to_json().encode()))
    assert (answer.status, answer.headers["Retry-After"]) == (503, "60")


def test_a_lease_delivered_by_mistake_is_a_no_op():
    plugin = _queued_plugin()
    answer = plugin.handle(_step_request("/remove", b"{}", kind="lease"))
    assert answer.status == 200
    assert not plugin.deliveries.delivered


@pytest.mark.parametrize(("path", "data"), [("/remove", b"{}"), ("/remove", b"[not json"),
                                            ("/add", None)])
def test_bad_step_request_gets_400(path, data):
    from b2_iconik.rules.payload import ActionOptions
    from b2_iconik.rules.steps import Step

    plugin = _queued_plugin()
    if data is None:  # a remove step sent to …/add
        data = Step("remove", JOB, ActionOptions(B2, LL, ("ORIGINAL",)), TOKEN).to_json().encode()
    answer = plugin.handle(_step_request(path, data))
    assert answer.status == 400
    assert not plugin.deliveries.delivered


def test_deeply_nested_step_gets_400_not_500():
    plugin = _queued_plugin()
    answer = plugin.handle(_step_request("/remove", b"[" * 100_000 + b"]" * 100_000))
    assert answer.status == 400
    assert not plugin.runner.started
