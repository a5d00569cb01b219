"""``b2-iconik-actions policy ...``: policies as iconik automations, end to end through main(argv).

The CLI runs in-process against a `responses` fake of iconik's custom-action, storage, collection
and automations endpoints (the fake of tests/test_custom_actions.py, plus automations), which
checks every automation body against iconik's own AutomationSchema (the sandbox's trimmed copy
of the spec) and can refuse a call with 403 as iconik does when a role is missing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from b2_iconik.custom_actions import policies
from iconik_sandbox.spec import SpecValidator
from tests import test_custom_actions
from tests.test_custom_actions import ENDPOINT, OTHER_ENDPOINT, SECRET, FakeBackend, run

AUTOMATIONS = "/API/automations/v1/automations/"
APPROVED = "remove-when-approved"
ESTIMATE = 7
env = test_custom_actions.env  # the operator's environment, as for the other commands


class FakeIconik(FakeBackend):
    """The custom-action fake, plus collections and the Automations API (paged listing,
    CRUD, estimate, runs), with a spec check of every body and 403s on demand."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        super().__init__(mock)
        self.automations: dict[str, dict[str, Any]] = {}
        self.collections: dict[str, dict[str, Any]] = {}
        self.runs: list[str] = []
        self.sent: list[tuple[str, str, Any]] = []
        self.violations: list[str] = []
        self.denied: set[tuple[str, str]] = set()  # (method, "list" | "item" | "runs" | ...)
        self._spec = SpecValidator()
        prefix = re.escape(self.url)
        automations = re.compile(prefix + re.escape(AUTOMATIONS) + r".*")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            mock.add_callback(method, automations, callback=self._on_automations)
        collections = re.compile(prefix + r"/API/assets/v1/collections/[^/]+/$")
        mock.add_callback("GET", collections, callback=self._on_collection)

    def add_collection(self, title: str) -> str:
        collection_id = str(uuid.uuid4())
        self.collections[collection_id] = {"id": collection_id, "title": title}
        return collection_id

    def add_automation(self, name: str, description: str = "", action_id: str = "") -> str:
        """An automation made by someone else (or another deployment's tool)."""
        automation_id = str(uuid.uuid4())
        self.automations[automation_id] = {
            "id": automation_id,
            "name": name,
            "description": description,
            "status": "ACTIVE",
            "triggers": [{"type": "REVIEW_STATUS_CHANGED", "parameters": {"statuses": ["MIXED"]}}],
            "actions": [
                {
                    "type": "CUSTOM_ACTION",
                    "parameters": {"action_id": action_id or str(uuid.uuid4()), "context": "ASSET"},
                }
            ],
        }
        return automation_id

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
        return self._route(request, path, parts, kind, body)

    def _route(
        self, request: Any, path: str, parts: list[str], kind: str, body: Any
    ) -> tuple[int, dict[str, str], str]:
        spec_path = "/v1/automations/" + ("{automation_id}/" if parts else "")
        if body is not None:
            self.violations += self._spec.check_body("automations", request.method, spec_path, body)
        if kind == "list" and request.method == "GET":
            return self._page(request)
        if kind == "list" and request.method == "POST":
            automation_id = str(uuid.uuid4())
            self.automations[automation_id] = {**body, "id": automation_id}
            return 201, {}, json.dumps(self.automations[automation_id])
        found = self.automations.get(parts[0]) if parts else None
        if found is None:
            return 404, {}, json.dumps({"errors": ["Automation not found"]})
        if kind == "runs/estimate" and request.method == "GET":
            return 200, {}, json.dumps({"total": ESTIMATE, "facets": {}, "errors": []})
        if kind == "runs" and request.method == "POST":
            self.runs.append(parts[0])
            return 202, {}, ""
        if kind == "item" and request.method in ("PUT", "PATCH"):
            if request.method == "PUT":
                found.clear()
                found["id"] = parts[0]
            found.update(body)
            return 200, {}, json.dumps(found)
        if kind == "item" and request.method == "DELETE":
            del self.automations[parts[0]]
            return 204, {}, ""
        return 200, {}, json.dumps(found)

    def _page(self, request: Any) -> tuple[int, dict[str, str], str]:
        """Two automations a page, so the CLI has to follow next_url."""
        page = int(re.search(r"page=(\d+)", request.path_url + "page=1").group(1))  # type: ignore[union-attr]
        objects = list(self.automations.values())
        answer: dict[str, Any] = {"objects": objects[(page - 1) * 2 : page * 2], "page": page}
        if page * 2 < len(objects):
            answer["next_url"] = f"{self.url}{AUTOMATIONS}?page={page + 1}"
        return 200, {}, json.dumps(answer)


