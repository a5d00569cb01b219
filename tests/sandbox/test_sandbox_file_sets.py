"""File sets: read, delete (recycle bin), purge, immediately=true, and their 404s/400s."""

from __future__ import annotations

from iconik_sandbox import Sandbox

UNKNOWN = "0b0c0d0e-0000-4000-8000-000000000000"


def _one(sandbox: Sandbox) -> tuple[str, str, str]:
    ll = sandbox.state.add_storage("LL", "FILE")
    asset = sandbox.state.add_asset("a")
    fs = sandbox.state.add_file_set(asset["id"], "ORIGINAL", ll["id"], files=[{"size": 7}])
    return asset["id"], fs["id"], ll["id"]


def test_read_file_set_format_and_files(sandbox: Sandbox, api) -> None:
    asset, fs_id, ll = _one(sandbox)
    fs = api.get(f"/API/files/v1/assets/{asset}/file_sets/{fs_id}/").json()
    assert (fs["status"], fs["storage_id"], fs["asset_id"]) == ("ACTIVE", ll, asset)
    fmt = api.get(f"/API/files/v1/assets/{asset}/formats/ORIGINAL/").json()
    assert fmt["id"] == fs["format_id"] and fmt["status"] == "ACTIVE"
    assert (
        api.get(f"/API/files/v1/assets/{asset}/formats/{fmt['id']}/").json()["name"] == "ORIGINAL"
    )
    assert api.get(f"/API/files/v1/assets/{asset}/formats/PPRO_PROXY/").status_code == 404
    listed = api.get(
        f"/API/files/v1/assets/{asset}/formats/{fmt['id']}/storages/{ll}/file_sets/"
    ).json()
    assert [x["id"] for x in listed["objects"]] == [fs_id]
    [f] = api.get(f"/API/files/v1/assets/{asset}/files/").json()["objects"]
    assert (f["status"], f["size"], f["file_set_status"], f["storage_method"]) == (
        "CLOSED",
        7,
        "ACTIVE",
        "FILE",
    )
    assert f["type"] == "FILE" and f["file_set_id"] == fs_id


def test_delete_marks_deleted_then_purge_removes(sandbox: Sandbox, api) -> None:
    asset, fs_id, _ = _one(sandbox)
    path = f"/API/files/v1/assets/{asset}/file_sets/{fs_id}/"
    deleted = api.delete(path)
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "DELETED"
    assert {f["status"] for f in sandbox.state.files_of(file_set_id=fs_id)} == {"DELETED"}
    assert api.get(path).json()["status"] == "DELETED"
    assert api.get(f"/API/files/v1/assets/{asset}/file_sets/").json()["objects"] == []
    assert api.delete(path).status_code == 200  # still in the recycle bin: same answer
    assert api.delete(path + "purge/").status_code == 204
    assert fs_id not in sandbox.state.file_sets
    assert sandbox.state.files_of(file_set_id=fs_id) == []
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404
    assert api.delete(path + "purge/").status_code == 404


def test_delete_immediately_removes_at_once(sandbox: Sandbox, api) -> None:
    asset, fs_id, _ = _one(sandbox)
    response = api.delete(
        f"/API/files/v1/assets/{asset}/file_sets/{fs_id}/", params={"immediately": "true"}
    )
    assert response.status_code == 204 and response.content == b""
    assert fs_id not in sandbox.state.file_sets


def test_purge_of_an_active_file_set_is_400(sandbox: Sandbox, api) -> None:
    asset, fs_id, _ = _one(sandbox)
    response = api.delete(f"/API/files/v1/assets/{asset}/file_sets/{fs_id}/purge/")
    assert response.status_code == 400 and response.json()["errors"]
    assert sandbox.state.file_sets[fs_id]["status"] == "ACTIVE"


def test_file_set_of_another_asset_is_404(sandbox: Sandbox, api) -> None:
    _, fs_id, _ = _one(sandbox)
    other = sandbox.state.add_asset("b")["id"]
    assert api.get(f"/API/files/v1/assets/{other}/file_sets/{fs_id}/").status_code == 404
    assert api.delete(f"/API/files/v1/assets/{other}/file_sets/{fs_id}/").status_code == 404
    assert api.get(f"/API/files/v1/assets/{UNKNOWN}/files/").status_code == 404


def test_empty_lists_can_answer_404_like_the_spec() -> None:
    import requests

    with Sandbox(empty_lists_404=True) as sb:
        asset = sb.state.add_asset("bare")["id"]
        url = f"{sb.url}/API/files/v1/assets/{asset}/file_sets/"
        response = requests.get(url, headers=sb.headers, timeout=5)
        assert response.status_code == 404
        assert response.json() == {"errors": ["FileSets for this asset don't exist"]}
