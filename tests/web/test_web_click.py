"""A click's journey through the HTTP edge (b2_iconik.edge.click): the job, then the work."""

from __future__ import annotations

import json
import sys

import responses

from tests.web.support import (
    ASSET,
    B2,
    COLLECTION,
    ICONIK,
    JOB,
    LL,
    QUERY,
    SECRET,
    TOKEN,
    RecordingRunner,
    body,
    iconik_paths,
    post,
)


def test_accepted_action_answers_with_the_job_id(client, iconik, runner):
    answer = post(client)
    assert answer.status_code == 200
    assert answer.get_json()["job_id"] == JOB
    assert answer.get_json()["operation"] == "remove"
    (step,) = runner.started
    assert (step.operation, step.job_id, step.selection.asset_ids) == ("remove", JOB, (ASSET,))
    assert step.options.formats == ("ORIGINAL",)


def test_job_is_created_before_the_answer_with_a_clear_title(client, iconik):
    post(client, payload=body(context="BULK", asset_ids=[ASSET], collection_ids=[COLLECTION]))
    job = json.loads(iconik.calls[-1].request.body)
    assert job["title"] == "Remove 1 asset and 1 collection from LucidLink"
    assert job["status"] == "STARTED" and job["type"] == "CUSTOM"


def test_calls_to_iconik_use_app_id_and_the_users_token(client, iconik):
    post(client)
    for call in iconik.calls:
        assert call.request.headers["App-ID"] == "app-id-for-tests"
        assert call.request.headers["Auth-Token"] == TOKEN


def test_no_work_that_grows_with_the_selection_before_the_answer(client, iconik):
    many = [f"a0000000-0000-4000-8000-{i:012d}" for i in range(300)]
    post(client, payload=body(context="BULK", asset_ids=many, collection_ids=[COLLECTION]))
    assert iconik_paths(iconik) == [
        f"GET /API/files/v1/storages/{B2}/", f"GET /API/files/v1/storages/{LL}/",
        "POST /API/jobs/v1/jobs/",
    ]


def test_a_huge_selection_starts_as_shards_that_each_fit_in_a_task(client, iconik, runner):
    from b2_iconik.engine.cloud_tasks import MAX_TASK_BODY
    from b2_iconik.rules.plan import shard_of

    many = [f"a0000000-0000-4000-8000-{i:012d}" for i in range(20_000)]
    answer = post(client, payload=body(context="BULK", asset_ids=many,
                                       collection_ids=[COLLECTION]))
    assert answer.status_code == 200
    steps = runner.started
    assert len(steps) > 1
    assert {s.shards for s in steps} == {len(steps)}
    assert sorted(a for s in steps for a in s.selection.asset_ids) == sorted(many)
    for index, step in enumerate(steps):
        assert step.shard == index and step.selection.collection_ids == (COLLECTION,)
        assert all(shard_of(a, len(steps)) == index for a in step.selection.asset_ids)
        assert len(step.to_json().encode()) < MAX_TASK_BODY
        assert step.to_json().count(TOKEN) == 1  # on the step, not again in its selection
    job = json.loads(iconik.calls[-1].request.body)
    assert job["metadata"]["shards"] == len(steps)


def test_too_many_collections_at_once_get_400_and_change_nothing(client, iconik, runner):
    many = [f"c0000000-0000-4000-8000-{i:012d}" for i in range(600)]
    answer = post(client, payload=body(context="BULK", asset_ids=[], collection_ids=many))
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("collection_ids:")
    assert not iconik.calls and not runner.started


def test_storage_lookups_are_cached(client, iconik):
    post(client)
    post(client)
    storage_calls = [p for p in iconik_paths(iconik) if "/storages/" in p]
    assert len(storage_calls) == 2


def test_clicks_arriving_together_look_each_storage_up_once(app_module, client, iconik,
                                                           monkeypatch):
    """A burst of clicks on a fresh instance asks iconik about each storage once between them."""
    import threading

    storages = app_module[1].plugin.storages
    lookup, asking, all_asking = storages.lookup, [], threading.Event()

    def counted_lookup(storage_id: str) -> threading.Lock:
        if storage_id == B2:
            asking.append(storage_id)
            if len(asking) == 6:
                all_asking.set()
        return lookup(storage_id)

    monkeypatch.setattr(storages, "lookup", counted_lookup)

    def slow_storage(request):
        # Hold the first click's answer until every click has come to ask (not a sleep that a
        # loaded machine may outlast): the others must then take its answer, not ask again.
        if request.url.endswith(f"/{B2}/"):
            assert all_asking.wait(30), f"only {len(asking)} of 6 clicks came to ask"
        return 200, {}, json.dumps({"id": "s", "name": "s", "method": "B2", "purpose": "FILES"})

    for storage in (B2, LL):
        iconik.remove(responses.GET, f"{ICONIK}/API/files/v1/storages/{storage}/")
        iconik.add_callback(responses.GET, f"{ICONIK}/API/files/v1/storages/{storage}/",
                            callback=slow_storage)
    app = app_module[0]
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(post(app.test_client()).status_code))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 6
    storage_calls = [p for p in iconik_paths(iconik) if "/storages/" in p]
    assert sorted(storage_calls) == sorted(
        [f"GET /API/files/v1/storages/{B2}/", f"GET /API/files/v1/storages/{LL}/"])


