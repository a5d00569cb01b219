"""Copy jobs: queued at once, then files appear; skips, replacements and copy faults."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from iconik_sandbox import Sandbox

CHECKSUM = "0123456789abcdef0123456789abcdef"


def _setup(sandbox: Sandbox, assets: int = 1) -> dict[str, Any]:
    state = sandbox.state
    b2 = state.add_storage("B2", "B2")
    ll = state.add_storage("LL", "FILE")
    ids = []
    for n in range(assets):
        asset = state.add_asset(f"clip{n}")
        state.add_file_set(
            asset["id"],
            "ORIGINAL",
            b2["id"],
            files=[{"size": 1000 + n, "checksum": CHECKSUM}, {"size": 5, "checksum": None}],
        )
        ids.append(asset["id"])
    return {"b2": b2["id"], "ll": ll["id"], "assets": ids}


def _bulk(api, dest: str, object_ids: list[str], **extra: Any) -> str:
    response = api.post(
        f"/API/files/v1/storages/{dest}/bulk/",
        json={"object_ids": object_ids, "object_type": "assets", **extra},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["success"] == f"Queued copying of file sets to storage {dest}"
    return str(body["job_id"])


def test_bulk_copy_starts_then_finishes_with_files(
    sandbox: Sandbox, api, job_done, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hold the copy until the test has seen it started: its 0.05 s may pass before the next
    # request on a loaded machine, and the copy would then be seen finished instead.
    release = threading.Event()
    fire = sandbox.copies._fire

    def held(*args: Any) -> None:
        release.wait(30)
        fire(*args)

    monkeypatch.setattr(sandbox.copies, "_fire", held)
    ids = _setup(sandbox)
    asset = ids["assets"][0]
    job_id = _bulk(api, ids["ll"], [asset], preferred_original_storage_id=ids["b2"])
    job = api.get(f"/API/jobs/v1/jobs/{job_id}/").json()
    assert (job["type"], job["status"]) == ("TRANSFER", "STARTED")
    assert sandbox.state.file_sets_of(asset, ids["ll"]) == []
    release.set()

    job = job_done(job_id)
    assert job["status"] == "FINISHED"
    assert (job["progress_processed"], job["progress_total"], job["progress"]) == (1, 1, 100)
    [fs] = sandbox.state.file_sets_of(asset, ids["ll"])
    copies = sorted(sandbox.state.files_of(file_set_id=fs["id"]), key=lambda f: f["size"])
    assert [(f["size"], f["checksum"], f["status"]) for f in copies] == [
        (5, None, "CLOSED"),
        (1000, CHECKSUM, "CLOSED"),
    ]
    children = api.get("/API/jobs/v1/jobs/", params={"parent_id": job_id}).json()["objects"]
    assert [c["status"] for c in children] == ["FINISHED"]


def test_copy_already_there_is_skipped(sandbox: Sandbox, api, job_done) -> None:
    ids = _setup(sandbox)
    first = job_done(_bulk(api, ids["ll"], ids["assets"]))
    assert first["status"] == "FINISHED"
    before = sandbox.state.snapshot()["file_sets"]
    second = job_done(_bulk(api, ids["ll"], ids["assets"]))
    assert second["status"] == "SKIPPED"
    assert sandbox.state.snapshot()["file_sets"] == before


def test_broken_destination_copy_is_replaced(sandbox: Sandbox, api, job_done) -> None:
    ids = _setup(sandbox)
    asset = ids["assets"][0]
    old = sandbox.state.add_file_set(asset, "ORIGINAL", ids["ll"], files=[{"status": "FAILED"}])
    assert job_done(_bulk(api, ids["ll"], [asset]))["status"] == "FINISHED"
    assert sandbox.state.file_sets[old["id"]]["status"] == "DELETED"
    [new] = sandbox.state.file_sets_of(asset, ids["ll"])
    assert new["id"] != old["id"]
    assert {f["status"] for f in sandbox.state.files_of(file_set_id=new["id"])} == {"CLOSED"}


def test_missing_format_or_source_fails_the_part(sandbox: Sandbox, api, job_done) -> None:
    ids = _setup(sandbox, assets=2)
    bare = sandbox.state.add_asset("no files")["id"]
    job = job_done(_bulk(api, ids["ll"], [*ids["assets"], bare]))
    assert job["status"] == "FINISHED_WITH_WARNING"
    assert bare in job["error_message"] and "no format ORIGINAL" in job["error_message"]
    only_bad = job_done(_bulk(api, ids["ll"], [bare]))
    assert only_bad["status"] == "FAILED" and bare in only_bad["error_message"]


def test_source_with_bad_files_is_not_copied(sandbox: Sandbox, api, job_done) -> None:
    ids = _setup(sandbox)
    asset = ids["assets"][0]
    [fs] = sandbox.state.file_sets_of(asset, ids["b2"])
    sandbox.state.set_file_status(sandbox.state.files_of(file_set_id=fs["id"])[0]["id"], "MISSING")
    job = job_done(_bulk(api, ids["ll"], [asset]))
    assert job["status"] == "FAILED" and "MISSING" in job["error_message"]
    assert sandbox.state.file_sets_of(asset, ids["ll"]) == []


def test_collections_are_copied_recursively(sandbox: Sandbox, api, job_done) -> None:
    ids = _setup(sandbox, assets=3)
    root = sandbox.state.add_collection("root")
    sub = sandbox.state.add_collection("sub", root["id"])
    subsub = sandbox.state.add_collection("subsub", sub["id"])
    sandbox.state.add_to_collection(root["id"], ids["assets"][0])
    sandbox.state.add_to_collection(subsub["id"], ids["assets"][1], ids["assets"][0])
    response = api.post(
        f"/API/files/v1/storages/{ids['ll']}/bulk/",
        json={"object_ids": [root["id"]], "object_type": "collections"},
    )
    job = job_done(response.json()["job_id"])
    assert job["status"] == "FINISHED" and job["progress_total"] == 2
    for asset in ids["assets"][:2]:
        assert len(sandbox.state.file_sets_of(asset, ids["ll"])) == 1
    assert sandbox.state.file_sets_of(ids["assets"][2], ids["ll"]) == []


def test_saved_searches_are_copied(sandbox: Sandbox, api, job_done) -> None:
    ids = _setup(sandbox, assets=2)
    search = sandbox.state.add_saved_search("s", ids["assets"][1:])
    response = api.post(
        f"/API/files/v1/storages/{ids['ll']}/bulk/",
        json={"object_ids": [search["id"]], "object_type": "saved_searches"},
    )
    assert job_done(response.json()["job_id"])["status"] == "FINISHED"
    assert sandbox.state.file_sets_of(ids["assets"][0], ids["ll"]) == []
    assert len(sandbox.state.file_sets_of(ids["assets"][1], ids["ll"])) == 1


def test_bulk_errors(sandbox: Sandbox, api) -> None:
    ids = _setup(sandbox)
    unknown = "0b0c0d0e-0000-4000-8000-000000000000"
    assert (
        api.post(
            f"/API/files/v1/storages/{unknown}/bulk/",
            json={"object_ids": ids["assets"], "object_type": "assets"},
        ).status_code
        == 404
    )
    too_many = api.post(
        f"/API/files/v1/storages/{ids['ll']}/bulk/",
        json={"object_ids": [unknown] * 501, "object_type": "assets"},
    )
    assert too_many.status_code == 400
    assert (
        api.post(
            f"/API/files/v1/storages/{ids['ll']}/bulk/", json={"object_type": "assets"}
        ).status_code
        == 400
    )


def test_file_set_copy_and_conflict(sandbox: Sandbox, api, job_done) -> None:
    ids = _setup(sandbox)
    asset = ids["assets"][0]
    [fs] = sandbox.state.file_sets_of(asset, ids["b2"])
    path = f"/API/files/v1/file_sets/{fs['id']}/storages/{ids['ll']}/"
    response = api.post(path, json={})
    assert response.status_code == 202
    assert job_done(response.json()["job_id"])["status"] == "FINISHED"
    again = api.post(path, json={})
    assert again.status_code == 409 and again.json()["errors"]
    unknown = "0b0c0d0e-0000-4000-8000-000000000000"
    assert (
        api.post(f"/API/files/v1/file_sets/{unknown}/storages/{ids['ll']}/", json={}).status_code
        == 404
    )


def test_copy_fail_fault(sandbox: Sandbox, api, job_done) -> None:
    ids = _setup(sandbox, assets=2)
    sandbox.faults.copy_fail = [ids["assets"][0]]
    job = job_done(_bulk(api, ids["ll"], ids["assets"]))
    assert job["status"] == "FINISHED_WITH_WARNING"
    assert ids["assets"][0] in job["error_message"]
    assert sandbox.state.file_sets_of(ids["assets"][0], ids["ll"]) == []
    assert len(sandbox.state.file_sets_of(ids["assets"][1], ids["ll"])) == 1
    sandbox.faults.copy_fail = 1.0
    other = sandbox.state.add_asset("x")["id"]
    sandbox.state.add_file_set(other, "ORIGINAL", ids["b2"])
    assert job_done(_bulk(api, ids["ll"], [other]))["status"] == "FAILED"


def test_copy_wrong_size_fault(sandbox: Sandbox, api, job_done) -> None:
    ids = _setup(sandbox)
    asset = ids["assets"][0]
    sandbox.faults.copy_wrong_size = {"asset_ids": [asset]}
    assert job_done(_bulk(api, ids["ll"], [asset]))["status"] == "FINISHED"
    [fs] = sandbox.state.file_sets_of(asset, ids["ll"])
    sizes = sorted(f["size"] for f in sandbox.state.files_of(file_set_id=fs["id"]))
    assert sizes == [6, 1001]
    assert {f["status"] for f in sandbox.state.files_of(file_set_id=fs["id"])} == {"CLOSED"}


def test_copy_stays_open_fault(sandbox: Sandbox, api, job_done, poll) -> None:
    ids = _setup(sandbox)
    asset = ids["assets"][0]
    sandbox.faults.copy_stays_open = True
    job_id = _bulk(api, ids["ll"], [asset])
    poll(lambda: sandbox.state.file_sets_of(asset, ids["ll"]))
    [fs] = sandbox.state.file_sets_of(asset, ids["ll"])
    assert {f["status"] for f in sandbox.state.files_of(file_set_id=fs["id"])} == {"OPEN"}
    assert api.get(f"/API/jobs/v1/jobs/{job_id}/").json()["status"] == "STARTED"
    assert sandbox.state.complete_open_copies() == 1
    assert job_done(job_id)["status"] == "FINISHED"
    assert {f["status"] for f in sandbox.state.files_of(file_set_id=fs["id"])} == {"CLOSED"}


def test_copy_fault_shares_are_repeatable() -> None:
    from iconik_sandbox import Faults

    ids = [f"asset-{n}" for n in range(200)]
    first = [Faults(seed=3, copy_fail=0.25).copy_outcome(i) for i in ids]
    second = [Faults(seed=3, copy_fail=0.25).copy_outcome(i) for i in reversed(ids)][::-1]
    assert first == second
    assert 20 < first.count("copy_fail") < 80
