"""``b2-iconik-actions policy ...``: policies as iconik automations, end to end through main(argv).

The CLI runs in-process against two iconiks: the project's sandbox (iconik_sandbox, a real server
playing iconik's Automation engine: its estimates, its runs, its deliveries to the custom action's
URL, its roles), and a `responses` fake of iconik's custom-action, storage, collection and
automations endpoints, which checks every automation body against iconik's AutomationSchema.
Both refuse a call with 403 when the token lacks the role the spec names for it.
"""

from __future__ import annotations

import abc
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from pytest_httpserver import HTTPServer

from b2_iconik.custom_actions import policies
from iconik_sandbox.spec import SpecValidator
from tests import leaks
from tests.custom_actions import test_actions_cli as test_custom_actions
from tests.custom_actions.test_actions_cli import (
    ENDPOINT,
    OTHER_ENDPOINT,
    SECRET,
    Backend,
    FakeBackend,
    SandboxBackend,
    run,
)

AUTOMATIONS = "/API/automations/v1/automations/"
APPROVED = "remove-when-approved"
SPEC = SpecValidator()  # one for the module: its validators are built once
env = test_custom_actions.env  # the operator's environment, as for the other commands
#: The calls each role of iconik's Automations API allows (automations.md, section 4), by
#: (method, what): the listing, one automation, its estimate, its runs.
ROLES: dict[str, set[tuple[str, str]]] = {
    "can_read_automations": {("GET", "list"), ("GET", "item")},
    "can_write_automations": {("POST", "list"), ("PUT", "item"), ("PATCH", "item")},
    "can_delete_automations": {("DELETE", "item")},
    "can_run_automations": {("GET", "runs/estimate"), ("POST", "runs")},
}


def _foreign_automation(name: str, description: str, action_id: str) -> dict[str, Any]:
    """An automation as someone else (or another deployment's tool) would have made it."""
    return {
        "name": name,
        "description": description,
        "status": "ACTIVE",
        "triggers": [{"type": "REVIEW_STATUS_CHANGED", "parameters": {"statuses": ["MIXED"]}}],
        "actions": [
            {"type": "CUSTOM_ACTION", "parameters": {"action_id": action_id, "context": "ASSET"}}
        ],
    }


class PolicyBackend(Backend):
    """What the policy tests need of an iconik, beyond the custom actions."""

    endpoint: str

    @abc.abstractmethod
    def automations(self) -> dict[str, dict[str, Any]]:
        """The automations by id (live: an edit here is an edit made in iconik's admin)."""

    @abc.abstractmethod
    def add_automation(self, name: str, description: str, action_id: str) -> str:
        """Create an automation that is not the tool's; returns its id."""

    @abc.abstractmethod
    def add_collection(self, title: str) -> str:
        """A collection (with assets in a sub-collection, where the backend counts them)."""

    @abc.abstractmethod
    def estimate(self, slug: str) -> int:
        """The total iconik would estimate now for the policy of that slug."""

    @abc.abstractmethod
    def requests(self, method: str, suffix: str) -> list[tuple[str, Any]]:
        """(path, body) of the automation requests of a method whose path ends with suffix."""

    @abc.abstractmethod
    def deny(self, role: str) -> None:
        """From now on, the CLI's token lacks this role."""

    def runs(self) -> list[str]:
        """The ids of the automations the CLI ran on existing assets."""
        return [path.rstrip("/").split("/")[-2] for path, _ in self.requests("POST", "/runs/")]


