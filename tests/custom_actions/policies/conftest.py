"""Fixtures of the policy tests: an iconik with automations (twice), and its actions registered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses
from pytest_httpserver import HTTPServer

from tests.custom_actions.helpers import (
    _point_at,
    run,
)
from tests.custom_actions.policies.backends import (
    FakeIconik,
    PolicyBackend,
    SandboxIconik,
)


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
            _point_at(env, backend)
            yield backend
            assert sandbox.spec_violations == []
    else:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(httpserver.url_for("/"))
            fake = FakeIconik(mock)
            _point_at(env, fake)
            yield fake
            assert fake.violations == []


@pytest.fixture
def registered(iconik: PolicyBackend, capsys: Any) -> PolicyBackend:
    """The ordinary actions of the endpoint are registered, with storages and two formats."""
    argv = ("create", iconik.endpoint, "--b2-storage", iconik.b2, "--ll-storage", iconik.ll)
    status, _, err = run(capsys, *argv, "--formats", "ORIGINAL,PPRO_PROXY")
    assert status == 0, err
    return iconik
