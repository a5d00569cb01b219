"""``audit --free-safe`` end to end: the audit starts an ordinary Remove through the plugin's own
endpoint (the registered action's URL and secret), and the Remove, not the audit, decides each
delete. B2 copies that go bad between the audit and the Remove stay on LucidLink, and the safety
oracle (see conftest) sees no unverified delete."""

from __future__ import annotations

import json

import pytest

from b2_iconik.audit.report import AuditClass
from b2_iconik.custom_actions import audit as audit_cli
from b2_iconik.custom_actions import cli
from tests import leaks
from tests.scenarios.actions import on_storage, seed, wait_for_job
from tests.scenarios.servers import SECRET

pytestmark = pytest.mark.e2e


@pytest.fixture
def operator(sb, monkeypatch, tmp_path):
    """The operator's environment: the sandbox's application token, no .env around."""
    monkeypatch.chdir(tmp_path)
    for name in ("B2_STORAGE_ID", "LL_STORAGE_ID", "FORMAT_NAMES", "BZ_SHARED_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ICONIK_URL", sb.url)
    monkeypatch.setenv("ICONIK_ID", sb.app_id)
    monkeypatch.setenv("ICONIK_TOKEN", sb.token)
    return monkeypatch


def _register(operator, plugin_server, ids, capsys) -> None:
    operator.setenv("BZ_SHARED_SECRET", SECRET)
    status = cli.main(
        ["create", plugin_server["url"], "--b2-storage", ids.b2_storage_id,
         "--ll-storage", ids.ll_storage_id]
    )
    capsys.readouterr()
    assert status == 0
    operator.delenv("BZ_SHARED_SECRET")  # --free-safe finds it on the registered action


def test_free_safe_reverifies_and_keeps_copies_gone_bad(sb, plugin_server, operator, capsys):
    ids = seed(sb, assets=24, on_ll=0.7, duplicates=0)
    _register(operator, plugin_server, ids, capsys)
    spoiled: list[str] = []
    real = audit_cli.run_audit

    def audit_then_spoil(*args, **kwargs):
        report = real(*args, **kwargs)
        safe = report.assets_of(AuditClass.SAFE_TO_FREE)
        grown, missing = [a for a in safe if a in ids.on_both][:2]
        for f in sb.state.files_of(asset_id=grown, storage_id=ids.b2_storage_id):
            f["size"] += 1  # the B2 copy now differs
        for f in sb.state.files_of(asset_id=missing, storage_id=ids.b2_storage_id):
            sb.state.set_file_status(f["id"], "MISSING")
        spoiled.extend((grown, missing))
        return report

    operator.setattr(audit_cli, "run_audit", audit_then_spoil)
    status = cli.main(
        ["audit", "--b2-storage", ids.b2_storage_id, "--ll-storage", ids.ll_storage_id,
         "--free-safe", "--json"]
    )
    out, err = capsys.readouterr()
    leaks.record("audit --free-safe", out + err)
    assert status == 0, err
    document = json.loads(out)
    freed = document["actions"]["free_safe"]
    assert freed["assets"] + freed["partly_safe_assets"] == document["safe_to_free"]["assets"]
    assert freed["assets"] > 2
    [job_id] = freed["job_ids"]
    job = wait_for_job(sb, job_id, timeout=60)
    assert job["title"].startswith("Remove")
    grown, missing = spoiled
    assert on_storage(sb, grown, ids.ll_storage_id)  # re-verified at deletion: it differs, kept
    if not on_storage(sb, missing, ids.ll_storage_id):
        # Remove asked for a new B2 copy of the MISSING one, and deleted only once it verified
        fresh = on_storage(sb, missing, ids.b2_storage_id)
        assert any(
            all(f["status"] == "CLOSED" for f in sb.state.files_of(file_set_id=fs["id"]))
            for fs in fresh
        )
    removed = [
        a for a in ids.on_both
        if a not in spoiled and not on_storage(sb, a, ids.ll_storage_id)
    ]
    assert len(removed) >= freed["assets"] - 2
    for asset in ids.unsafe:  # not all safe: never in the Remove
        assert on_storage(sb, asset, ids.ll_storage_id) or on_storage(
            sb, asset, ids.ll_storage_id, "PPRO_PROXY"
        )
    assert sb.oracle.violations == []


def test_free_safe_dry_run_starts_nothing(sb, plugin_server, operator, capsys):
    ids = seed(sb, assets=10, on_ll=1.0, duplicates=0)
    _register(operator, plugin_server, ids, capsys)
    status = cli.main(
        ["audit", "--b2-storage", ids.b2_storage_id, "--ll-storage", ids.ll_storage_id,
         "--free-safe", "--dry-run"]
    )
    out, _ = capsys.readouterr()
    assert status == 0
    assert f"would start Remove on {len(ids.on_both)} assets" in out
    assert f"through {plugin_server['url']}/remove" in out
    assert all(on_storage(sb, a, ids.ll_storage_id) for a in ids.on_ll)
    assert not [j for j in sb.state.jobs() if str(j.get("title", "")).startswith("Remove")]