def test_a_clicks_own_calls_go_in_the_click_lane(app_module, client, iconik):
    from b2_iconik.iconik.limiter import BACKGROUND, CLICK

    worker = app_module[1].plugin.worker
    made = []

    def recording(token):
        made.append(worker._default_client(token))
        return made[-1]

    worker._client_factory = recording
    try:
        assert post(client).status_code == 200
    finally:
        worker._client_factory = worker._default_client
    assert [c.lane for c in made] == [CLICK]
    assert worker.client(TOKEN).lane == BACKGROUND, "steps keep the background lane"


def test_formats_and_dry_run_are_honoured(client, iconik, runner):
    post(client, path="/remove" + QUERY + "&formats=ORIGINAL,PPRO_PROXY&dry_run=true")
    step = runner.started[-1]
    assert step.options.formats == ("ORIGINAL", "PPRO_PROXY")
    assert step.options.dry_run is True
    job = json.loads(iconik.calls[-1].request.body)
    assert job["title"].startswith("Dry run:")


def test_storages_default_to_the_environment(app_module, iconik):
    app, main = app_module
    from dataclasses import replace

    saved = main.plugin.settings
    main.plugin.settings = replace(saved, b2_storage_id=B2, ll_storage_id=LL)
    main.plugin.runner = RecordingRunner()
    try:
        answer = post(app.test_client(), path="/add")
    finally:
        main.plugin.settings = saved
    assert answer.status_code == 200
    assert main.plugin.runner.started[-1].options.b2_storage_id == B2


def test_token_refused_by_iconik_gets_400_naming_auth_token(client, iconik, runner):
    iconik.replace(responses.GET, f"{ICONIK}/API/files/v1/storages/{B2}/", status=401,
                   json={"errors": ["Token is invalid"]})
    answer = post(client)
    assert answer.status_code == 400
    assert "auth_token" in answer.get_json()["error"]
    assert not runner.started


def test_iconik_down_while_accepting_gets_503(client, iconik, runner, app_module):
    from b2_iconik.iconik.client import IconikClient
    from b2_iconik.iconik.retry import retry_policy

    main = app_module[1]
    main.plugin.worker._client_factory = lambda token: IconikClient(
        ICONIK, "app-id-for-tests", token, retry=retry_policy(total=1, backoff_factor=0.01),
        copy_retry=retry_policy(total=1, backoff_factor=0.01, post=True),
    )
    iconik.replace(responses.POST, f"{ICONIK}/API/jobs/v1/jobs/", status=503,
                   json={"errors": ["down"]})
    try:
        answer = post(client)
    finally:
        main.plugin.worker._client_factory = main.plugin.worker._default_client
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    assert not runner.started


def test_secret_and_token_never_logged(client, iconik, capsys):
    from b2_iconik.base.logs import setup_logging

    setup_logging(stream=sys.stdout)
    post(client)
    post(client, secret="wrong")
    post(client, payload=body(context="NOPE"))
    out = capsys.readouterr().out
    assert "accepted remove" in out
    assert SECRET not in out and TOKEN not in out


def test_work_that_cannot_start_fails_its_job_and_answers_503(client, iconik, app_module):
    main = app_module[1]

    class RefusingRunner(RecordingRunner):
        def start(self, step) -> None:
            raise RuntimeError("queue unavailable")

    main.plugin.runner = RefusingRunner()
    iconik.patch(f"{ICONIK}/API/jobs/v1/jobs/{JOB}/", json={"id": JOB})
    answer = post(client)
    assert answer.status_code == 503
    final = json.loads(iconik.calls[-1].request.body)
    assert final["status"] == "FAILED" and "could not start the work" in final["message"]


def test_token_refused_when_the_storages_are_cached_still_gets_400(client, iconik, runner):
    # The storage check is cached, so the job is the first call with this token.
    assert post(client).status_code == 200
    iconik.replace(responses.POST, f"{ICONIK}/API/jobs/v1/jobs/", status=401,
                   json={"errors": ["Token is invalid"]})
    answer = post(client, payload=body(auth_token="expired-token"))
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("auth_token:")
    assert len(runner.started) == 1


def test_job_creation_refused_for_another_reason_gets_502(client, iconik, runner):
    iconik.replace(responses.POST, f"{ICONIK}/API/jobs/v1/jobs/", status=403,
                   json={"errors": ["You do not have permission to create jobs"]})
    answer = post(client)
    assert answer.status_code == 502
    assert "permission" in answer.get_json()["error"]
    assert not runner.started
