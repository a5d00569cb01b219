"""Fixtures of the custom-action CLI tests: the operator's environment, and an iconik (twice)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from b2_iconik.custom_actions import api as ca_api
from tests.custom_actions.backends import (
    Backend,
    FakeBackend,
    SandboxBackend,
)
from tests.custom_actions.helpers import (
    APP_ID,
    SECRET,
    TOKEN,
    _point_at,
)


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
