"""Request bodies checked against iconik's spec; answers checked against it too."""

from __future__ import annotations

import json
from typing import Any

import requests

from iconik_sandbox import Catalogue, Sandbox
from iconik_sandbox.spec import SERVICES, SPEC_DIR, SpecValidator


def test_trimmed_spec_names_its_source() -> None:
    assert "automations" in SERVICES
    for service in SERVICES:
        spec = json.loads((SPEC_DIR / f"{service}.json").read_text())
        assert "TRIMMED copy of iconik's OpenAPI" in spec["info"]["description"]
        assert "May 2025" in spec["info"]["description"]


def test_bad_body_is_rejected_and_recorded(sandbox: Sandbox, api) -> None:
    ll = sandbox.state.add_storage("LL", "FILE")
    response = api.post(
        f"/API/files/v1/storages/{ll['id']}/bulk/",
        json={"object_ids": ["not-a-uuid"], "object_type": "clips"},
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any("uuid" in e for e in errors) and any("clips" in e for e in errors)
    [violation] = sandbox.spec_violations
    assert violation["method"] == "POST"
    assert violation["path"] == f"/API/files/v1/storages/{ll['id']}/bulk/"
    assert "uuid" in violation["error"]
    assert sandbox.state.jobs() == []


def test_job_post_requires_fields_but_patch_is_partial(sandbox: Sandbox, api) -> None:
    bad = api.post("/API/jobs/v1/jobs/", json={"title": "no type"})
    assert bad.status_code == 400 and len(sandbox.spec_violations) == 1
    job = api.post(
        "/API/jobs/v1/jobs/", json={"title": "t", "type": "CUSTOM", "status": "STARTED"}
    ).json()
    patched = api.patch(f"/API/jobs/v1/jobs/{job['id']}/", json={"progress_processed": 1})
    assert patched.status_code == 200
    wrong_enum = api.patch(f"/API/jobs/v1/jobs/{job['id']}/", json={"status": "DONE"})
    assert wrong_enum.status_code == 400
    assert len(sandbox.spec_violations) == 2


def test_validation_can_be_turned_off() -> None:
    with Sandbox(validate=False) as sb:
        response = requests.post(
            sb.url + "/API/jobs/v1/jobs/",
            json={"title": "t", "type": "NOT_A_TYPE", "status": "STARTED", "extra": 1},
            headers=sb.headers,
            timeout=5,
        )
        assert response.status_code == 201
        assert sb.spec_violations == []


def test_a_good_client_leaves_no_violations(sandbox: Sandbox, api, job_done) -> None:
    ids = sandbox.seed(Catalogue(assets=4, collections_depth=1, seed=1))
    job = api.post(
        "/API/jobs/v1/jobs/",
        json={
            "title": "Add 4 assets to LucidLink",
            "type": "CUSTOM",
            "custom_type": "LucidLink sync",
            "status": "STARTED",
            "object_type": "collections",
            "object_id": ids.root_collection_id,
            "progress_processed": 0,
            "progress_total": 4,
            "metadata": {"storage_id": ids.ll_storage_id},
        },
    ).json()
    copy = api.post(
        f"/API/files/v1/storages/{ids.ll_storage_id}/bulk/",
        json={
            "object_ids": [ids.root_collection_id],
            "object_type": "collections",
            "format_name": "ORIGINAL",
            "preferred_original_storage_id": ids.b2_storage_id,
        },
    )
    assert copy.status_code == 202
    api.patch(
        f"/API/jobs/v1/jobs/{job['id']}/", json={"status": "FINISHED", "progress_processed": 4}
    )
    job_done(copy.json()["job_id"])
    assert sandbox.spec_violations == []


def _strip_nulls(errors: list[str]) -> list[str]:
    """iconik itself answers null for fields its spec calls plain strings (next_url,
    error_message...); the sandbox does the same, so those are not held against it."""
    return [
        e for e in errors if "None is not of type" not in e and "None for not nullable" not in e
    ]


def test_answers_match_the_spec(sandbox: Sandbox, api, job_done) -> None:
    ids = sandbox.seed(Catalogue(assets=6, collections_depth=1, seed=2))
    asset = ids.on_ll[0]
    fmt = api.get(f"/API/files/v1/assets/{asset}/formats/ORIGINAL/").json()
    [fs] = sandbox.state.file_sets_of(asset, ids.ll_storage_id, format_name="ORIGINAL")
    job_id = api.post(
        f"/API/files/v1/storages/{ids.ll_storage_id}/bulk/",
        json={"object_ids": ids.asset_ids, "object_type": "assets"},
    ).json()["job_id"]
    job_done(job_id)
    action = api.post(
        "/API/assets/v1/custom_actions/BULK/",
        json={"context": "BULK", "title": "Add", "url": "https://example.invalid/add"},
    ).json()
    checks: list[tuple[str, str, str, str, Any]] = [
        ("files", "GET", "/v1/storages/", "/API/files/v1/storages/", None),
        (
            "files",
            "GET",
            "/v1/storages/{storage_id}/",
            f"/API/files/v1/storages/{ids.b2_storage_id}/",
            None,
        ),
        (
            "files",
            "GET",
            "/v1/assets/{asset_id}/formats/",
            f"/API/files/v1/assets/{asset}/formats/",
            None,
        ),
        (
            "files",
            "GET",
            "/v1/assets/{asset_id}/formats/{format_id}/",
            f"/API/files/v1/assets/{asset}/formats/{fmt['id']}/",
            None,
        ),
        (
            "files",
            "GET",
            "/v1/assets/{asset_id}/file_sets/",
            f"/API/files/v1/assets/{asset}/file_sets/?file_count=true",
            None,
        ),
        (
            "files",
            "GET",
            "/v1/assets/{asset_id}/file_sets/{file_set_id}/",
            f"/API/files/v1/assets/{asset}/file_sets/{fs['id']}/",
            None,
        ),
        (
            "files",
            "GET",
            "/v1/assets/{asset_id}/files/",
            f"/API/files/v1/assets/{asset}/files/",
            None,
        ),
        (
            "files",
            "GET",
            "/v1/assets/{asset_id}/file_sets/{file_set_id}/files/",
            f"/API/files/v1/assets/{asset}/file_sets/{fs['id']}/files/",
            None,
        ),
        (
            "files",
            "GET",
            "/v1/assets/{asset_id}/formats/{format_id}/storages/{storage_id}/file_sets/",
            f"/API/files/v1/assets/{asset}/formats/{fmt['id']}/storages/{ids.ll_storage_id}/file_sets/",
            None,
        ),
        (
            "files",
            "GET",
            "/v1/storages/{storage_id}/files/",
            f"/API/files/v1/storages/{ids.ll_storage_id}/files/?scroll=true",
            None,
        ),
        ("assets", "GET", "/v1/assets/{asset_id}/", f"/API/assets/v1/assets/{asset}/", None),
        (
            "assets",
            "GET",
            "/v1/collections/{collection_id}/",
            f"/API/assets/v1/collections/{ids.root_collection_id}/",
            None,
        ),
        (
            "assets",
            "GET",
            "/v1/collections/{collection_id}/contents/",
            f"/API/assets/v1/collections/{ids.root_collection_id}/contents/",
            None,
        ),
        ("assets", "GET", "/v1/custom_actions/", "/API/assets/v1/custom_actions/", None),
        (
            "assets",
            "PATCH",
            "/v1/custom_actions/{context}/{action_id}/",
            f"/API/assets/v1/custom_actions/BULK/{action['id']}/",
            {"disabled": True},
        ),
        (
            "search",
            "GET",
            "/v1/search/saved/{search_id}/",
            f"/API/search/v1/search/saved/{ids.saved_search_ids[0]}/",
            None,
        ),
        ("jobs", "GET", "/v1/jobs/{job_id}/", f"/API/jobs/v1/jobs/{job_id}/", None),
        ("jobs", "GET", "/v1/jobs/", "/API/jobs/v1/jobs/", None),
    ]
    validator = SpecValidator()
    for service, method, spec_path, url, payload in checks:
        response = api(method, url, json=payload)
        assert response.status_code == 200, (url, response.text)
        errors = validator.check_response(service, method, spec_path, 200, response.json())
        assert _strip_nulls(errors) == [], (spec_path, errors)
    created = validator.check_response(
        "assets", "POST", "/v1/custom_actions/{context}/", 201, action
    )
    assert _strip_nulls(created) == []
