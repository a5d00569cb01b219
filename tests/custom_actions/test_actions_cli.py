"""The custom-action admin CLI (b2_iconik.custom_actions): planning, and main(argv) end to end.

The end-to-end tests run ``main(argv)`` in-process against a fake of iconik's custom-action and
storage endpoints, with the environment set through monkeypatch and the output captured.
"""

from __future__ import annotations

import abc
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from b2_iconik import custom_actions as ca
from b2_iconik.custom_actions import api as ca_api
from tests import leaks

APP_ID = "11111111-1111-1111-1111-111111111111"
TOKEN = "operator-token-0123456789"
SECRET = "s3cr3t-shared-value-abcdef"
B2 = "22222222-2222-2222-2222-222222222222"
LL = "33333333-3333-3333-3333-333333333333"
ENDPOINT = "https://europe-west1-proj.cloudfunctions.net/iconik_handler"
OTHER_ENDPOINT = "https://us-central1-other.cloudfunctions.net/iconik_handler"
leaks.secret(TOKEN)  # the CLI prints neither, whatever it is asked (see tests/leaks.py)
leaks.secret(SECRET)


# -- planning, no iconik -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "endpoint", "expected"),
    [
        (f"{ENDPOINT}/add?b2_storage_id=x", None, "add"),
        (f"{ENDPOINT}/remove/", None, "remove"),
        (f"{ENDPOINT}/add", ENDPOINT, "add"),
        (f"{ENDPOINT}/add", ENDPOINT + "/", "add"),
        (f"{ENDPOINT.upper().replace('/ICONIK_HANDLER', '/iconik_handler')}/add", ENDPOINT, "add"),
        (f"{OTHER_ENDPOINT}/add", ENDPOINT, None),
        (f"{ENDPOINT}/sub/add", ENDPOINT, None),
        (f"{ENDPOINT}/address", None, None),
        ("https://example.com/other", None, None),
        ("add", None, None),
        (None, None, None),
    ],
)
def test_operation_of(url: Any, endpoint: str | None, expected: str | None) -> None:
    assert ca.operation_of(url, endpoint) == expected


@pytest.mark.parametrize(
    ("operation", "formats", "title"),
    [
        ("add", ["ORIGINAL"], "Add original files to LucidLink"),
        (
            "add",
            ["ORIGINAL", "PPRO_PROXY"],
            "Add original and Premiere Pro proxy files to LucidLink",
        ),
        ("remove", ["ORIGINAL"], "Remove original files from LucidLink"),
        (
            "remove",
            ["ORIGINAL", "EDIT_PROXY", "MY_FORMAT"],
            "Remove original, edit proxy and MY_FORMAT files from LucidLink",
        ),
    ],
)
def test_titles(operation: str, formats: list[str], title: str) -> None:
    assert ca.action_title(operation, formats) == title


def test_endpoint_is_normalized_and_checked() -> None:
    assert ca.normalize_endpoint(ENDPOINT + "/") == ENDPOINT
    for bad in (
        "ftp://x/y",
        "not a url",
        f"{ENDPOINT}?a=b",
        f"{ENDPOINT}/add",
        f"{ENDPOINT}/remove/",
    ):
        with pytest.raises(ca.UsageError):
            ca.normalize_endpoint(bad)


def _spec(**overrides: Any) -> ca.ActionSpec:
    fields: dict[str, Any] = {
        "endpoint": ENDPOINT,
        "app_id": APP_ID,
        "secret": SECRET,
        "b2_storage_id": B2,
        "ll_storage_id": LL,
        "formats": ("ORIGINAL",),
    }
    fields.update(overrides)
    return ca.ActionSpec(**fields)


def test_plan_create_from_nothing_makes_eight_actions() -> None:
    changes = ca.plan_create([], _spec())
    assert [c.kind for c in changes] == ["create"] * 8
    assert {(c.context, ca.operation_of(c.action["url"])) for c in changes} == {
        (context, op) for context in ca.CONTEXTS for op in ca.OPERATIONS
    }
    add = changes[0].action
    assert add == {
        "type": "POST",
        "context": "ASSET",
        "title": "Add original files to LucidLink",
        "url": f"{ENDPOINT}/add?b2_storage_id={B2}&ll_storage_id={LL}&formats=ORIGINAL",
        "headers": {"x-bz-secret": SECRET},
        "app_id": APP_ID,
    }


