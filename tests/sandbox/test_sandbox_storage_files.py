"""A storage's files listing (``GET /API/files/v1/storages/{storage_id}/files/``) as the spec
gives it: FilesElasticSchema pages of FileElasticSchema files, ``per_page`` from 1 to 100, page
numbers or a scroll, the role ``can_list_storage_files``, 404 for an unknown storage."""

from __future__ import annotations

from typing import Any

from iconik_sandbox import Sandbox
from iconik_sandbox.spec import SpecValidator

PATH = "/API/files/v1/storages/{}/files/"


def _two_storages(sandbox: Sandbox) -> tuple[str, str, list[str]]:
    state = sandbox.state
    b2 = state.add_storage("B2", "B2")["id"]
    ll = state.add_storage("LucidLink", "FILE")["id"]
    assets = []
    for n in range(4):
        asset = state.add_asset(f"clip {n}")["id"]
        assets.append(asset)
        state.add_file_set(asset, "ORIGINAL", b2, files=[{"size": 10 + n, "checksum": f"c{n}"}])
        state.add_file_set(asset, "ORIGINAL", ll, files=[{"size": 10 + n}, {"size": 1}])
    return b2, ll, assets


def test_lists_every_file_of_the_storage_with_the_spec_fields(sandbox: Sandbox, api) -> None:
    b2, ll, assets = _two_storages(sandbox)
    files = api.all_pages(PATH.format(ll), per_page=100)
    assert len(files) == 8 and {f["storage_id"] for f in files} == {ll}
    assert {f["asset_id"] for f in files} == set(assets)
    one = files[0]
    for field in ("id", "asset_id", "file_set_id", "format_id", "size", "status", "checksum"):
        assert field in one
    assert one["file_set_status"] == "ACTIVE" and one["format_status"] == "ACTIVE"
    b2_files = api.all_pages(PATH.format(b2))
    assert sorted(f["checksum"] for f in b2_files) == ["c0", "c1", "c2", "c3"]
    # the same asset's format has one id on both storages: the listings join on it
    by_asset = {f["asset_id"]: f["format_id"] for f in b2_files}
    assert all(by_asset[f["asset_id"]] == f["format_id"] for f in files)


def test_answer_matches_the_spec(sandbox: Sandbox, api) -> None:
    _, ll, _ = _two_storages(sandbox)
    validator = SpecValidator()
    for query in ({}, {"scroll": "true"}, {"per_page": 2, "page": 2}):
        page = api.get(PATH.format(ll), params=query).json()
        errors = validator.check_response(
            "files", "GET", "/v1/storages/{storage_id}/files/", 200, page
        )
        assert [e for e in errors if "None" not in e] == [], errors  # null URLs, as iconik


def test_per_page_defaults_to_ten_is_capped_and_checked(sandbox: Sandbox, api) -> None:
    sandbox.context.per_page_cap = 1000
    _, ll, _ = _two_storages(sandbox)
    for n in range(3):  # 8 + 3 * 2 = 14 files
        asset = sandbox.state.add_asset(f"more {n}")["id"]
        sandbox.state.add_file_set(asset, "ORIGINAL", ll, files=[{"size": 1}, {"size": 2}])
    first = api.get(PATH.format(ll)).json()
    assert (first["per_page"], first["pages"], first["total"]) == (10, 2, 14)
    assert first["next_url"].startswith(PATH.format(ll) + "?") and "page=2" in first["next_url"]
    assert api.get(PATH.format(ll), params={"per_page": 500}).json()["per_page"] == 100
    for bad in ("0", "x", "-3"):
        assert api.get(PATH.format(ll), params={"per_page": bad}).status_code == 400
    assert api.get(PATH.format(ll), params={"page": 3}).status_code == 404


def test_pages_follow_next_url_to_the_end(sandbox: Sandbox, api) -> None:
    _, ll, _ = _two_storages(sandbox)  # the sandbox fixture caps pages at 3
    first = api.get(PATH.format(ll), params={"per_page": 100}).json()
    assert (first["per_page"], first["pages"]) == (3, 3)
    assert len({f["id"] for f in api.all_pages(PATH.format(ll))}) == 8


def test_filters_by_status(sandbox: Sandbox, api) -> None:
    _, ll, _ = _two_storages(sandbox)
    some = sandbox.state.files_of(storage_id=ll)[0]
    sandbox.state.set_file_status(some["id"], "MISSING")
    missing = api.all_pages(PATH.format(ll), status="MISSING")
    assert [f["id"] for f in missing] == [some["id"]]


def test_unknown_storage_is_404_and_the_role_is_required(sandbox: Sandbox, api) -> None:
    _two_storages(sandbox)
    answer = api.get(PATH.format("7f7f7f7f-0000-4000-8000-000000000000"))
    assert answer.status_code == 404 and answer.json()["errors"]
    sandbox.context.tokens.add(
        sandbox.headers["App-ID"], "no-list", without_roles={"can_list_storage_files"}
    )
    headers = {"App-ID": sandbox.headers["App-ID"], "Auth-Token": "no-list"}
    storage = next(iter(sandbox.state.storages))
    refused = api.get(PATH.format(storage), headers=headers)
    assert refused.status_code == 403
    assert "can_list_storage_files" in refused.json()["errors"][0]


def test_a_scroll_walks_one_snapshot_while_the_storage_changes(sandbox: Sandbox, api) -> None:
    """Deleting a file set between pages shifts page numbers (a file would be skipped); a
    scroll keeps its snapshot: purged files drop out, nothing else moves."""
    _, ll, assets = _two_storages(sandbox)
    first = api.get(PATH.format(ll), params={"scroll": "true", "per_page": 3}).json()
    assert first["scroll_id"] and "scroll_id=" in first["next_url"]
    seen: list[dict[str, Any]] = list(first["objects"])
    gone = sandbox.state.file_sets_of(assets[0], ll)[0]
    sandbox.state.delete_file_set(assets[0], gone["id"], immediately=True)
    late = sandbox.state.add_asset("late")["id"]
    sandbox.state.add_file_set(late, "ORIGINAL", ll)
    url = first["next_url"]
    while url:
        page = api.get(url).json()
        seen.extend(page["objects"])
        url = page.get("next_url")
    ids = [f["id"] for f in seen]
    assert len(ids) == len(set(ids))
    remaining = {f["id"] for f in sandbox.state.files_of(storage_id=ll)}
    assert remaining - {f["id"] for f in sandbox.state.files_of(asset_id=late)} <= set(ids)
    stale = api.get(PATH.format(ll), params={"scroll": "true", "scroll_id": "nope"})
    assert stale.status_code == 404