@pytest.fixture
def iconik(env: pytest.MonkeyPatch) -> Iterator[FakeIconik]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeIconik(mock)
        env.setenv("ICONIK_URL", fake.url)
        yield fake
        assert fake.violations == []


@pytest.fixture
def registered(iconik: FakeIconik, capsys: Any) -> FakeIconik:
    """The ordinary actions of ENDPOINT are registered, with storages and two formats."""
    argv = ("create", ENDPOINT, "--b2-storage", iconik.b2, "--ll-storage", iconik.ll)
    status, _, err = run(capsys, *argv, "--formats", "ORIGINAL,PPRO_PROXY")
    assert status == 0, err
    return iconik


def policy(capsys: Any, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "policy", *argv)


def policy_actions(backend: FakeIconik, slug: str | None = None) -> list[dict[str, Any]]:
    return policies.policy_actions(backend.actions.values(), ENDPOINT, slug)


def ours(backend: FakeIconik) -> list[dict[str, Any]]:
    return policies.our_automations(backend.automations.values(), ENDPOINT)


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
    registered: FakeIconik,
    capsys: Any,
    argv: tuple[str, ...],
    slug: str,
    operation: str,
    trigger: dict[str, Any],
) -> None:
    before = set(registered.actions)
    status, out, err = policy(capsys, "create", ENDPOINT, *argv)
    assert status == 0, err

    (action,) = [a for k, a in registered.actions.items() if k not in before]
    assert action["context"] == "ASSET" and action["type"] == "POST"
    assert action["url"] == (
        f"{ENDPOINT}/policies/{slug}/{operation}?b2_storage_id={registered.b2}"
        f"&ll_storage_id={registered.ll}&formats=ORIGINAL,PPRO_PROXY"
    )
    assert action["headers"] == {"x-bz-secret": SECRET}
    assert action["app_id"] == registered.app_id

    (automation,) = registered.automations.values()
    assert automation["status"] == "INACTIVE"
    assert automation["name"].startswith("B2 LucidLink: ")
    assert slug in automation["description"] and ENDPOINT in automation["description"]
    assert automation["triggers"] == [trigger]
    assert automation["actions"] == [
        {"type": "CUSTOM_ACTION", "parameters": {"action_id": action["id"], "context": "ASSET"}}
    ]
    assert f"estimate: {ESTIMATE} asset(s) match it now" in out
    assert "not active" in out
    assert not [s for s in registered.sent if s[0] == "PATCH"]
    assert registered.runs == []


def test_create_when_added_to_a_collection_checks_it_exists(
    registered: FakeIconik, capsys: Any
) -> None:
    collection = registered.add_collection("Finishing")
    status, _, err = policy(
        capsys, "create", ENDPOINT, "add-when-in-collection", "--collection", collection
    )
    assert status == 0, err
    slug = f"add-when-in-collection-{collection.replace('-', '')[:8]}"
    (automation,) = registered.automations.values()
    assert automation["triggers"] == [
        {
            "type": "OBJECT_ADDED_TO_COLLECTION",
            "parameters": {
                "collection_ids": [collection],
                "object_type": "assets",
                "include_subcollections": True,
            },
        }
    ]
    assert "Finishing" in automation["name"]
    (action,) = policy_actions(registered, slug)
    assert action["url"].startswith(f"{ENDPOINT}/policies/{slug}/add?")

    writes = registered.writes()
    missing = str(uuid.uuid4())
    status, _, err = policy(
        capsys, "create", ENDPOINT, "add-when-in-collection", "--collection", missing
    )
    assert status == 2
    assert f"--collection {missing}: iconik has no such collection" in err
    assert registered.writes() == writes


def test_create_again_is_unchanged_and_sends_nothing(registered: FakeIconik, capsys: Any) -> None:
    assert policy(capsys, "create", ENDPOINT, APPROVED)[0] == 0
    before, writes = json.dumps(registered.automations), registered.writes()
    status, out, _ = policy(capsys, "create", ENDPOINT, APPROVED)
    assert status == 0
    assert "custom action: unchanged" in out and "automation: unchanged" in out
    assert registered.writes() == writes
    assert json.dumps(registered.automations) == before


def test_create_with_other_parameters_updates_ours_in_place(
    registered: FakeIconik, capsys: Any
) -> None:
    assert policy(capsys, "create", ENDPOINT, APPROVED, "--activate")[0] == 0
    (action,) = policy_actions(registered)
    (automation,) = ours(registered)
    automation["name"] = "renamed by hand in iconik"

    status, out, err = policy(
        capsys, "create", ENDPOINT, APPROVED, "--formats", "ORIGINAL", "--ll-storage",
        registered.other,
    )
    assert status == 0, err
    assert "custom action: updated" in out and "automation: updated" in out
    assert [a["id"] for a in policy_actions(registered)] == [action["id"]]
    updated = policy_actions(registered)[0]["url"]
    assert f"ll_storage_id={registered.other}" in updated and updated.endswith("formats=ORIGINAL")
    (again,) = ours(registered)
    assert again["id"] == automation["id"]
    assert again["name"] == "B2 LucidLink: remove from LucidLink when approved"
    assert again["status"] == "ACTIVE"  # an update keeps the status