def test_plan_create_updates_in_place_keeps_operator_fields_and_drops_duplicates() -> None:
    existing = [{**a.action, "id": str(uuid.uuid4())} for a in ca.plan_create([], _spec())]
    existing[0]["disabled"] = True
    duplicate = {**existing[1], "id": str(uuid.uuid4())}
    foreign = {**existing[2], "id": str(uuid.uuid4()), "url": f"{OTHER_ENDPOINT}/add"}
    changes = ca.plan_create(
        [*existing, duplicate, foreign], _spec(formats=("ORIGINAL", "PPRO_PROXY"))
    )
    kinds = [c.kind for c in changes]
    assert kinds.count("update") == 8
    assert kinds.count("delete") == 1
    assert [c.action_id for c in changes if c.kind == "delete"] == [duplicate["id"]]
    assert all(c.action_id != foreign["id"] for c in changes)
    first = changes[0]
    assert first.action_id == existing[0]["id"]
    assert first.action["disabled"] is True
    assert set(first.fields) == {"title", "url"}


def test_plan_create_again_with_same_spec_changes_nothing() -> None:
    existing = [{**c.action, "id": str(uuid.uuid4())} for c in ca.plan_create([], _spec())]
    assert {c.kind for c in ca.plan_create(existing, _spec())} == {"unchanged"}


def test_plan_without_storages_or_formats_leaves_them_to_the_function() -> None:
    change = ca.plan_create([], _spec(b2_storage_id=None, ll_storage_id=None, formats=None))[0]
    assert change.action["url"] == f"{ENDPOINT}/add"
    assert change.action["title"] == "Add original files to LucidLink"


def test_describe_masks_the_secret() -> None:
    for change in ca.plan_create([], _spec()):
        for dry_run in (True, False):
            line = ca.describe(change, dry_run)
            assert SECRET not in line
            assert "x-bz-secret: ****" in line


def test_display_url_masks_secret_like_query_values() -> None:
    url = f"{ENDPOINT}/add?b2_storage_id={B2}&secret=abc&auth_token=def&formats=A,B"
    shown = ca.display_url(url)
    assert "abc" not in shown and "def" not in shown
    assert f"b2_storage_id={B2}" in shown and "formats=A,B" in shown


# -- iconik for the CLI: the sandbox, and an in-memory fake ---------------------------------------


class Backend(abc.ABC):
    """What the CLI tests need of an iconik: credentials, three storages, custom actions."""

    url: str
    app_id: str
    token: str
    b2: str
    ll: str
    other: str

    @property
    @abc.abstractmethod
    def actions(self) -> dict[str, dict[str, Any]]:
        """The custom actions by id (live)."""

    @abc.abstractmethod
    def add(self, context: str, url: str, title: str = "x") -> str:
        """Create an action as another tool would; returns its id."""

    @abc.abstractmethod
    def fail(self, action_id: str, error: str) -> None:
        """Mark an action FAILING with a last error, as iconik does after failed calls."""

    @abc.abstractmethod
    def writes(self) -> int:
        """How many changing requests (not GET) the CLI sent so far."""

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return json.loads(json.dumps(self.actions))


class SandboxBackend(Backend):
    """The project's local iconik (iconik_sandbox), over a real socket on 127.0.0.1."""

    def __init__(self, sandbox: Any) -> None:
        self.sb = sandbox
        self.url, self.app_id, self.token = sandbox.url, sandbox.app_id, sandbox.token
        state = sandbox.state
        self.b2 = state.add_storage("B2 masters", "B2")["id"]
        self.ll = state.add_storage("LucidLink", "FILE")["id"]
        self.other = state.add_storage("Other", "FILE")["id"]

    @property
    def actions(self) -> dict[str, dict[str, Any]]:
        return self.sb.state.custom_actions

    def add(self, context: str, url: str, title: str = "x") -> str:
        body = {"type": "POST", "context": context, "title": title, "url": url}
        return str(self.sb.state.create_custom_action(context, body)["id"])

    def fail(self, action_id: str, error: str) -> None:
        self.sb.state.mark_action_failing(action_id, error)

    def writes(self) -> int:
        return sum(1 for r in self.sb.requests if r.method != "GET")


