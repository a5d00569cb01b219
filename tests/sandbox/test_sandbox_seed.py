"""Seeding a catalogue, the admin API, and the command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import requests

from iconik_sandbox import Catalogue, Sandbox

ROOT = Path(__file__).resolve().parents[2]


def test_seed_counts_and_categories(sandbox: Sandbox) -> None:
    result = sandbox.seed(Catalogue(assets=50, formats=("ORIGINAL", "PPRO_PROXY"), seed=7))
    state = sandbox.state
    assert len(result.asset_ids) == 50 == len(state.assets)
    assert len(result.collection_ids) == 1 + 2 + 4 + 8 == len(state.collections)
    categories = [
        result.on_both,
        result.only_b2,
        result.only_ll,
        result.b2_missing,
        result.b2_wrong_size,
        result.b2_bad_status,
    ]
    assert sum(len(c) for c in categories) == 50
    assert (len(result.b2_missing), len(result.b2_wrong_size), len(result.b2_bad_status)) == (
        2,
        1,
        1,
    )
    assert len(result.duplicated) == 5
    for asset in result.duplicated:
        assert len(state.collections_of(asset)) == 2
    assert {s["method"] for s in state.storages.values()} == {"B2", "FILE"}
    for asset in result.on_ll:
        assert len(state.file_sets_of(asset, result.ll_storage_id)) == 2
    for asset in result.only_ll:
        assert state.file_sets_of(asset, result.b2_storage_id) == []
    [missing] = state.file_sets_of(
        result.b2_missing[0], result.b2_storage_id, format_name="ORIGINAL"
    )
    assert {f["status"] for f in state.files_of(file_set_id=missing["id"])} == {"MISSING"}
    [wrong] = state.file_sets_of(
        result.b2_wrong_size[0], result.b2_storage_id, format_name="ORIGINAL"
    )
    [ll] = state.file_sets_of(result.b2_wrong_size[0], result.ll_storage_id, format_name="ORIGINAL")
    sizes = [state.files_of(file_set_id=fs["id"])[0]["size"] for fs in (wrong, ll)]
    assert sizes[0] == sizes[1] + 1
    [bad] = state.file_sets_of(
        result.b2_bad_status[0], result.b2_storage_id, format_name="ORIGINAL"
    )
    assert {f["status"] for f in state.files_of(file_set_id=bad["id"])} <= {"GROWING", "FAILED"}
    assert set(result.unsafe) | set(result.on_both) == set(result.on_ll)
    assert result.to_dict()["root_collection_id"] == result.root_collection_id


def test_seed_is_repeatable_and_reuses_storages() -> None:
    with Sandbox() as first, Sandbox() as second:
        a = first.seed(Catalogue(assets=10, seed=3))
        b = second.seed(Catalogue(assets=10, seed=3))
        assert a == b
        again = first.seed(Catalogue(assets=10, seed=4))
        assert again.b2_storage_id == a.b2_storage_id and len(first.state.storages) == 2
        assert len(first.state.assets) == 20


def test_admin_api(sandbox: Sandbox, api) -> None:
    admin = sandbox.url + "/_sandbox"
    seeded = requests.post(admin + "/seed", json={"assets": 5, "collections_depth": 1}, timeout=5)
    assert seeded.status_code == 201 and len(seeded.json()["asset_ids"]) == 5
    assert requests.post(admin + "/seed", json={"nope": 1}, timeout=5).status_code == 400
    state = requests.get(admin + "/state", timeout=5).json()
    assert len(state["assets"]) == 5 and len(state["storages"]) == 2
    faults = requests.post(admin + "/faults", json={"latency": 0.01, "error_rate": 0.0}, timeout=5)
    assert faults.json()["latency"] == 0.01
    assert requests.post(admin + "/faults", json={"bogus": 1}, timeout=5).status_code == 400
    requests.post(
        admin + "/faults",
        json={
            "clear": True,
            "fail_next": [{"method": "GET", "path_regex": "/storages/", "status": 502}],
        },
        timeout=5,
    )
    assert api.get("/API/files/v1/storages/").status_code == 502
    log = requests.get(admin + "/requests", timeout=5).json()
    assert log["total"] == 1 and log["objects"][0]["status"] == 502
    assert requests.post(admin + "/reset", timeout=5).status_code == 204
    assert requests.get(admin + "/state", timeout=5).json()["assets"] == []
    assert sandbox.requests.count() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_command_line_starts_seeds_and_stops(poll) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iconik_sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--seed",
            "demo",
            "--token",
            "tok",
            "--app-id",
            "app",
            "--quiet",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def up() -> bool:
            try:
                return requests.get(
                    f"http://127.0.0.1:{port}/API/files/v1/storages/",
                    headers={"App-ID": "app", "Auth-Token": "tok"},
                    timeout=5,
                ).ok
            except (requests.ConnectionError, requests.Timeout):  # still starting (or slow)
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                return False

        poll(up, timeout=60)
        storages = requests.get(
            f"http://127.0.0.1:{port}/API/files/v1/storages/",
            headers={"App-ID": "app", "Auth-Token": "tok"},
            timeout=5,
        ).json()
        assert storages["total"] == 2
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert f"ICONIK_URL=http://127.0.0.1:{port}" in out
    assert "B2_STORAGE_ID=" in out and "ROOT_COLLECTION_ID=" in out and "AUTH_TOKEN=tok" in out
