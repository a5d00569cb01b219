"""Fixtures of the HTTP edge's tests: functions-framework's own Flask app, iconik mocked."""

from __future__ import annotations

import sys

import pytest
import responses
from functions_framework import create_app

from tests.web.support import (
    B2,
    ICONIK,
    JOB,
    LL,
    SECRET,
    RecordingRunner,
)


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