class FakeBackend(Backend):
    """iconik's custom-action CRUD and storage reads, in memory, answering through `responses`."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.url, self.app_id, self.token = "http://127.0.0.1:8931", APP_ID, TOKEN
        self.b2, self.ll, self.other = (str(uuid.uuid4()) for _ in range(3))
        self.storages = {
            self.b2: {"id": self.b2, "name": "B2 masters", "method": "B2"},
            self.ll: {"id": self.ll, "name": "LucidLink", "method": "FILE"},
            self.other: {"id": self.other, "name": "Other", "method": "FILE"},
        }
        self._actions: dict[str, dict[str, Any]] = {}
        self._writes = 0
        prefix = re.escape(self.url)
        actions = re.compile(prefix + r"/API/assets/v1/custom_actions/.*")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            mock.add_callback(method, actions, callback=self._on_actions)
        storages = re.compile(prefix + r"/API/files/v1/storages/.*")
        mock.add_callback("GET", storages, callback=self._on_storages)

    @property
    def actions(self) -> dict[str, dict[str, Any]]:
        return self._actions

    def add(self, context: str, url: str, title: str = "x") -> str:
        action_id = str(uuid.uuid4())
        self._actions[action_id] = {
            "id": action_id,
            "context": context,
            "title": title,
            "url": url,
            "type": "POST",
            "headers": {},
            "status": "HEALTHY",
        }
        return action_id

    def fail(self, action_id: str, error: str) -> None:
        self._actions[action_id].update(status="FAILING", last_error=error)

    def writes(self) -> int:
        return self._writes

    def _refused(self, request: Any) -> bool:
        return (request.headers.get("App-ID"), request.headers.get("Auth-Token")) != (
            self.app_id,
            self.token,
        )

    def _on_storages(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self._refused(request):
            return 401, {}, json.dumps({"errors": ["Token is invalid"]})
        storage_id = request.path_url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        storage = self.storages.get(storage_id)
        if storage is None:
            return 404, {}, json.dumps({"errors": ["Storage doesn't exist"]})
        return 200, {}, json.dumps(storage)

    def _on_actions(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self._refused(request):
            return 401, {}, json.dumps({"errors": ["Token is invalid"]})
        parts = request.path_url.split("?")[0].strip("/").split("/")[4:]
        if request.method != "GET":
            self._writes += 1
        if request.method == "GET" and not parts:
            return 200, {}, json.dumps({"objects": list(self._actions.values())})
        if request.method == "POST" and len(parts) == 1:
            body = json.loads(request.body)
            assert body["context"] == parts[0]
            action_id = str(uuid.uuid4())
            self._actions[action_id] = {**body, "id": action_id, "status": "HEALTHY"}
            return 201, {}, json.dumps(self._actions[action_id])
        if len(parts) == 2 and parts[1] in self._actions:
            context, action_id = parts
            assert self._actions[action_id]["context"] == context
            if request.method == "DELETE":
                del self._actions[action_id]
                return 204, {}, ""
            if request.method in ("PUT", "PATCH"):
                self._actions[action_id].update(json.loads(request.body))
                return 200, {}, json.dumps(self._actions[action_id])
        return 404, {}, json.dumps({"errors": ["not found"]})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """The operator's environment, with no .env file around and fast retries."""
    monkeypatch.chdir(tmp_path)
    for name in ("FORMAT_NAMES", "FORMAT_NAME", "B2_STORAGE_ID", "LL_STORAGE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TASKS_QUEUE", raising=False)
    monkeypatch.delenv("TASKS_URL", raising=False)
    monkeypatch.setenv("ICONIK_ID", APP_ID)
    monkeypatch.setenv("ICONIK_TOKEN", TOKEN)
    monkeypatch.setenv("BZ_SHARED_SECRET", SECRET)
    monkeypatch.setattr(ca_api, "CLI_RETRIES", 0)
    monkeypatch.setattr(ca_api, "CLI_BACKOFF", 0)
    return monkeypatch