class FakeIconik(FakeBackend, PolicyBackend):
    """The custom-action fake, plus collections and the Automations API (paged listing,
    CRUD, estimate, runs), with a spec check of every body and 403s by role."""

    TOTAL = 7

    def __init__(self, mock: responses.RequestsMock) -> None:
        super().__init__(mock)
        self.endpoint = ENDPOINT
        self._automations: dict[str, dict[str, Any]] = {}
        self.collections: dict[str, dict[str, Any]] = {}
        self.sent: list[tuple[str, str, Any]] = []
        self.violations: list[str] = []
        self.denied: set[tuple[str, str]] = set()
        self._spec = SPEC
        prefix = re.escape(self.url)
        automations = re.compile(prefix + re.escape(AUTOMATIONS) + r".*")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            mock.add_callback(method, automations, callback=self._on_automations)
        collections = re.compile(prefix + r"/API/assets/v1/collections/[^/]+/$")
        mock.add_callback("GET", collections, callback=self._on_collection)

    def automations(self) -> dict[str, dict[str, Any]]:
        return self._automations

    def add_automation(self, name: str, description: str, action_id: str) -> str:
        automation_id = str(uuid.uuid4())
        self._automations[automation_id] = {
            **_foreign_automation(name, description, action_id),
            "id": automation_id,
        }
        return automation_id

    def add_collection(self, title: str) -> str:
        collection_id = str(uuid.uuid4())
        self.collections[collection_id] = {"id": collection_id, "title": title}
        return collection_id

    def estimate(self, slug: str) -> int:
        return self.TOTAL

    def requests(self, method: str, suffix: str) -> list[tuple[str, Any]]:
        return [(p, b) for m, p, b in self.sent if m == method and p.endswith(suffix)]

    def deny(self, role: str) -> None:
        self.denied |= ROLES[role]

    def _on_collection(self, request: Any) -> tuple[int, dict[str, str], str]:
        collection_id = request.path_url.rstrip("/").rsplit("/", 1)[-1]
        found = self.collections.get(collection_id)
        if found is None:
            return 404, {}, json.dumps({"errors": ["Collection does not exist"]})
        return 200, {}, json.dumps(found)

    def _on_automations(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self._refused(request):
            return 401, {}, json.dumps({"errors": ["Token is invalid"]})
        path = request.path_url.split("?")[0]
        parts = path[len(AUTOMATIONS) :].strip("/").split("/") if path != AUTOMATIONS else []
        kind = "list" if not parts else "item" if len(parts) == 1 else "/".join(parts[1:])
        if (request.method, kind) in self.denied:
            return 403, {}, json.dumps({"errors": ["You don't have permission"]})
        body = json.loads(request.body) if request.body else None
        if request.method != "GET":
            self._writes += 1
            self.sent.append((request.method, path, body))
        return self._route(request, parts, kind, body)

    def _route(
        self, request: Any, parts: list[str], kind: str, body: Any
    ) -> tuple[int, dict[str, str], str]:
        spec_path = "/v1/automations/" + ("{automation_id}/" if parts else "")
        if body is not None:
            self.violations += self._spec.check_body("automations", request.method, spec_path, body)
        if kind == "list" and request.method == "GET":
            return self._page(request)
        if kind == "list" and request.method == "POST":
            automation_id = str(uuid.uuid4())
            self._automations[automation_id] = {**body, "id": automation_id}
            return 201, {}, json.dumps(self._automations[automation_id])
        found = self._automations.get(parts[0]) if parts else None
        if found is None:
            return 404, {}, json.dumps({"errors": ["Automation not found"]})
        if kind == "runs/estimate" and request.method == "GET":
            return 200, {}, json.dumps({"total": self.TOTAL, "facets": {}, "errors": []})
        if kind == "runs" and request.method == "POST":
            return 202, {}, ""
        if kind == "item" and request.method in ("PUT", "PATCH"):
            if request.method == "PUT":
                found.clear()
                found["id"] = parts[0]
            found.update(body)
            return 200, {}, json.dumps(found)
        if kind == "item" and request.method == "DELETE":
            del self._automations[parts[0]]
            return 204, {}, ""
        return 200, {}, json.dumps(found)

    def _page(self, request: Any) -> tuple[int, dict[str, str], str]:
        """Two automations a page, so the CLI has to follow next_url."""
        match = re.search(r"page=(\d+)", request.path_url)
        page = int(match.group(1)) if match else 1
        objects = list(self._automations.values())
        answer: dict[str, Any] = {"objects": objects[(page - 1) * 2 : page * 2], "page": page}
        if page * 2 < len(objects):
            answer["next_url"] = f"{self.url}{AUTOMATIONS}?page={page + 1}"
        return 200, {}, json.dumps(answer)


class SandboxIconik(SandboxBackend, PolicyBackend):
    """The sandbox, with assets its estimates count: two approved, one not modified for 40
    days, two in a sub-collection of each collection added."""

    def __init__(self, sandbox: Any, endpoint: str, env: pytest.MonkeyPatch) -> None:
        super().__init__(sandbox)
        self.endpoint, self.env = endpoint, env
        state = sandbox.state
        self.assets = [state.add_asset(f"asset {i}")["id"] for i in range(4)]
        for asset_id in self.assets[:2]:
            state.set_approval(asset_id, "APPROVED")
        state.touch_asset(self.assets[3], days_ago=40)

    def automations(self) -> dict[str, dict[str, Any]]:
        return self.sb.automations.records  # live: tests may edit or drop one by hand

    def add_automation(self, name: str, description: str, action_id: str) -> str:
        body = _foreign_automation(name, description, action_id)
        return str(self.sb.automations.create(body, "someone")["id"])

    def add_collection(self, title: str) -> str:
        state = self.sb.state
        collection_id = str(state.add_collection(title)["id"])
        inner = state.add_collection("inside", parent_id=collection_id)["id"]
        state.add_to_collection(inner, *self.assets[:2])
        return collection_id

    def estimate(self, slug: str) -> int:
        if slug.startswith("remove-when-unmodified-"):
            return 1 if int(slug.split("-")[-1].rstrip("d")) <= 40 else 0
        return 2

    def requests(self, method: str, suffix: str) -> list[tuple[str, Any]]:
        return [
            (r.path, r.body)
            for r in self.sb.requests
            if r.method == method and r.path.startswith(AUTOMATIONS) and r.path.endswith(suffix)
        ]

    def deny(self, role: str) -> None:
        token = f"token-without-{role}-{uuid.uuid4().hex}"
        leaks.secret(token)
        self.sb.add_token(self.app_id, token, without_roles=[role])
        self.env.setenv("ICONIK_TOKEN", token)


@pytest.fixture(params=["sandbox", "fake"])
def iconik(
    request: pytest.FixtureRequest, env: pytest.MonkeyPatch, httpserver: HTTPServer
) -> Iterator[PolicyBackend]:
    """An iconik the CLI is pointed at; the sandbox's deliveries go to a local server."""
    backend: PolicyBackend
    if request.param == "sandbox":
        server = pytest.importorskip("iconik_sandbox.server")
        with server.Sandbox() as sandbox:
            backend = SandboxIconik(sandbox, httpserver.url_for("/iconik_handler"), env)
            test_custom_actions._point_at(env, backend)
            yield backend
            assert sandbox.spec_violations == []
    else:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(httpserver.url_for("/"))
            fake = FakeIconik(mock)
            test_custom_actions._point_at(env, fake)
            yield fake
            assert fake.violations == []


@pytest.fixture
def registered(iconik: PolicyBackend, capsys: Any) -> PolicyBackend:
    """The ordinary actions of the endpoint are registered, with storages and two formats."""
    argv = ("create", iconik.endpoint, "--b2-storage", iconik.b2, "--ll-storage", iconik.ll)
    status, _, err = run(capsys, *argv, "--formats", "ORIGINAL,PPRO_PROXY")
    assert status == 0, err
    return iconik


def policy(capsys: Any, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "policy", *argv)


def policy_actions(backend: PolicyBackend, slug: str | None = None) -> list[dict[str, Any]]:
    return policies.policy_actions(backend.actions.values(), backend.endpoint, slug)


def ours(backend: PolicyBackend) -> list[dict[str, Any]]:
    return policies.our_automations(backend.automations().values(), backend.endpoint)


def the_one(backend: PolicyBackend) -> dict[str, Any]:
    (automation,) = ours(backend)
    return automation


# -- create ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "slug", "operation", "trigger"),
    [
        (
            (APPROVED,),
            APPROVED,
            "remove",
            {"type": "REVIEW_STATUS_CHANGED", "parameters": {"statuses": ["APPROVED"]}},
        ),
        (
            ("remove-when-unmodified", "--days", "30"),
            "remove-when-unmodified-30d",
            "remove",
            {"type": "MODIFIED_AT_TRANSITION", "parameters": {"days_since_modified": 30}},
        ),
    ],
)
def test_create_makes_an_inactive_automation_and_its_own_action(
    registered: PolicyBackend,
    capsys: Any,
    argv: tuple[str, ...],
    slug: str,
    operation: str,
    trigger: dict[str, Any],
) -> None:
    endpoint, before = registered.endpoint, set(registered.actions)
    status, out, err = policy(capsys, "create", endpoint, *argv)
    assert status == 0, err

    (action,) = [a for k, a in registered.actions.items() if k not in before]
    assert action["context"] == "ASSET" and action["type"] == "POST"
    assert action["url"] == (
        f"{endpoint}/policies/{slug}/{operation}?b2_storage_id={registered.b2}"
        f"&ll_storage_id={registered.ll}&formats=ORIGINAL,PPRO_PROXY"
    )
    assert action["headers"] == {"x-bz-secret": SECRET}
    assert action["app_id"] == registered.app_id

    (automation,) = registered.automations().values()
    assert automation["status"] == "INACTIVE"
    assert automation["name"].startswith("B2 LucidLink: ")
    assert slug in automation["description"] and endpoint in automation["description"]
    assert automation["triggers"] == [trigger]
    assert automation["actions"] == [
        {"type": "CUSTOM_ACTION", "parameters": {"action_id": action["id"], "context": "ASSET"}}
    ]
    assert f"estimate: {registered.estimate(slug)} asset(s) match it now" in out
    assert "not active" in out
    assert registered.requests("PATCH", "/") == []
    assert registered.runs() == []


