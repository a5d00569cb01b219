"""The iconiks the policy tests run against: the sandbox, and a fake with iconik's Automations API.

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
from typing import Any

import pytest
import responses

from iconik_sandbox.spec import SpecValidator
from tests import leaks
from tests.custom_actions.backends import (
    Backend,
    FakeBackend,
    SandboxBackend,
)
from tests.custom_actions.helpers import ENDPOINT

AUTOMATIONS = "/API/automations/v1/automations/"
SPEC = SpecValidator()  # one for the module: its validators are built once
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