@pytest.fixture(params=["sandbox", "fake"])
def iconik(request: pytest.FixtureRequest, env: pytest.MonkeyPatch) -> Iterator[Backend]:
    """An iconik the CLI is pointed at (ICONIK_URL, ICONIK_ID, ICONIK_TOKEN set to match)."""
    backend: Backend
    if request.param == "sandbox":
        server = pytest.importorskip("iconik_sandbox.server")
        with server.Sandbox() as sandbox:
            backend = SandboxBackend(sandbox)
            _point_at(env, backend)
            yield backend
            assert sandbox.spec_violations == []
    else:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            backend = FakeBackend(mock)
            _point_at(env, backend)
            yield backend


def _point_at(env: pytest.MonkeyPatch, backend: Backend) -> None:
    env.setenv("ICONIK_URL", backend.url)
    env.setenv("ICONIK_ID", backend.app_id)
    env.setenv("ICONIK_TOKEN", backend.token)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """main(argv), its exit status and output; the secret and token never appear in either."""
    status = ca.main(list(argv))
    out, err = capsys.readouterr()
    for text in (out, err):
        assert SECRET not in text
        assert os.environ.get("ICONIK_TOKEN", TOKEN) not in text
    return status, out, err


def ours(backend: Backend, endpoint: str = ENDPOINT) -> list[dict[str, Any]]:
    return [a for a in backend.actions.values() if ca.operation_of(a["url"], endpoint)]


def create(backend: Backend, *extra: str) -> tuple[str, ...]:
    return ("create", ENDPOINT, "--b2-storage", backend.b2, "--ll-storage", backend.ll, *extra)


def test_create_twice_gives_the_same_eight_actions(iconik: Backend, capsys: Any) -> None:
    status, out, err = run(capsys, *create(iconik))
    assert status == 0, err
    assert "8 created" in out
    assert "b2-storage: B2 masters (B2" in out
    first = {a["id"]: a for a in ours(iconik)}
    assert len(first) == 8
    assert {(a["context"], ca.operation_of(a["url"])) for a in first.values()} == {
        (c, op) for c in ca.CONTEXTS for op in ca.OPERATIONS
    }
    for action in first.values():
        assert action["headers"] == {"x-bz-secret": SECRET}
        assert action["app_id"] == iconik.app_id
        assert action["type"] == "POST"
        assert f"b2_storage_id={iconik.b2}" in action["url"]
        assert f"ll_storage_id={iconik.ll}" in action["url"]
        assert action["title"] in {
            "Add original files to LucidLink",
            "Remove original files from LucidLink",
        }

    status, out, _ = run(capsys, *create(iconik, "--formats", "ORIGINAL,PPRO_PROXY"))
    assert status == 0
    assert "8 updated" in out
    second = {a["id"]: a for a in ours(iconik)}
    assert second.keys() == first.keys()
    assert {a["title"] for a in second.values()} == {
        "Add original and Premiere Pro proxy files to LucidLink",
        "Remove original and Premiere Pro proxy files from LucidLink",
    }
    assert all("formats=ORIGINAL,PPRO_PROXY" in a["url"] for a in second.values())
    assert len(iconik.actions) == 8

    writes = iconik.writes()
    status, out, _ = run(capsys, *create(iconik, "--formats", "ORIGINAL,PPRO_PROXY"))
    assert status == 0 and "8 unchanged" in out
    assert iconik.writes() == writes


def test_create_updates_actions_made_by_the_original_tool(iconik: Backend, capsys: Any) -> None:
    for context in ("ASSET", "COLLECTION", "BULK"):
        iconik.add(context, f"{ENDPOINT}/add", "Add to LucidLink")
        iconik.add(context, f"{ENDPOINT}/remove", "Remove from LucidLink")
    iconik.add("ASSET", f"{ENDPOINT}/add", "Add to LucidLink")  # the old tool, run twice
    status, out, _ = run(capsys, *create(iconik))
    assert status == 0
    assert "2 created, 6 updated, 1 deleted" in out
    assert len(ours(iconik)) == 8
    assert len(iconik.actions) == 8