def test_create_when_added_to_a_collection_checks_it_exists(
    registered: PolicyBackend, capsys: Any
) -> None:
    endpoint = registered.endpoint
    collection = registered.add_collection("Finishing")
    status, out, err = policy(
        capsys, "create", endpoint, "add-when-in-collection", "--collection", collection
    )
    assert status == 0, err
    slug = f"add-when-in-collection-{collection.replace('-', '')[:8]}"
    assert the_one(registered)["triggers"] == [
        {
            "type": "OBJECT_ADDED_TO_COLLECTION",
            "parameters": {
                "collection_ids": [collection],
                "object_type": "assets",
                "include_subcollections": True,
            },
        }
    ]
    assert "Finishing" in the_one(registered)["name"]
    assert f"estimate: {registered.estimate(slug)} asset(s)" in out
    (action,) = policy_actions(registered, slug)
    assert action["url"].startswith(f"{endpoint}/policies/{slug}/add?")

    writes = registered.writes()
    missing = str(uuid.uuid4())
    status, _, err = policy(
        capsys, "create", endpoint, "add-when-in-collection", "--collection", missing
    )
    assert status == 2
    assert f"--collection {missing}: iconik has no such collection" in err
    assert registered.writes() == writes


def test_create_again_is_unchanged_and_sends_nothing(
    registered: PolicyBackend, capsys: Any
) -> None:
    assert policy(capsys, "create", registered.endpoint, APPROVED)[0] == 0
    before, writes = json.dumps(registered.automations()), registered.writes()
    status, out, _ = policy(capsys, "create", registered.endpoint, APPROVED)
    assert status == 0
    assert "custom action: unchanged" in out and "automation: unchanged" in out
    assert registered.writes() == writes
    assert json.dumps(registered.automations()) == before


