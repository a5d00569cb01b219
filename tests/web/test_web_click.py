"""The HTTP contract (DESIGN §3) through functions-framework's own Flask app, iconik mocked."""

from __future__ import annotations

import json
import sys

import pytest
import responses
from functions_framework import create_app

from tests import leaks

ICONIK = "https://iconik.test"
SECRET = "s3cret-value-for-tests"
TOKEN = "user-token-abcdef"
B2 = "b2000000-0000-4000-8000-000000000000"
LL = "11000000-0000-4000-8000-000000000000"
ASSET = "a0000000-0000-4000-8000-000000000001"
COLLECTION = "c0000000-0000-4000-8000-000000000001"
JOB = "j0000000-0000-4000-8000-000000000001"
QUERY = f"?b2_storage_id={B2}&ll_storage_id={LL}"
leaks.secret(SECRET)  # neither may appear in any log or output (see tests/leaks.py)
leaks.secret(TOKEN)


class RecordingRunner:
    """Stands in for the background pool: records the steps the handler starts."""

    def __init__(self) -> None:
        self.started: list = []

    def start(self, steps) -> None:
        self.started.extend(steps)

    def enqueue(self, step) -> bool:
        self.started.append(step)
        return True

    def claim(self, name) -> bool:
        return True


@pytest.fixture(scope="module")
def app_module():
    """Build the function once (each create_app re-imports main.py) with the env set."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ICONIK_ID", "app-id-for-tests")
    mp.setenv("ICONIK_URL", ICONIK)
    mp.setenv("BZ_SHARED_SECRET", SECRET)
    for name in ("B2_STORAGE_ID", "LL_STORAGE_ID", "FORMAT_NAMES", "FORMAT_NAME", "TASKS_QUEUE"):
        mp.delenv(name, raising=False)
    app = create_app("iconik_handler", "main.py")
    yield app, sys.modules["main"]
    mp.undo()


@pytest.fixture
def client(app_module):
    app, main = app_module
    main.plugin.runner = RecordingRunner()
    main.plugin.storages._known.clear()
    return app.test_client()


@pytest.fixture
def runner(app_module):
    return app_module[1].plugin.runner


@pytest.fixture
def iconik():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for storage in (B2, LL):
            mock.get(f"{ICONIK}/API/files/v1/storages/{storage}/",
                     json={"id": storage, "name": "s", "method": "B2", "purpose": "FILES"})
        mock.post(f"{ICONIK}/API/jobs/v1/jobs/", json={"id": JOB, "status": "STARTED"},
                  status=201)
        yield mock


def body(**changes):
    payload = {"context": "ASSET", "asset_ids": [ASSET], "collection_ids": [],
               "saved_search_ids": [], "auth_token": TOKEN, "user_id": ASSET}
    payload.update(changes)
    return payload


def post(client, path="/remove" + QUERY, payload=None, secret=SECRET, **kwargs):
    headers = {"x-bz-secret": secret} if secret is not None else {}
    if "data" not in kwargs:
        kwargs["json"] = body() if payload is None else payload
    return client.post(path, headers=headers, **kwargs)


def iconik_paths(mock) -> list[str]:
    return [f"{c.request.method} {c.request.path_url.split('?')[0]}" for c in mock.calls]


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


@pytest.mark.parametrize("prefix", ["", "/iconik_handler", "/a/b"])
@pytest.mark.parametrize("operation", ["add", "remove"])
@pytest.mark.parametrize("slash", ["", "/"])
def test_routing_on_the_path_suffix(client, iconik, runner, prefix, operation, slash):
    answer = post(client, path=f"{prefix}/{operation}{slash}{QUERY}")
    assert answer.status_code == 200
    assert runner.started[-1].operation == operation


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_get_405_with_a_message(client, iconik, method):
    answer = getattr(client, method)("/add" + QUERY, headers={"x-bz-secret": SECRET})
    assert answer.status_code == 405
    assert answer.get_json()["message"]
    assert answer.headers["Allow"] == "POST"
    assert not iconik.calls


@pytest.mark.parametrize("path", ["/copy", "/addx", "/add/more", "/readd", "/healthzz"])
def test_other_paths_get_404_json(client, iconik, path):
    answer = post(client, path=path)
    assert answer.status_code == 404
    assert answer.is_json
    assert not iconik.calls


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
def test_missing_or_wrong_secret_gets_401(client, iconik, runner, secret):
    answer = post(client, secret=secret)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"]
    assert answer.is_json
    assert not iconik.calls and not runner.started


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(context="ASSET_SUBCLIP"), "context"),
        (body(context=None), "context"),
        (body(context=["ASSET"]), "context"),
        (body(context={"ASSET": 1}), "context"),
        (body(asset_ids=["not-a-uuid"]), "asset_ids"),
        (body(collection_ids=[42]), "collection_ids"),
        (body(asset_ids="a0000000-0000-4000-8000-000000000001"), "asset_ids"),
        (body(asset_ids=[], collection_ids=[], saved_search_ids=[]), "asset_ids"),
        (body(auth_token=None), "auth_token"),
        (body(auth_token=" "), "auth_token"),
        ([1, 2], "body"),
    ],
)
def test_bad_payload_gets_400_naming_the_field_and_changes_nothing(
    client, iconik, runner, payload, field
):
    answer = post(client, payload=payload)
    assert answer.status_code == 400
    assert field in answer.get_json()["error"]
    assert not iconik.calls and not runner.started


@pytest.mark.parametrize("data", [b"", b"{not json", b"\xff\xfe"])
def test_body_that_is_not_json_gets_400(client, iconik, data):
    answer = post(client, data=data, content_type="application/json")
    assert answer.status_code == 400
    assert "body" in answer.get_json()["error"]


def test_body_over_one_mebibyte_gets_413(client, iconik, runner):
    big = json.dumps(body(padding="x" * (1024 * 1024)))
    answer = post(client, data=big, content_type="application/json")
    assert answer.status_code == 413
    assert "body" in answer.get_json()["error"]
    assert not runner.started


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"?ll_storage_id={LL}", "b2_storage_id"),
        (f"?b2_storage_id={B2}", "ll_storage_id"),
        (f"?b2_storage_id={B2}&ll_storage_id={B2}", "ll_storage_id"),
        (f"?b2_storage_id=nope&ll_storage_id={LL}", "b2_storage_id"),
        (QUERY + "&formats=,", "formats"),
        (QUERY + "&dry_run=maybe", "dry_run"),
    ],
)
def test_bad_storages_or_options_get_400_naming_them(client, iconik, runner, query, field):
    answer = post(client, path="/remove" + query)
    assert answer.status_code == 400
    assert field in answer.get_json()["error"]
    assert not runner.started


def test_storage_unknown_to_iconik_gets_400_naming_it(client, iconik, runner):
    unknown = "5e000000-0000-4000-8000-000000000000"
    iconik.get(f"{ICONIK}/API/files/v1/storages/{unknown}/", status=404,
               json={"errors": ["Storage not found"]})
    answer = post(client, path=f"/add?b2_storage_id={unknown}&ll_storage_id={LL}")
    assert answer.status_code == 400
    assert "b2_storage_id" in answer.get_json()["error"]
    assert unknown in answer.get_json()["error"]
    assert not runner.started
    assert "POST /API/jobs/v1/jobs/" not in iconik_paths(iconik)


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


@pytest.mark.parametrize("data", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_deeply_nested_body_gets_400_not_500(client, iconik, runner, data):
    answer = post(client, data=data, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("body:")
    assert not iconik.calls and not runner.started


def test_deeply_nested_step_gets_400_not_500():
    plugin = _queued_plugin()
    answer = plugin.handle(_step_request("/remove", b"[" * 100_000 + b"]" * 100_000))
    assert answer.status == 400
    assert not plugin.runner.started


@pytest.mark.parametrize("key", ["auth_token", "context", "asset_ids", "padding"])
def test_body_with_a_duplicate_key_gets_400_naming_it(client, iconik, runner, key):
    # Two parsers may pick different copies; iconik never sends one, so none is guessed at.
    text = json.dumps(body(padding=1))
    data = text[:-1] + f', "{key}": {json.dumps(body(padding=1)[key])}}}'
    answer = post(client, data=data, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"] == f"body: has the key {key!r} twice"
    assert not iconik.calls and not runner.started


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_body_with_non_standard_numbers_gets_400(client, iconik, runner, constant):
    data = json.dumps(body())[:-1] + f', "padding": {constant}}}'
    answer = post(client, data=data, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "body: is not valid JSON"
    assert not runner.started


@pytest.mark.parametrize("token", [TOKEN + "\u00e9", TOKEN + "\r\nX-Evil: 1", TOKEN + "\x00"],
                         ids=["unicode", "crlf", "nul"])
def test_token_that_cannot_be_a_header_gets_400_and_no_iconik_call(client, iconik, runner,
                                                                     token):
    answer = post(client, payload=body(auth_token=token))
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("auth_token:")
    assert not iconik.calls and not runner.started


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


@pytest.mark.parametrize("secret", [SECRET, "wrong", SECRET + "x", "", "\u00e9" * 8])
def test_secret_is_compared_in_constant_time_as_bytes(client, iconik, monkeypatch, secret):
    import hmac
    from types import SimpleNamespace

    from b2_iconik.edge import click

    calls: list[tuple[type, type]] = []

    def spy(a, b):
        calls.append((type(a), type(b)))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(click, "hmac", SimpleNamespace(compare_digest=spy))
    answer = post(client, secret=secret)
    assert calls == [(bytes, bytes)]  # once, whatever the length, never str against bytes
    assert answer.status_code == (200 if secret == SECRET else 401)


def test_missing_and_wrong_secrets_get_the_same_answer(client, iconik):
    missing, wrong = post(client, secret=None), post(client, secret=SECRET[:-1])
    assert (missing.status_code, missing.get_json()) == (wrong.status_code, wrong.get_json())
    assert missing.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]


# -- requests from iconik's automations (policies) ---------------------------------------------

APP_TOKEN = "app-token-for-tests-0123"
leaks.secret(APP_TOKEN)


class StaticAppToken:
    """The plugin's application token, as configured (or not), or unreadable."""

    where = "ICONIK_TOKEN, or the Secret Manager secret bz-iconik-token"

    def __init__(self, token=None, error=None) -> None:
        self.token, self.error = token, error

    def get(self):
        if self.error is not None:
            raise self.error
        return self.token


