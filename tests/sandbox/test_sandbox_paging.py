"""Pagination as iconik: page numbers and last_id cursors, next_url host-relative, capped."""

from __future__ import annotations

from iconik_sandbox import Sandbox


def _catalogue(sandbox: Sandbox) -> dict[str, str]:
    state = sandbox.state
    b2 = state.add_storage("B2", "B2")
    root = state.add_collection("root")
    child = state.add_collection("child", root["id"])
    asset = state.add_asset("many files")
    state.add_file_set(asset["id"], "ORIGINAL", b2["id"], files=[{"size": n} for n in range(1, 8)])
    for n in range(7):
        extra = state.add_asset(f"in root {n}")
        state.add_to_collection(root["id"], extra["id"])
    state.add_to_collection(child["id"], asset["id"])
    return {"b2": b2["id"], "root": root["id"], "child": child["id"], "asset": asset["id"]}


def test_collection_contents_pages_with_next_url(sandbox: Sandbox, api) -> None:
    ids = _catalogue(sandbox)
    path = f"/API/assets/v1/collections/{ids['root']}/contents/"
    first = api.get(path, params={"per_page": 50}).json()  # capped to 3
    assert first["per_page"] == 3
    assert (first["page"], first["pages"], first["total"]) == (1, 3, 8)
    assert first["next_url"].startswith(f"/API/assets/v1/collections/{ids['root']}/contents/?")
    assert "page=2" in first["next_url"] and first["prev_url"] is None
    assert "page=3" in first["last_url"]
    everything = api.all_pages(path, per_page=50)
    assert len(everything) == 8
    assert len({o["id"] for o in everything}) == 8
    assert api.get(path, params={"page": 4}).status_code == 404


def test_contents_are_direct_children_only(sandbox: Sandbox, api) -> None:
    ids = _catalogue(sandbox)
    objects = api.all_pages(f"/API/assets/v1/collections/{ids['root']}/contents/")
    kinds = [o["object_type"] for o in objects]
    assert kinds.count("collections") == 1 and kinds.count("assets") == 7
    assert ids["asset"] not in {o["id"] for o in objects}  # it is one level down
    only = api.all_pages(
        f"/API/assets/v1/collections/{ids['root']}/contents/", object_types="collections"
    )
    assert [o["id"] for o in only] == [ids["child"]]
    nested = api.all_pages(f"/API/assets/v1/collections/{ids['child']}/contents/")
    assert [(o["id"], o["object_type"]) for o in nested] == [(ids["asset"], "assets")]


def test_default_page_size_is_ten(api, sandbox: Sandbox) -> None:
    sandbox.context.per_page_cap = 100
    ids = _catalogue(sandbox)
    page = api.get(f"/API/assets/v1/collections/{ids['root']}/contents/").json()
    assert page["per_page"] == 10 and page["next_url"] is None


def test_files_use_last_id_cursors(sandbox: Sandbox, api) -> None:
    ids = _catalogue(sandbox)
    path = f"/API/files/v1/assets/{ids['asset']}/files/"
    first = api.get(path).json()
    assert len(first["objects"]) == 3
    assert f"last_id={first['objects'][-1]['id']}" in first["next_url"]
    assert first["next_url"].startswith(path)
    files = api.all_pages(path)
    assert sorted(f["size"] for f in files) == list(range(1, 8))
    assert len({f["id"] for f in files}) == 7
    fs_id = files[0]["file_set_id"]
    assert len(api.all_pages(f"/API/files/v1/assets/{ids['asset']}/file_sets/{fs_id}/files/")) == 7


def test_formats_and_file_sets_use_cursors(sandbox: Sandbox, api) -> None:
    state = sandbox.state
    b2 = state.add_storage("B2", "B2")
    ll = state.add_storage("LL", "FILE")
    asset = state.add_asset("a")
    for name in ("ORIGINAL", "PPRO_PROXY", "EDIT_PROXY", "AUDIO"):
        state.add_file_set(asset["id"], name, b2["id"])
        state.add_file_set(asset["id"], name, ll["id"])
    formats = api.all_pages(f"/API/files/v1/assets/{asset['id']}/formats/")
    assert sorted(f["name"] for f in formats) == ["AUDIO", "EDIT_PROXY", "ORIGINAL", "PPRO_PROXY"]
    file_sets = api.all_pages(f"/API/files/v1/assets/{asset['id']}/file_sets/", file_count="true")
    assert len(file_sets) == 8 and all(fs["file_count"] == 1 for fs in file_sets)


def test_storages_and_jobs_use_page_numbers(sandbox: Sandbox, api) -> None:
    for n in range(5):
        sandbox.state.add_storage(f"s{n}", "B2" if n % 2 else "FILE")
        api.post("/API/jobs/v1/jobs/", json={"title": f"j{n}", "type": "CUSTOM", "status": "READY"})
    assert len(api.all_pages("/API/files/v1/storages/")) == 5
    assert [s["name"] for s in api.all_pages("/API/files/v1/storages/", method="B2")] == [
        "s1",
        "s3",
    ]
    assert [s["name"] for s in api.all_pages("/API/files/v1/storages/", name="s4")] == ["s4"]
    jobs_page = api.get("/API/jobs/v1/jobs/").json()
    assert jobs_page["pages"] == 2 and "page=2" in jobs_page["next_url"]
    assert len(api.all_pages("/API/jobs/v1/jobs/")) == 5


def test_saved_search_results_page(sandbox: Sandbox, api) -> None:
    assets = [sandbox.state.add_asset(f"a{n}")["id"] for n in range(5)]
    search = sandbox.state.add_saved_search("five", assets)
    first = api.get(f"/API/search/v1/search/saved/{search['id']}/").json()
    assert first["id"] == search["id"] and first["name"] == "five"
    assert first["search_criteria_document"]["name"] == "five"
    assert first["total"] == 5 and first["pages"] == 2
    results = api.all_pages(f"/API/search/v1/search/saved/{search['id']}/")
    assert [r["id"] for r in results] == assets
    assert {r["object_type"] for r in results} == {"assets"}
