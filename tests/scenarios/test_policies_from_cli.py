"""A policy made by ``b2-iconik-actions policy create``, run by the sandbox's Automation engine
against the real plugin: the contract between the CLI and the plugin, end to end.

The CLI (in-process) registers the ordinary actions and the policy in the sandbox; a reviewer
approves assets; the engine calls the policy's own URL with the headers the CLI set; the plugin
gathers the requests and removes exactly the approved assets from LucidLink.
"""

from __future__ import annotations

from typing import Any

import pytest

from b2_iconik.custom_actions import main
from iconik_sandbox import Sandbox
from tests.scenarios.actions import on_storage, plugin_jobs, seed, wait_for_job
from tests.scenarios.servers import SECRET, WAIT_SECONDS

pytestmark = pytest.mark.e2e

SLUG = "remove-when-approved"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the tool; its output, after checking it succeeded and printed no secret."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert status == 0, err
    assert SECRET not in out + err
    return out


def test_a_policy_created_by_the_cli_removes_what_a_reviewer_approves(
    sbx: Sandbox,
    app_server: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name, value in (("ICONIK_URL", sbx.url), ("ICONIK_ID", sbx.app_id),
                        ("ICONIK_TOKEN", sbx.token), ("BZ_SHARED_SECRET", SECRET)):
        monkeypatch.setenv(name, value)
    ids = seed(sbx, assets=6, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    endpoint = app_server["url"]
    cli(capsys, "create", endpoint, "--b2-storage", ids.b2_storage_id,
        "--ll-storage", ids.ll_storage_id)
    out = cli(capsys, "policy", "create", endpoint, SLUG, "--activate")
    assert "status: INACTIVE -> ACTIVE" in out

    approved = ids.asset_ids[:3]
    for asset in approved:
        sbx.set_approval(asset, "APPROVED")
    deliveries = sbx.wait_for_deliveries(timeout=30)
    assert {d["status"] for d in deliveries} == {200}, deliveries[:3]
    assert {d["url"].split("?")[0] for d in deliveries} == {f"{endpoint}/policies/{SLUG}/remove"}
    for job in [j for j in plugin_jobs(sbx) if not j.get("parent_id")]:
        ended = wait_for_job(sbx, job["id"], timeout=WAIT_SECONDS + 40)
        assert ended["status"] == "FINISHED", ended["message"]
        assert f"(automation: {SLUG}" in ended["title"]
    left = [a for a in ids.asset_ids if on_storage(sbx, a, ids.ll_storage_id)]
    assert left == ids.asset_ids[3:]

    assert "1 policy(ies), 1 active" in cli(capsys, "policy", "list", endpoint)
    cli(capsys, "policy", "delete", endpoint, "--all")
    assert sbx.automations.all() == []