def test_dry_run_prints_the_requests_and_sends_no_write(
    registered: FakeIconik, capsys: Any
) -> None:
    writes = registered.writes()
    argv = ("create", ENDPOINT, "remove-when-unmodified", "--days", "14", "--dry-run")
    status, out, err = policy(capsys, *argv, "--activate", "--run-existing")
    assert status == 0, err
    assert registered.writes() == writes
    assert registered.automations == {} and policy_actions(registered) == []
    lines = out.splitlines()
    sent = [line for line in lines if line.startswith("would send ")]
    assert [line.split()[2:4] for line in sent] == [
        ["POST", "/API/assets/v1/custom_actions/ASSET/"],
        ["POST", AUTOMATIONS],
        ["PATCH", f"{AUTOMATIONS}<new-id>/"],
        ["POST", f"{AUTOMATIONS}<new-id>/runs/"],
    ]
    assert '"x-bz-secret": "****"' in sent[0]
    assert '"days_since_modified": 14' in sent[1] and '"status": "INACTIVE"' in sent[1]
    assert "dry run: nothing was changed" in out


def test_activate_and_run_existing_only_when_asked(registered: FakeIconik, capsys: Any) -> None:
    status, out, _ = policy(capsys, "create", ENDPOINT, APPROVED, "--activate")
    assert status == 0
    (automation,) = ours(registered)
    assert automation["status"] == "ACTIVE"
    assert ("PATCH", f"{AUTOMATIONS}{automation['id']}/", {"status": "ACTIVE"}) in registered.sent
    assert out.index("estimate:") < out.index("status: INACTIVE -> ACTIVE")
    assert registered.runs == []

    status, out, _ = policy(capsys, "create", ENDPOINT, APPROVED, "--run-existing")
    assert status == 0
    assert registered.runs == [automation["id"]]
    assert "existing assets" in out


# -- list, estimate, activate, run, delete -------------------------------------------------------


def _others(backend: FakeIconik) -> tuple[str, str, str]:
    """Someone's own automation, and another deployment's policy with its custom action."""
    mine = backend.add_automation("Archive after approval", "made by hand")
    action = backend.add("ASSET", f"{OTHER_ENDPOINT}/policies/{APPROVED}/remove")
    theirs = backend.add_automation(
        "B2 LucidLink: remove from LucidLink when approved",
        policies.description(OTHER_ENDPOINT, APPROVED),
        action,
    )
    return mine, theirs, action


def test_list_shows_ours_with_health_and_estimate(registered: FakeIconik, capsys: Any) -> None:
    _others(registered)
    assert policy(capsys, "create", ENDPOINT, APPROVED, "--activate")[0] == 0
    assert policy(capsys, "create", ENDPOINT, "remove-when-unmodified", "--days", "30")[0] == 0
    (failing,) = policy_actions(registered, "remove-when-unmodified-30d")
    registered.fail(failing["id"], "Connection timed out")

    status, out, _ = policy(capsys, "list", ENDPOINT, "--estimate")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["SLUG", "STATUS", "NAME", "TRIGGER", "ACTION", "ESTIMATE"]
    approved = next(line for line in lines if line.startswith(APPROVED))
    assert "ACTIVE" in approved and "review status APPROVED" in approved
    assert "HEALTHY" in approved and approved.endswith(f"  {ESTIMATE}")
    unmodified = next(line for line in lines if line.startswith("remove-when-unmodified-30d"))
    assert "INACTIVE" in unmodified and "not modified for 30 days" in unmodified
    assert "FAILING: Connection timed out" in unmodified
    assert "Archive after approval" not in out and OTHER_ENDPOINT not in out
    assert "2 policy(ies), 1 active" in out

    status, out, _ = policy(capsys, "list")
    assert status == 0 and OTHER_ENDPOINT in out and "3 policy(ies)" in out


