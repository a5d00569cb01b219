"""Steps on Cloud Tasks: the real google-cloud-tasks client against a local emulator.

The emulator (gcloud-tasks-emulator, in its own virtualenv ``.venv-tasks`` that ``make test``
builds) really dispatches each task as an HTTP POST, honouring ``schedule_time``. First the
runner alone against a recording server, then the whole function on a queue, end to end.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from b2_iconik.config import Settings
from b2_iconik.payload import ActionOptions
from b2_iconik.secret import SharedSecret
from b2_iconik.steps import PROCESS, Step
from b2_iconik.tasks import STEP_HEADER, CloudTasksRunner
from tests.scenarios.conftest import (
    ROOT,
    SECRET,
    WAIT_SECONDS,
    click,
    free_port,
    on_storage,
    seed,
    serve_plugin,
    wait_for_job,
    wait_for_port,
)

pytestmark = pytest.mark.e2e

QUEUE = "projects/test-project/locations/here/queues/b2-iconik"
OPTIONS = ActionOptions("b2000000-0000-4000-8000-000000000000",
                        "11000000-0000-4000-8000-000000000000", ("ORIGINAL",))
EMULATOR_PYTHON = ROOT / ".venv-tasks" / "bin" / "python"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gcloud-tasks-emulator on 127.0.0.1; yields its host:port."""
    if not EMULATOR_PYTHON.exists():
        pytest.skip("the Cloud Tasks emulator is not installed: run `make test`")
    port = free_port()
    log_path = tmp_path_factory.mktemp("emulator") / "emulator.log"
    script = Path(__file__).with_name("run_tasks_emulator.py")
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(EMULATOR_PYTHON), str(script), str(port), QUEUE],
                                   stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, process, log_path)
    yield f"127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def queued_server(sandbox, emulator, tmp_path_factory) -> Iterator[dict]:
    """The plugin with TASKS_QUEUE set: every background step goes through the emulator."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("queued") / "plugin.log"
    yield from serve_plugin(
        sandbox, log_path, port, TASKS_QUEUE=QUEUE, TASKS_URL=f"http://127.0.0.1:{port}/",
        CLOUD_TASKS_EMULATOR_HOST=emulator,
    )


def queue_settings(url: str, emulator: str | None = None) -> Settings:
    return Settings(iconik_id="app", shared_secret=SECRET, tasks_queue=QUEUE, tasks_url=url,
                    cloud_tasks_emulator_host=emulator)


def wait_for_requests(server: HTTPServer, count: int, timeout: float = 15) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(server.log) >= count:
            return [request for request, _ in server.log]
        time.sleep(0.05)
    raise AssertionError(f"{len(server.log)} of {count} task deliveries arrived")


def test_runner_queues_a_task_that_posts_the_step_back(emulator, httpserver):
    httpserver.expect_request("/remove", method="POST").respond_with_data("ok")
    settings = queue_settings(httpserver.url_for("/"), emulator)
    step = Step("remove", "job-1", OPTIONS, "user-token", stage=PROCESS, remaining=("a",), total=1)
    CloudTasksRunner(settings, SharedSecret(settings), execute=lambda s: None).start(step)
    (delivered,) = wait_for_requests(httpserver, 1)
    assert delivered.headers["x-bz-secret"] == SECRET
    assert delivered.headers[STEP_HEADER] == PROCESS
    assert delivered.headers["X-CloudTasks-QueueName"]
    assert Step.from_json(delivered.get_data()) == step


def test_a_step_for_later_is_delivered_no_sooner(emulator, httpserver):
    httpserver.expect_request("/add", method="POST").respond_with_data("ok")
    settings = queue_settings(httpserver.url_for("/"), emulator)
    queued_at = time.time()
    step = Step("add", "job-2", OPTIONS, "t", stage=PROCESS, not_before=queued_at + 1.5)
    CloudTasksRunner(settings, SharedSecret(settings), execute=lambda s: None).start(step)
    wait_for_requests(httpserver, 1)
    assert time.time() - queued_at >= 1.4


def test_remove_runs_every_step_through_the_queue(sb, queued_server):
    ids = seed(sb, assets=10, on_ll=1.0, b2_missing=2, b2_wrong_size=1, b2_bad_status=0)
    answer = click(queued_server, "remove", ids, {"collection_ids": [ids.root_collection_id]},
                   sb.token)
    assert answer.status_code == 200
    job_id = answer.json()["job_id"]
    job = wait_for_job(sb, job_id, timeout=WAIT_SECONDS + 30)
    assert job["status"] == "FAILED"
    assert ids.b2_wrong_size[0] in job["message"]
    assert on_storage(sb, ids.b2_wrong_size[0], ids.ll_storage_id)
    for asset in ids.b2_missing:  # copied to B2 while re-checks waited as delayed tasks
        assert not on_storage(sb, asset, ids.ll_storage_id)
    lines = [json.loads(line) for line in queued_server["log"].read_text().split("\n")
             if line.startswith("{")]
    ran = [line for line in lines if line.get("job_id") == job_id
           and line.get("message", "").startswith("running a ")]
    assert len(ran) >= 3  # expand+process, at least one re-check, the final round
    assert sb.token not in queued_server["log"].read_text()


def test_add_runs_through_the_queue(sb, queued_server):
    ids = seed(sb, assets=5, on_ll=0.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    answer = click(queued_server, "add", ids, {"asset_ids": ids.asset_ids}, sb.token)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=30)
    assert job["status"] == "FINISHED", job["message"]
    for asset in ids.asset_ids:
        assert on_storage(sb, asset, ids.ll_storage_id)


def test_step_requests_need_the_shared_secret(sb, queued_server):
    import requests

    answer = requests.post(queued_server["url"] + "/remove", data=b"{}", timeout=5,
                           headers={STEP_HEADER: PROCESS, "x-bz-secret": "wrong"})
    assert answer.status_code == 401


def test_a_step_too_large_for_a_task_fails_its_job_clearly():
    settings = queue_settings("http://127.0.0.1:9/")
    many = tuple(f"a0000000-0000-4000-8000-{i:012d}" for i in range(40_000))
    huge = Step("remove", "job-3", OPTIONS, "t", stage=PROCESS, remaining=many, total=len(many))
    given_up: list[tuple[Step, str]] = []
    runner = CloudTasksRunner(settings, SharedSecret(settings), execute=lambda s: huge,
                              give_up=lambda s, why: given_up.append((s, why)))
    runner.run(Step("remove", "job-3", OPTIONS, "t"))  # no queue is reached: refused before
    ((step, why),) = given_up
    assert step is huge and "select fewer assets" in why