def test_create_with_other_parameters_updates_ours_in_place(
    registered: PolicyBackend, capsys: Any
) -> None:
    endpoint = registered.endpoint
    assert policy(capsys, "create", endpoint, APPROVED, "--activate")[0] == 0
    (action,) = policy_actions(registered)
    automation = the_one(registered)
    registered.automations()[automation["id"]]["name"] = "renamed by hand in iconik"

    status, out, err = policy(
        capsys,
        "create",
        endpoint,
        APPROVED,
        "--formats",
        "ORIGINAL",
        "--ll-storage",
        registered.other,
    )
    assert status == 0, err
    assert "custom action: updated" in out and "automation: updated" in out
    assert [a["id"] for a in policy_actions(registered)] == [action["id"]]
    updated = policy_actions(registered)[0]["url"]
    assert f"ll_storage_id={registered.other}" in updated and updated.endswith("formats=ORIGINAL")
    again = the_one(registered)
    assert again["id"] == automation["id"]
    assert again["name"] == "B2 LucidLink: remove from LucidLink when approved"
    assert again["status"] == "ACTIVE"  # an update keeps the status


def test_dry_run_prints_the_requests_and_sends_no_write(
    registered: PolicyBackend, capsys: Any
) -> None:
    writes = registered.writes()
    argv = ("create", registered.endpoint, "remove-when-unmodified", "--days", "14", "--dry-run")
    status, out, err = policy(capsys, *argv, "--activate", "--run-existing")
    assert status == 0, err
    assert registered.writes() == writes
    assert registered.automations() == {} and policy_actions(registered) == []
    sent = [line for line in out.splitlines() if line.startswith("would send ")]
    assert [line.split()[2:4] for line in sent] == [
        ["POST", "/API/assets/v1/custom_actions/ASSET/"],
        ["POST", AUTOMATIONS],
        ["PATCH", f"{AUTOMATIONS}<new-id>/"],
        ["POST", f"{AUTOMATIONS}<new-id>/runs/"],
    ]
    assert '"x-bz-secret": "****"' in sent[0]
    assert '"days_since_modified": 14' in sent[1] and '"status": "INACTIVE"' in sent[1]
    assert "automation: would create" in out
    assert "dry run: nothing was changed" in out


