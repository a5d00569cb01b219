"""Steps on Cloud Tasks: the real google-cloud-tasks client against the emulator.

The emulator (gcloud-tasks-emulator in its own virtualenv ``.venv-tasks``, wrapped by
``run_tasks_emulator.py``) keeps the tasks and their schedule; the dispatcher
(``dispatcher.py``) delivers them as Cloud Tasks does, with its names, headers, retries and
concurrency, which the emulator lacks. First the runner alone against a recording server, then
the whole function on the queue, end to end against the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from b2_iconik.auth.secret import SharedSecret
from b2_iconik.base.config import Settings
from b2_iconik.base.errors import QueueRefused
from b2_iconik.engine.cloud_tasks import STEP_HEADER, CloudTasksRunner, StepTooLarge
from b2_iconik.rules.payload import ActionOptions
from b2_iconik.rules.steps import CHUNK, Step
from tests.scenarios.actions import click, on_storage, seed, terminal_patches, wait_for_job
from tests.scenarios.dispatcher import Dispatcher
from tests.scenarios.servers import QUEUE, SECRET, TASKS_ACCOUNT, TASKS_KEY

pytestmark = pytest.mark.e2e

OPTIONS = ActionOptions("b2000000-0000-4000-8000-000000000000",
                        "11000000-0000-4000-8000-000000000000", ("ORIGINAL",))


class Unused:
    """A worker for a runner that only queues."""

    def execute(self, step, queue, last_attempt=True) -> None:
        raise AssertionError("not expected to run steps")

    def already_done(self, step, queue) -> bool:
        raise AssertionError("not expected to run steps")


def runner(url: str, emulator: str | None = None) -> CloudTasksRunner:
    settings = Settings(iconik_id="app", shared_secret=SECRET, tasks_queue=QUEUE, tasks_url=url,
                        cloud_tasks_emulator_host=emulator, tasks_token_key=TASKS_KEY)
    return CloudTasksRunner(settings, SharedSecret(settings), Unused())


def chunk_step(job: str = "job-1", **changes) -> Step:
    fields = {"remaining": ("a",), "total": 1, **changes}
    return Step("remove", job, OPTIONS, "user-token", kind=CHUNK, **fields)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s")


@pytest.fixture
def recorder(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    httpserver.expect_request("/remove", method="POST").respond_with_data("ok")
    httpserver.expect_request("/add", method="POST").respond_with_data("ok")
    yield httpserver


# -- the runner alone ---------------------------------------------------------------------------

def test_a_step_becomes_a_named_task_that_posts_it_back(emulator, queue, recorder):
    step = chunk_step(job="job-named")
    assert runner(recorder.url_for("/"), emulator).enqueue(step) is True
    delivered = wait_for(lambda: [r for r, _ in recorder.log], what="the delivery")[0]
    assert delivered.headers["x-bz-secret"] == SECRET
    assert delivered.headers[STEP_HEADER] == CHUNK
    assert delivered.headers["X-CloudTasks-TaskName"] == step.task_id()
    assert delivered.headers["X-CloudTasks-TaskRetryCount"] == "0"
    tasks = runner(recorder.url_for("/"), emulator)
    assert tasks.unseal(Step.from_json(delivered.get_data())) == step


def test_a_name_is_taken_once(emulator, queue, recorder):
    tasks = runner(recorder.url_for("/"), emulator)
    step = chunk_step(job="job-once")
    assert tasks.enqueue(step) is True
    assert tasks.enqueue(step) is False  # Cloud Tasks: ALREADY_EXISTS, which counts as done
    assert tasks.claim("lease-of-job-once") is True
    assert tasks.claim("lease-of-job-once") is False
    wait_for(lambda: recorder.log, what="the delivery")
    assert tasks.enqueue(step) is False  # still refused after it ran
    assert [c[0] for c in queue.created()].count(step.task_id()) == 1


def test_a_step_for_later_is_delivered_no_sooner(emulator, queue, recorder):
    queued_at = time.time()
    step = chunk_step(job="job-later", not_before=queued_at + 1.5)
    runner(recorder.url_for("/"), emulator).enqueue(step)
    wait_for(lambda: recorder.log, what="the delivery")
    assert time.time() - queued_at >= 1.4


def test_a_step_the_queue_refuses_is_said_so(emulator, queue, recorder):
    queue.faults.refuse = lambda name, kind, size: "PermissionDenied"
    with pytest.raises(QueueRefused, match="refused"):
        runner(recorder.url_for("/"), emulator).enqueue(chunk_step(job="job-refused"))


def test_a_step_too_large_for_a_task_is_refused_before_the_queue():
    many = tuple(f"a0000000-0000-4000-8000-{i:012d}" for i in range(4_000))
    huge = chunk_step(job="job-huge", remaining=many, total=len(many))
    with pytest.raises(StepTooLarge, match="does not fit"):
        runner("http://127.0.0.1:9/").enqueue(huge)  # no queue is reached


# -- the function on the queue, end to end ------------------------------------------------------

def test_remove_checks_again_through_a_delayed_task(sb, queued_server, queue: Dispatcher):
    """A copy to B2 held until after the first check: only a re-check task can verify it."""
    ids = seed(sb, assets=10, on_ll=1.0, b2_missing=2, b2_wrong_size=1, b2_bad_status=0,
               formats=("ORIGINAL",))
    sb.faults.copy_stays_open = list(ids.b2_missing)
    answer = click(queued_server, "remove", ids, {"collection_ids": [ids.root_collection_id]},
                   sb.token)
    assert answer.status_code == 200
    job_id = answer.json()["job_id"]
    wait_for(lambda: len(sb.state.open_copies) == len(ids.b2_missing), what="held copies")
    checked = len(queue.deliveries(CHUNK))
    wait_for(lambda: len(queue.deliveries(CHUNK)) > checked, what="a re-check while held")
    released = time.time()
    assert sb.state.complete_open_copies() >= len(ids.b2_missing)
    job = wait_for_job(sb, job_id, timeout=30)
    assert job["status"] == "FAILED"
    assert ids.b2_wrong_size[0] in job["message"]
    assert on_storage(sb, ids.b2_wrong_size[0], ids.ll_storage_id)
    for asset in ids.b2_missing:  # verified by a re-check that ran after the copies closed
        assert not on_storage(sb, asset, ids.ll_storage_id)
    # The round that verified them read after the release; it may have started just before
    # it (the next round is queued as soon as the one that saw the copies held ends), and the
    # queue records a delivery once the function has answered, after the job's end.
    wait_for(lambda: any(d.ended > released for d in queue.deliveries(CHUNK)),
             what="a re-check delivered after the copies to B2 were released")
    assert terminal_patches(sb, job_id) == 1
    assert sb.token not in queued_server["log"].read_text()


def test_add_runs_through_the_queue(sb, queued_server, queue: Dispatcher):
    ids = seed(sb, assets=5, on_ll=0.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    answer = click(queued_server, "add", ids, {"asset_ids": ids.asset_ids}, sb.token)
    job_id = answer.json()["job_id"]
    job = wait_for_job(sb, job_id, timeout=30)
    assert job["status"] == "FINISHED", job["message"]
    for asset in ids.asset_ids:
        assert on_storage(sb, asset, ids.ll_storage_id)
    assert terminal_patches(sb, job_id) == 1


def test_a_step_needs_cloud_tasks_oidc_token_not_the_shared_secret(sb, queued_server,
                                                                   queue: Dispatcher):
    import requests

    from tests.oidc_issuer import Issuer

    ids = seed(sb, assets=3, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               formats=("ORIGINAL",), saved_searches=0)
    answer = click(queued_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token)
    wait_for_job(sb, answer.json()["job_id"], timeout=30)
    body = queue.records.bodies[0]  # a real step, as the queue holds it
    url, audience = queued_server["url"] + "/remove", queued_server["url"]
    before = len(sb.requests)
    forger, intruder = Issuer(queue.issuer.key_id), "intruder@x.iam.gserviceaccount.com"
    tokens = [forger.token(TASKS_ACCOUNT, audience), queue.issuer.token(intruder, audience),
              queue.issuer.token(TASKS_ACCOUNT, "https://elsewhere/")]
    refused = [{"x-bz-secret": SECRET}, {}, *({"Authorization": f"Bearer {t}"} for t in tokens)]
    for headers in refused:
        step = requests.post(url, data=body, timeout=5, headers={STEP_HEADER: CHUNK, **headers})
        assert step.status_code == 401, headers
    assert len(sb.requests) == before  # a refused step costs no iconik call


def test_no_task_body_holds_a_readable_token(sb, queued_server, queue: Dispatcher):
    ids = seed(sb, assets=6, on_ll=1.0, b2_missing=2, b2_wrong_size=0, b2_bad_status=0,
               formats=("ORIGINAL",), saved_searches=0)
    answer = click(queued_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token,
                   query="&formats=ORIGINAL")
    job = wait_for_job(sb, answer.json()["job_id"], timeout=30)
    assert job["status"] == "FINISHED", job["message"]  # the steps opened their tokens
    tokens = {token for _, token in sb.tokens._expiry}
    bodies = queue.records.bodies
    assert len(bodies) >= 2 and sb.token in tokens  # the expansion (with round 0), a re-check
    for body in bodies:
        assert not any(token.encode() in body for token in tokens)
        assert SECRET.encode() not in body


# -- the user's token through a long action ------------------------------------------------------

@pytest.fixture
def short_tokens(sb):
    """Every token made in this test lives 30 s: less than the plugin's margin (an hour), so
    each step renews the token it carries (POST, which leaves the old one valid)."""
    sb.tokens.lifetime = 30
    token = "short-lived-click-token-0001"
    sb.add_token(sb.app_id, token)
    yield token
    sb.tokens.lifetime = 86_400.0


def test_each_part_renews_the_token_and_none_pulls_it_from_another(sb, queued_server, queue,
                                                                  short_tokens):
    from b2_iconik.rules import add

    ids = seed(sb, assets=add.CHUNK + 100, on_ll=0.0, b2_missing=0, b2_wrong_size=0,
               b2_bad_status=0, formats=("ORIGINAL",), saved_searches=0)
    answer = click(queued_server, "add", ids, {"collection_ids": [ids.root_collection_id]},
                   short_tokens, query="&formats=ORIGINAL")
    job_id = answer.json()["job_id"]
    wait_for(lambda: sb.requests.count("POST", r"/auth/v1/auth/token/$"), what="a renewal")
    sb.tokens.expire(short_tokens)  # the click's own token dies early on: the work goes on
    job = wait_for_job(sb, job_id, timeout=60)
    assert job["status"] == "FINISHED", job["message"]
    renewals = sb.requests.count("POST", r"/auth/v1/auth/token/$")
    assert renewals >= 1 + 2  # the expansion, then each of the two parts on its own
    assert not sb.requests.filter(status=401), "a step acted with a dead token"
    assert terminal_patches(sb, job_id) == 1


def test_a_refused_renewal_ends_the_job_failed_with_the_assets_kept(sb, queued_server, queue,
                                                                   short_tokens):
    ids = seed(sb, assets=6, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
               formats=("ORIGINAL",), saved_searches=0)
    sb.tokens.refused_renewals = True
    answer = click(queued_server, "remove", ids, {"asset_ids": ids.asset_ids}, short_tokens)
    job = wait_for_job(sb, answer.json()["job_id"], timeout=30)
    assert job["status"] == "FAILED"
    assert "would not renew the user's token" in job["message"]
    for asset in ids.asset_ids:
        assert on_storage(sb, asset, ids.ll_storage_id)
    assert not sb.requests.count("DELETE")
