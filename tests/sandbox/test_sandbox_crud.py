"""Custom actions and jobs: create, read, update (partial), delete, list with filters."""

from __future__ import annotations

from iconik_sandbox import Sandbox

ACTION = {
    "type": "POST",
    "context": "BULK",
    "title": "Add to LucidLink",
    "url": "https://fn.example.invalid/iconik_handler/add?b2_storage_id=x",
    "headers": {"x-bz-secret": "s3cret"},
    "app_id": "66666666-6666-4666-8666-666666666666",
}


def test_custom_action_crud(sandbox: Sandbox, api) -> None:
    created = api.post("/API/assets/v1/custom_actions/BULK/", json=ACTION)
    assert created.status_code == 201
    action = created.json()
    assert action["status"] == "HEALTHY" and action["last_error"] is None
    assert action["last_error_date"] is None and action["system_domain_id"]
    assert action["id"] and action["date_created"] and action["date_modified"]
    assert {k: action[k] for k in ACTION} == ACTION
    path = f"/API/assets/v1/custom_actions/BULK/{action['id']}/"
    assert api.get(path).json() == action
    assert [a["id"] for a in api.get("/API/assets/v1/custom_actions/").json()["objects"]] == [
        action["id"]
    ]
    assert api.get("/API/assets/v1/custom_actions/ASSET/").json() == {"objects": []}
    patched = api.patch(path, json={"disabled": True})
    assert patched.status_code == 200
    assert patched.json()["disabled"] is True and patched.json()["title"] == ACTION["title"]
    replaced = api.put(path, json={"context": "BULK", "title": "New", "url": "https://x.invalid"})
    assert replaced.status_code == 200
    assert replaced.json()["headers"] == {} and replaced.json()["disabled"] is False
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404


def test_custom_action_needs_title_url_and_known_context(sandbox: Sandbox, api) -> None:
    missing = api.post("/API/assets/v1/custom_actions/BULK/", json={"context": "BULK"})
    assert missing.status_code == 400
    assert any("title" in e for e in missing.json()["errors"])
    bad_context = api.get("/API/assets/v1/custom_actions/NOPE/")
    assert bad_context.status_code == 400


def test_action_can_be_marked_failing(sandbox: Sandbox, api) -> None:
    action = api.post("/API/assets/v1/custom_actions/BULK/", json=ACTION).json()
    sandbox.state.mark_action_failing(action["id"], "HTTP 500 from the function")
    seen = api.get(f"/API/assets/v1/custom_actions/BULK/{action['id']}/").json()
    assert seen["status"] == "FAILING"
    assert seen["last_error"] == "HTTP 500 from the function" and seen["last_error_date"]


def test_jobs_crud_with_partial_patch(sandbox: Sandbox, api) -> None:
    created = api.post(
        "/API/jobs/v1/jobs/",
        json={
            "title": "Remove 4 assets",
            "type": "CUSTOM",
            "custom_type": "LucidLink",
            "status": "STARTED",
            "progress_processed": 0,
            "progress_total": 4,
            "metadata": {"a": 1},
            "progress": 77,  # read-only: ignored
        },
    )
    assert created.status_code == 201
    job = created.json()
    assert job["id"] and job["date_created"] and job["progress"] == 0
    path = f"/API/jobs/v1/jobs/{job['id']}/"
    assert api.get(path).json()["title"] == "Remove 4 assets"
    half = api.patch(path, json={"progress_processed": 2}).json()
    assert (half["progress"], half["status"], half["title"]) == (50, "STARTED", "Remove 4 assets")
    merged = api.patch(path, params={"merge_metadata": "true"}, json={"metadata": {"b": 2}}).json()
    assert merged["metadata"] == {"a": 1, "b": 2}
    done = api.patch(path, json={"status": "FINISHED", "progress_processed": 4}).json()
    assert done["progress"] == 100 and done["completed_at"]
    assert (
        api.patch(f"/API/jobs/v1/jobs/{'0' * 8}-0000-4000-8000-{'0' * 12}/", json={}).status_code
        == 404
    )


def test_jobs_list_filters(sandbox: Sandbox, api) -> None:
    parent = api.post(
        "/API/jobs/v1/jobs/", json={"title": "p", "type": "CUSTOM", "status": "STARTED"}
    ).json()
    for status in ("FINISHED", "FAILED"):
        api.post(
            "/API/jobs/v1/jobs/",
            json={"title": status, "type": "CUSTOM", "status": status, "parent_id": parent["id"]},
        )
    children = api.get("/API/jobs/v1/jobs/", params={"parent_id": parent["id"]}).json()
    assert children["total"] == 2
    failed = api.get("/API/jobs/v1/jobs/", params={"parent_id": parent["id"], "status": "FAILED"})
    assert [j["title"] for j in failed.json()["objects"]] == ["FAILED"]
    assert api.get(f"/API/jobs/v1/jobs/{parent['id']}/").json()["has_children"] is True
    assert api.get("/API/jobs/v1/jobs/", params={"type": "TRANSFER"}).json()["total"] == 0