def test_activate_and_run_existing_only_when_asked(
    registered: PolicyBackend, capsys: Any
) -> None:
    endpoint = registered.endpoint
    status, out, _ = policy(capsys, "create", endpoint, APPROVED, "--activate")
    assert status == 0
    automation = the_one(registered)
    assert automation["status"] == "ACTIVE"
    path = f"{AUTOMATIONS}{automation['id']}/"
    assert registered.requests("PATCH", "/") == [(path, {"status": "ACTIVE"})]
    assert out.index("estimate:") < out.index("status: INACTIVE -> ACTIVE")
    assert registered.runs() == []

    status, out, _ = policy(capsys, "create", endpoint, APPROVED, "--run-existing")
    assert status == 0
    assert registered.runs() == [automation["id"]]
    assert "existing assets" in out


def test_a_run_reaches_the_policy_url_with_the_secret(
    iconik: PolicyBackend, capsys: Any, httpserver: HTTPServer
) -> None:
    """In the sandbox, a run delivers to ENDPOINT/policies/SLUG/remove as the plugin expects."""
    if not isinstance(iconik, SandboxIconik):
        pytest.skip("the fake runs nothing")
    endpoint = iconik.endpoint
    argv = ("create", endpoint, "--b2-storage", iconik.b2, "--ll-storage", iconik.ll)
    assert run(capsys, *argv)[0] == 0
    path = f"/iconik_handler/policies/{APPROVED}/remove"
    httpserver.expect_request(path, method="POST").respond_with_json({"job_id": "j-1"})
    assert policy(capsys, "create", endpoint, APPROVED, "--run-existing")[0] == 0

    deliveries = iconik.sb.wait_for_deliveries(timeout=30)
    assert [d["status"] for d in deliveries] == [200] * len(deliveries), deliveries
    requests = [request for request, _ in httpserver.log]
    assert {r.headers["x-bz-secret"] for r in requests} == {SECRET}
    assert {r.args["b2_storage_id"] for r in requests} == {iconik.b2}
    delivered = [asset for r in requests for asset in r.get_json()["asset_ids"]]
    assert sorted(delivered) == sorted(iconik.assets[:2])  # the two approved assets


# -- list, estimate, activate, run, delete -------------------------------------------------------


def _others(backend: PolicyBackend) -> tuple[str, str, str]:
    """Someone's own automation, and another deployment's policy with its custom action."""
    action = backend.add("ASSET", f"{OTHER_ENDPOINT}/policies/{APPROVED}/remove")
    mine = backend.add_automation("Archive after approval", "made by hand", action)
    theirs = backend.add_automation(
        "B2 LucidLink: remove from LucidLink when approved",
        policies.description(OTHER_ENDPOINT, APPROVED),
        action,
    )
    return mine, theirs, action


