"""The safety oracle can fail: a delete without a verified B2 copy is caught, whoever does it."""

from __future__ import annotations

import io
import json

import requests

from b2_iconik.app import build_plugin
from b2_iconik.base.config import Settings
from b2_iconik.edge.http import Request
from b2_iconik.rules import remove
from b2_iconik.rules.verification import AssetCheck, FileSetCheck, Verdict
from tests.scenarios.actions import on_storage, seed, wait_for_job


def test_oracle_catches_a_direct_unverified_delete(sb):
    ids = seed(sb, assets=3, on_ll=1.0, b2_missing=0, b2_wrong_size=1, b2_bad_status=0)
    asset = ids.b2_wrong_size[0]
    (ll_set,) = on_storage(sb, asset, ids.ll_storage_id)
    url = f"{sb.url}/API/files/v1/assets/{asset}/file_sets/{ll_set['id']}/"
    assert requests.delete(url, headers=sb.headers, timeout=5).status_code == 200
    assert len(sb.oracle.violations) == 1
    sb.oracle.violations.clear()


def test_oracle_catches_the_plugin_if_its_rule_is_broken(sb, monkeypatch):
    """With the rule replaced by "everything verifies", Remove would lose masters: caught."""
    ids = seed(sb, assets=4, on_ll=1.0, b2_missing=1, b2_wrong_size=1, b2_bad_status=0)

    def reckless(asset_id, formats, b2, ll, fmts, file_sets, files):
        return AssetCheck(asset_id, tuple(
            FileSetCheck("ORIGINAL", fs["id"], Verdict.VERIFIED)
            for fs in file_sets if fs["storage_id"] == ll and fs["status"] == "ACTIVE"))

    monkeypatch.setattr(remove, "check_asset", reckless)
    settings = Settings(iconik_id=sb.app_id, iconik_url=sb.url, shared_secret="s",
                        remove_wait_seconds=1, remove_recheck_seconds=0.1)
    plugin = build_plugin(settings, configure_logging=False)
    body = json.dumps({"context": "BULK", "asset_ids": ids.asset_ids,
                       "auth_token": sb.token}).encode()
    answer = plugin.handle(Request(
        "POST", "/remove", {"x-bz-secret": "s"},
        {"b2_storage_id": ids.b2_storage_id, "ll_storage_id": ids.ll_storage_id},
        io.BytesIO(body).read, len(body)))
    wait_for_job(sb, answer.body["job_id"])
    plugin.runner.shutdown()
    assert len(sb.oracle.violations) >= 2  # the missing and the wrong-size masters
    sb.oracle.violations.clear()
