"""The iconiks the custom-action CLI tests run against: the sandbox, and an in-memory fake.

The fake answers iconik's custom-action and storage endpoints through `responses`.
"""

from __future__ import annotations

import abc
import json
import re
import uuid
from typing import Any

import responses

from tests.custom_actions.helpers import (
    APP_ID,
    TOKEN,
)


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