def test_list_shows_ours_with_health_and_estimate(registered: PolicyBackend, capsys: Any) -> None:
    endpoint = registered.endpoint
    _others(registered)
    assert policy(capsys, "create", endpoint, APPROVED, "--activate")[0] == 0
    assert policy(capsys, "create", endpoint, "remove-when-unmodified", "--days", "30")[0] == 0
    (failing,) = policy_actions(registered, "remove-when-unmodified-30d")
    registered.fail(failing["id"], "Connection timed out")

    status, out, _ = policy(capsys, "list", endpoint, "--estimate")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SLUG", "STATUS", "NAME", "TRIGGER", "ACTION", "ESTIMATE"]
    approved = next(line for line in lines if line.startswith(APPROVED))
    assert "ACTIVE" in approved and "review status APPROVED" in approved
    assert "HEALTHY" in approved and approved.endswith(f"  {registered.estimate(APPROVED)}")
    unmodified = next(line for line in lines if line.startswith("remove-when-unmodified-30d"))
    assert "INACTIVE" in unmodified and "not modified for 30 days" in unmodified
    assert "FAILING: Connection timed out" in unmodified
    assert "Archive after approval" not in out and OTHER_ENDPOINT not in out
    assert "2 policy(ies), 1 active" in out

    status, out, _ = policy(capsys, "list")
    assert status == 0 and OTHER_ENDPOINT in out and "3 policy(ies)" in out


def test_estimate_activate_deactivate_and_run_by_slug(
    registered: PolicyBackend, capsys: Any
) -> None:
    endpoint = registered.endpoint
    _others(registered)
    assert policy(capsys, "create", endpoint, APPROVED)[0] == 0
    automation_id = the_one(registered)["id"]

    status, out, _ = policy(capsys, "estimate", endpoint, APPROVED)
    expected = f"{APPROVED}: {registered.estimate(APPROVED)} asset(s) match it now"
    assert status == 0 and out.strip() == expected

    assert policy(capsys, "activate", endpoint, APPROVED)[0] == 0
    assert the_one(registered)["status"] == "ACTIVE"
    status, out, _ = policy(capsys, "activate", endpoint, APPROVED)
    assert status == 0 and "already ACTIVE" in out
    assert policy(capsys, "deactivate", endpoint, APPROVED)[0] == 0
    assert the_one(registered)["status"] == "INACTIVE"

    writes = registered.writes()
    status, out, _ = policy(capsys, "run", endpoint, APPROVED, "--dry-run")
    assert status == 0 and "dry run: nothing was changed" in out and "would send POST" in out
    assert registered.runs() == [] and registered.writes() == writes
    assert policy(capsys, "run", endpoint, APPROVED)[0] == 0
    assert registered.runs() == [automation_id]


def test_delete_removes_only_ours(registered: PolicyBackend, capsys: Any) -> None:
    endpoint = registered.endpoint
    mine, theirs, their_action = _others(registered)
    assert policy(capsys, "create", endpoint, APPROVED)[0] == 0
    assert policy(capsys, "create", endpoint, "remove-when-unmodified", "--days", "30")[0] == 0
    ordinary = {k for k, a in registered.actions.items() if "/policies/" not in a["url"]}

    writes = registered.writes()
    status, out, _ = policy(capsys, "delete", endpoint, APPROVED, "--dry-run")
    assert status == 0 and out.count("would delete") == 2
    assert registered.writes() == writes

    status, out, _ = policy(capsys, "delete", endpoint, APPROVED)
    assert status == 0 and out.count("deleted") == 2
    assert [policies.owner_of(a) for a in ours(registered)] == [
        (endpoint, "remove-when-unmodified-30d")
    ]
    assert policy_actions(registered, APPROVED) == []

    status, _, err = run(capsys, "delete", endpoint, "--dry-run")  # the ordinary actions
    assert status == 0
    assert f"note: the policies of {endpoint} are kept (remove-when-unmodified-30d)" in err

    status, out, _ = policy(capsys, "delete", endpoint, "--all")
    assert status == 0
    assert ours(registered) == [] and policy_actions(registered) == []
    assert set(registered.automations()) == {mine, theirs}
    assert ordinary | {their_action} == set(registered.actions)