def test_create_and_delete_never_touch_other_actions(iconik: Backend, capsys: Any) -> None:
    unrelated = iconik.add("ASSET", "https://example.com/hook", "Send to review")
    foreign = [
        iconik.add(context, f"{OTHER_ENDPOINT}/{op}", "Other deployment")
        for context in ca.CONTEXTS
        for op in ca.OPERATIONS
    ]
    before = {k: v for k, v in iconik.snapshot().items() if k in {unrelated, *foreign}}
    assert run(capsys, *create(iconik))[0] == 0
    assert len(iconik.actions) == 1 + 8 + 8
    assert {k: v for k, v in iconik.snapshot().items() if k in before} == before

    status, out, _ = run(capsys, "delete", ENDPOINT)
    assert status == 0
    assert "8 deleted" in out
    assert iconik.snapshot() == before


def test_delete_dry_run_and_nothing_to_delete(iconik: Backend, capsys: Any) -> None:
    assert run(capsys, *create(iconik))[0] == 0
    before, writes = iconik.snapshot(), iconik.writes()
    status, out, _ = run(capsys, "delete", ENDPOINT + "/", "--dry-run")
    assert status == 0
    assert out.count("would delete") == 8 and "nothing was changed" in out

    status, out, _ = run(capsys, "delete", OTHER_ENDPOINT)
    assert status == 0 and "no plugin actions" in out
    assert iconik.snapshot() == before
    assert iconik.writes() == writes


def test_create_dry_run_changes_nothing_and_masks_the_secret(iconik: Backend, capsys: Any) -> None:
    argv = create(iconik, "--formats", "ORIGINAL,EDIT_PROXY", "--dry-run")
    status, out, _ = run(capsys, *argv)
    assert status == 0
    assert out.count("would create") == 8
    assert "x-bz-secret: ****" in out
    assert "Add original and edit proxy files to LucidLink" in out
    assert "nothing was changed" in out
    assert iconik.actions == {}
    assert iconik.writes() == 0


def test_list_shows_status_and_last_error(iconik: Backend, capsys: Any) -> None:
    assert run(capsys, *create(iconik))[0] == 0
    failing = next(a for a in ours(iconik) if a["context"] == "BULK" and "/remove" in a["url"])
    iconik.fail(failing["id"], "Connection timed out")
    iconik.add("ASSET", "https://example.com/hook", "Send to review")
    iconik.add("ASSET", f"{OTHER_ENDPOINT}/add", "Other deployment")

    status, out, _ = run(capsys, "list", ENDPOINT)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["CONTEXT", "STATUS", "TITLE", "URL", "LAST", "ERROR"]
    assert sum("HEALTHY" in line for line in lines) == 7
    bad = [line for line in lines if "FAILING" in line]
    assert len(bad) == 1
    assert "BULK" in bad[0] and "Connection timed out" in bad[0] and "/remove" in bad[0]
    assert "Send to review" not in out and "Other deployment" not in out
    assert "8 action(s), 1 failing" in out

    status, out, _ = run(capsys, "list")
    assert status == 0
    assert "Other deployment" in out and "Send to review" not in out
    assert "9 action(s), 1 failing" in out


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("unknown", "iconik has no such storage"),
        ("same", "same storage"),
        ("not-a-uuid", "not a storage id"),
        ("bad-format", "invalid format name"),
    ],
)
def test_bad_arguments_change_nothing(
    iconik: Backend, capsys: Any, which: str, message: str
) -> None:
    iconik.add("ASSET", f"{ENDPOINT}/add", "Add to LucidLink")
    before = iconik.snapshot()
    args = {
        "unknown": ("--b2-storage", iconik.b2, "--ll-storage", str(uuid.uuid4())),
        "same": ("--b2-storage", iconik.b2, "--ll-storage", iconik.b2),
        "not-a-uuid": ("--b2-storage", "not-a-uuid", "--ll-storage", iconik.ll),
        "bad-format": ("--b2-storage", iconik.b2, "--formats", "ORIGINAL,BAD NAME"),
    }[which]
    status, _, err = run(capsys, "create", ENDPOINT, *args)
    assert status == 2
    assert message in err
    assert err.startswith("b2-iconik-actions: error: ") and err.count("\n") == 1
    assert iconik.writes() == 0
    assert iconik.snapshot() == before