@pytest.fixture
def automations(app_module, client, iconik):
    """The plugin with an application token and fresh gathering windows; iconik answers the
    batch's calls (no batch yet, create the batch and its ledger part, write the ledger)."""
    from b2_iconik.engine.gathering import Gatherer

    main = app_module[1]
    main.plugin.app_token = StaticAppToken(APP_TOKEN)
    main.plugin.worker.gatherer = Gatherer(main.plugin.settings)
    iconik.get(f"{ICONIK}/API/jobs/v1/jobs/", json={"objects": [], "page": 1, "pages": 1})
    iconik.patch(f"{ICONIK}/API/jobs/v1/jobs/{JOB}/", json={"id": JOB})
    iconik.get(f"{ICONIK}/API/auth/v1/auth/token/",
               json={"user_id": "u0000000-0000-4000-8000-000000000001"})
    yield main.plugin
    main.plugin.app_token = StaticAppToken(None)


def auth_tokens(mock) -> set[str]:
    return {c.request.headers.get("Auth-Token") for c in mock.calls}


def test_a_policy_request_without_a_token_is_gathered_as_the_application(
        client, iconik, runner, automations):
    path = "/fn/policies/remove-when-approved/remove/" + QUERY
    answer = post(client, path, body(auth_token=None))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["job_id"] == JOB and answer.get_json()["gathered"] is True
    assert answer.get_json()["source"] == "automation: remove-when-approved, as the application"
    (close,) = runner.started
    assert close.kind == "close" and close.auth_token == APP_TOKEN
    assert auth_tokens(iconik) == {APP_TOKEN}
    batch = json.loads(next(c.request.body for c in iconik.calls if c.request.method == "POST"))
    assert batch["title"].endswith("(automation: remove-when-approved, as the application)")