def test_a_policy_missing_half_is_shown_repaired_and_deleted(
    registered: PolicyBackend, capsys: Any
) -> None:
    """An action deleted by hand is made again (and the automation pointed at it); an action
    whose automation was deleted by hand is listed, and ``delete`` removes it."""
    endpoint = registered.endpoint
    assert policy(capsys, "create", endpoint, APPROVED)[0] == 0
    (action,) = policy_actions(registered)
    registered.actions.pop(action["id"])
    status, out, _ = policy(capsys, "list", endpoint)
    assert status == 0 and "MISSING" in out

    assert policy(capsys, "create", endpoint, APPROVED)[0] == 0
    (again,) = policy_actions(registered)
    assert again["id"] != action["id"]
    assert policies.action_id_of(the_one(registered)) == again["id"]

    registered.automations().pop(the_one(registered)["id"])
    status, out, _ = policy(capsys, "list", endpoint)
    assert status == 0
    assert f"custom action of policy {APPROVED} has no automation: {again['id']}" in out
    status, out, _ = policy(capsys, "delete", endpoint, APPROVED)
    assert status == 0 and "deleted custom action" in out
    assert policy_actions(registered) == []


# -- errors ---------------------------------------------------------------------------------------


def test_policies_need_the_ordinary_actions(iconik: PolicyBackend, capsys: Any) -> None:
    iconik.add("ASSET", f"{OTHER_ENDPOINT}/remove")
    status, _, err = policy(capsys, "create", iconik.endpoint, APPROVED)
    assert status == 2
    assert f"run b2-iconik-actions create {iconik.endpoint} first" in err
    assert err.count("\n") == 1
    assert iconik.writes() == 0


@pytest.mark.parametrize(
    ("role", "argv"),
    [
        ("can_read_automations", ("list",)),
        ("can_write_automations", ("create", APPROVED)),
        ("can_run_automations", ("estimate", APPROVED)),
        ("can_delete_automations", ("delete", APPROVED)),
    ],
)
def test_a_missing_role_is_named(
    registered: PolicyBackend, capsys: Any, role: str, argv: tuple[str, ...]
) -> None:
    if argv[0] != "create":
        assert policy(capsys, "create", registered.endpoint, APPROVED)[0] == 0
    registered.deny(role)
    command, *rest = argv
    status, _, err = policy(capsys, command, registered.endpoint, *rest)
    assert status == 1
    assert f"(403): the application token's user needs the role {role}" in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("days", ["0", "-3", "1.5", "thirty", "07"])
def test_bad_days_are_refused_before_iconik_is_called(
    registered: PolicyBackend, capsys: Any, days: str
) -> None:
    writes = registered.writes()
    argv = ("create", registered.endpoint, "remove-when-unmodified", "--days", days)
    status, _, err = policy(capsys, *argv)
    assert status == 2
    assert "--days must be a whole number of days, 1 or more" in err and err.count("\n") == 1
    assert registered.writes() == writes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("create", "remove-when-unmodified"), "needs --days"),
        (("create", APPROVED, "--days", "3"), "--days is for remove-when-unmodified"),
        (("create", "add-when-in-collection", "--collection", "x"), "a UUID"),
        (("estimate", "no-such-policy"), "no policy no-such-policy for"),
        (("activate", "Bad_Slug"), "is not a policy slug"),
        (("delete", "no-such-policy"), "no policy no-such-policy for"),
        (("delete",), "give either SLUG or --all"),
    ],
)
def test_usage_errors_are_one_sentence(
    registered: PolicyBackend, capsys: Any, argv: tuple[str, ...], message: str
) -> None:
    writes = registered.writes()
    command, *rest = argv
    status, _, err = policy(capsys, command, registered.endpoint, *rest)
    assert status == 2
    assert message in err and err.count("\n") == 1
    assert registered.writes() == writes