@pytest.mark.parametrize("variable", ["ICONIK_TOKEN", "ICONIK_ID", "BZ_SHARED_SECRET"])
def test_missing_variable_is_named(
    iconik: Backend, env: pytest.MonkeyPatch, capsys: Any, variable: str
) -> None:
    env.delenv(variable)
    status, _, err = run(capsys, *create(iconik))
    assert status == 2
    assert err.count("\n") == 1 and variable in err
    assert iconik.writes() == 0


def test_refused_token_is_explained(iconik: Backend, env: pytest.MonkeyPatch, capsys: Any) -> None:
    env.setenv("ICONIK_TOKEN", "not-the-right-token")
    for argv in (create(iconik), ("list",), ("delete", ENDPOINT)):
        status, _, err = run(capsys, *argv)
        assert status == 1
        assert "refused the token (401)" in err and err.count("\n") == 1
    assert iconik.actions == {}


def test_unreachable_iconik_is_one_line_naming_the_url(
    env: pytest.MonkeyPatch, capsys: Any
) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env.setenv("ICONIK_URL", url)
    b2, ll = str(uuid.uuid4()), str(uuid.uuid4())
    for argv in (
        ("create", ENDPOINT, "--b2-storage", b2, "--ll-storage", ll),
        ("list",),
        ("delete", ENDPOINT),
    ):
        status, _, err = run(capsys, *argv)
        assert status == 1
        assert url in err and "could not be reached" in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_storage_defaults_and_legacy_positionals(
    iconik: Backend, env: pytest.MonkeyPatch, capsys: Any
) -> None:
    env.setenv("B2_STORAGE_ID", iconik.b2)
    env.setenv("LL_STORAGE_ID", iconik.ll)
    env.setenv("FORMAT_NAMES", "PPRO_PROXY")
    status, _, err = run(capsys, "create", ENDPOINT)
    assert status == 0, err
    assert {a["url"] for a in ours(iconik)} == {
        f"{ENDPOINT}/{op}?b2_storage_id={iconik.b2}&ll_storage_id={iconik.ll}&formats=PPRO_PROXY"
        for op in ca.OPERATIONS
    }

    # Backblaze's original form: ENDPOINT B2_STORAGE_ID LL_STORAGE_ID [FORMATS]
    status, _, err = run(capsys, "create", ENDPOINT, iconik.b2, iconik.other, "ORIGINAL")
    assert status == 0, err
    assert all(f"ll_storage_id={iconik.other}" in a["url"] for a in ours(iconik))
    assert all("formats=ORIGINAL" in a["url"] for a in ours(iconik))
    assert len(ours(iconik)) == 8


def test_create_without_storages_warns_and_leaves_them_to_the_function(
    iconik: Backend, capsys: Any
) -> None:
    status, _, err = run(capsys, "create", ENDPOINT)
    assert status == 0
    assert "B2_STORAGE_ID / LL_STORAGE_ID must be set" in err
    assert {a["url"] for a in ours(iconik)} == {f"{ENDPOINT}/add", f"{ENDPOINT}/remove"}


def test_usage_errors_exit_2(env: pytest.MonkeyPatch, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ca.main([])
    assert exit_info.value.code == 2
    capsys.readouterr()
    status, _, err = run(capsys, "create", "not-a-url")
    assert status == 2 and "ENDPOINT" in err
    status, _, err = run(
        capsys, "create", ENDPOINT, str(uuid.uuid4()), "--b2-storage", str(uuid.uuid4())
    )
    assert status == 2 and "given twice" in err