def test_a_request_without_a_token_and_no_application_token_is_refused(client, iconik):
    answer = post(client, payload=body(auth_token=None))
    assert answer.status_code == 400
    assert "ICONIK_TOKEN" in answer.get_json()["error"]
    assert len(iconik.calls) == 0


def test_the_application_token_refused_by_iconik_is_the_operators_to_fix(
        client, automations):
    with responses.RequestsMock() as refusing:
        refusing.get(f"{ICONIK}/API/files/v1/storages/{B2}/", status=401,
                     json={"errors": ["Unauthorized"]})
        answer = post(client, payload=body(auth_token=None))
    assert answer.status_code == 502
    assert "application token" in answer.get_json()["error"]


def test_an_unreadable_application_token_asks_to_try_again(client, iconik, automations):
    from b2_iconik.base.errors import SecretUnavailable

    automations.app_token = StaticAppToken(error=SecretUnavailable("Secret Manager is down"))
    answer = post(client, payload=body(auth_token=None))
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert len(iconik.calls) == 0


def test_a_queue_that_refuses_the_batchs_start_is_503_and_the_batch_ends(
        client, iconik, automations):
    class Refusing(RecordingRunner):
        def enqueue(self, step) -> bool:
            raise RuntimeError("the queue is down")

    automations.runner = Refusing()
    answer = post(client, "/policies/remove-when-approved/remove" + QUERY, body())
    assert answer.status_code == 503
    ends = [json.loads(c.request.body) for c in iconik.calls if c.request.method == "PATCH"]
    assert any(e.get("status") == "FAILED" for e in ends)


def test_a_collection_from_an_automation_is_an_action_of_its_own(
        client, iconik, runner, automations):
    answer = post(client, "/policies/p1/remove" + QUERY,
                  body(context="COLLECTION", asset_ids=[], collection_ids=[COLLECTION],
                       auth_token=None))
    assert answer.status_code == 200
    assert "gathered" not in answer.get_json()
    (step,) = runner.started
    assert step.kind == "expand" and step.source == "automation: p1, as the application"


@pytest.mark.parametrize("name", ["Bad", "-x", "a" * 64, "a_b", "%20"])
def test_a_policy_name_that_is_not_one_is_refused(client, iconik, name):
    answer = post(client, f"/policies/{name}/remove" + QUERY)
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("policy:")
    assert len(iconik.calls) == 0
