"""The worker: passing failures re-run a step later, lasting ones end the job FAILED."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from b2_iconik import remove, worker
from b2_iconik.config import Settings
from b2_iconik.errors import IconikHTTPError, IconikUnavailable
from b2_iconik.payload import ActionOptions, CustomAction
from b2_iconik.steps import EXPAND, PROCESS, Step
from b2_iconik.worker import Worker

OPTIONS = ActionOptions("b2000000-0000-4000-8000-000000000000",
                        "11000000-0000-4000-8000-000000000000", ("ORIGINAL",))


class FakeClient:
    def __init__(self, contents: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.updates: list[dict[str, Any]] = []
        self.contents = contents or {}

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update_job(self, job_id: str, **fields: Any) -> None:
        self.updates.append(fields)

    def collection_contents(self, collection_id: str) -> list[dict[str, Any]]:
        if collection_id not in self.contents:
            raise IconikHTTPError(404, ["Collection not found"], "GET", "/collections/x/")
        return self.contents[collection_id]

    def saved_search_results(self, search_id: str) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient({"c": [{"id": "a1", "object_type": "assets"},
                             {"id": "a2", "object_type": "assets"}]})


def make(fake: FakeClient, now: float = 1000.0) -> Worker:
    settings = Settings(iconik_id="app", remove_recheck_seconds=2, remove_wait_seconds=60)
    return Worker(settings, clock=lambda: now, client_factory=lambda token: fake)  # type: ignore


def step(**changes: Any) -> Step:
    base = Step("remove", "job", OPTIONS, "token", stage=PROCESS, remaining=("a1", "a2"), total=2)
    return replace(base, **changes)


def test_expand_names_the_real_count_and_sets_the_deadline(fake, monkeypatch):
    seen: list[Step] = []
    monkeypatch.setattr(remove, "run", lambda c, s, now, r: seen.append(s))
    selection = CustomAction("COLLECTION", collection_ids=("c",), auth_token="token")
    make(fake).execute(Step("remove", "job", OPTIONS, "token", selection=selection, stage=EXPAND))
    (processed,) = seen
    assert (processed.remaining, processed.total, processed.deadline) == (("a1", "a2"), 2, 1060.0)
    assert fake.updates[0]["title"] == "Remove 2 assets from LucidLink"


@pytest.mark.parametrize("error", [IconikUnavailable("no answer"),
                                   IconikHTTPError(429, ["slow down"], "GET", "/x"),
                                   IconikHTTPError(502, ["bad gateway"], "GET", "/x")])
def test_passing_failure_runs_the_step_again_later(fake, monkeypatch, error):
    def fail(*args: Any) -> None:
        raise error

    monkeypatch.setattr(remove, "run", fail)
    again = make(fake).execute(step(attempt=1))
    assert again is not None
    assert (again.attempt, again.not_before, again.remaining) == (2, 1004.0, ("a1", "a2"))
    assert not fake.updates


def test_passing_failure_that_lasts_ends_the_job_failed(fake, monkeypatch):
    def fail(*args: Any) -> None:
        raise IconikUnavailable("iconik did not answer")

    monkeypatch.setattr(remove, "run", fail)
    assert make(fake).execute(step(attempt=worker.MAX_ATTEMPTS - 1)) is None
    final = fake.updates[-1]
    assert final["status"] == "FAILED"
    assert "a1: iconik did not answer" in final["message"]
    assert "Nothing unverified was removed" in final["message"]


def test_missing_collection_ends_the_job_failed_at_once(fake):
    selection = CustomAction("COLLECTION", collection_ids=("gone",), auth_token="token")
    assert make(fake).execute(Step("remove", "job", OPTIONS, "token", selection=selection)) is None
    assert fake.updates[-1]["status"] == "FAILED"
    assert "Collection not found" in fake.updates[-1]["message"]


def test_unexpected_error_ends_the_job_failed_and_is_logged(fake, monkeypatch, caplog):
    def fail(*args: Any) -> None:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(remove, "run", fail)
    assert make(fake).execute(step()) is None
    assert "internal error: ZeroDivisionError" in fake.updates[-1]["message"]
    assert any(r.exc_info for r in caplog.records)


def test_give_up_names_the_assets_not_handled(fake):
    make(fake).give_up(step(done=0, failures=(("a0", "earlier"),)), "too large for a task")
    final = fake.updates[-1]
    assert final["status"] == "FAILED"
    for text in ("a0: earlier", "a1: too large for a task", "a2: too large for a task"):
        assert text in final["message"]