def test_estimate_activate_deactivate_and_run_by_slug(registered: FakeIconik, capsys: Any) -> None:
    _others(registered)
    assert policy(capsys, "create", ENDPOINT, APPROVED)[0] == 0
    (automation,) = ours(registered)

    status, out, _ = policy(capsys, "estimate", ENDPOINT, APPROVED)
    assert status == 0 and out.strip() == f"{APPROVED}: {ESTIMATE} asset(s) match it now"

    assert policy(capsys, "activate", ENDPOINT, APPROVED)[0] == 0
    assert automation["status"] == "ACTIVE"
    status, out, _ = policy(capsys, "activate", ENDPOINT, APPROVED)
    assert status == 0 and "already ACTIVE" in out
    assert policy(capsys, "deactivate", ENDPOINT, APPROVED)[0] == 0
    assert automation["status"] == "INACTIVE"

    writes = registered.writes()
    assert policy(capsys, "run", ENDPOINT, APPROVED, "--dry-run")[0] == 0
    assert registered.runs == [] and registered.writes() == writes
    assert policy(capsys, "run", ENDPOINT, APPROVED)[0] == 0
    assert registered.runs == [automation["id"]]


def test_delete_removes_only_ours(registered: FakeIconik, capsys: Any) -> None:
    mine, theirs, their_action = _others(registered)
    assert policy(capsys, "create", ENDPOINT, APPROVED)[0] == 0
    assert policy(capsys, "create", ENDPOINT, "remove-when-unmodified", "--days", "30")[0] == 0
    ordinary = {k for k, a in registered.actions.items() if "/policies/" not in a["url"]}

    writes = registered.writes()
    status, out, _ = policy(capsys, "delete", ENDPOINT, APPROVED, "--dry-run")
    assert status == 0 and out.count("would delete") == 2
    assert registered.writes() == writes

    status, out, _ = policy(capsys, "delete", ENDPOINT, APPROVED)
    assert status == 0 and out.count("deleted") == 2
    assert [policies.owner_of(a) for a in ours(registered)] == [
        (ENDPOINT, "remove-when-unmodified-30d")
    ]
    assert policy_actions(registered, APPROVED) == []

    status, out, _ = policy(capsys, "delete", ENDPOINT, "--all")
    assert status == 0
    assert ours(registered) == [] and policy_actions(registered) == []
    assert set(registered.automations) == {mine, theirs}
    assert ordinary | {their_action} == set(registered.actions)


# -- errors ---------------------------------------------------------------------------------------


def test_policies_need_the_ordinary_actions(iconik: FakeIconik, capsys: Any) -> None:
    iconik.add("ASSET", f"{OTHER_ENDPOINT}/remove")
    status, _, err = policy(capsys, "create", ENDPOINT, APPROVED)
    assert status == 2
    assert f"run b2-iconik-actions create {ENDPOINT} first" in err and err.count("\n") == 1
    assert iconik.writes() == 0


@pytest.mark.parametrize(
    ("denied", "argv", "role"),
    [
        (("GET", "list"), ("list",), "can_read_automations"),
        (("POST", "list"), ("create", ENDPOINT, APPROVED), "can_write_automations"),
        (("GET", "runs/estimate"), ("estimate", ENDPOINT, APPROVED), "can_run_automations"),
        (("DELETE", "item"), ("delete", ENDPOINT, APPROVED), "can_delete_automations"),
    ],
)
def test_a_missing_role_is_named(
    registered: FakeIconik,
    capsys: Any,
    denied: tuple[str, str],
    argv: tuple[str, ...],
    role: str,
) -> None:
    if argv[0] != "create":
        assert policy(capsys, "create", ENDPOINT, APPROVED)[0] == 0
    registered.denied.add(denied)
    status, _, err = policy(capsys, *argv)
    assert status == 1
    assert f"(403): the application token's user needs the role {role}" in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("days", ["0", "-3", "1.5", "thirty", "07"])
def test_bad_days_are_refused_before_iconik_is_called(
    registered: FakeIconik, capsys: Any, days: str
) -> None:
    writes = registered.writes()
    status, _, err = policy(capsys, "create", ENDPOINT, "remove-when-unmodified", "--days", days)
    assert status == 2
    assert "--days must be a whole number of days, 1 or more" in err and err.count("\n") == 1
    assert registered.writes() == writes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("create", ENDPOINT, "remove-when-unmodified"), "needs --days"),
        (("create", ENDPOINT, APPROVED, "--days", "3"), "--days is for remove-when-unmodified"),
        (("create", ENDPOINT, "add-when-in-collection", "--collection", "x"), "a UUID"),
        (("estimate", ENDPOINT, "no-such-policy"), "no policy no-such-policy for"),
        (("activate", ENDPOINT, "Bad_Slug"), "is not a policy slug"),
        (("delete", ENDPOINT, "no-such-policy"), "no policy no-such-policy for"),
        (("delete", ENDPOINT), "give either SLUG or --all"),
    ],
)
def test_usage_errors_are_one_sentence(
    registered: FakeIconik, capsys: Any, argv: tuple[str, ...], message: str
) -> None:
    writes = registered.writes()
    status, _, err = policy(capsys, *argv)
    assert status == 2
    assert message in err and err.count("\n") == 1
    assert registered.writes() == writes
