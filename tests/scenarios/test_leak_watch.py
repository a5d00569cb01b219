"""The session's leak watch sees the end-to-end runs: their secrets, logs and answers."""

from __future__ import annotations

import pytest

from iconik_sandbox import Sandbox
from tests import leaks
from tests.scenarios.actions import click, seed, wait_for_job
from tests.scenarios.servers import SECRET

pytestmark = pytest.mark.e2e


def test_the_watch_knows_the_secrets_and_the_server_logs(sb: Sandbox, plugin_server: dict
                                                         ) -> None:
    ids = seed(sb, assets=1, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0)
    answer = click(plugin_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token)
    wait_for_job(sb, answer.json()["job_id"])
    watch = leaks.WATCH
    assert {SECRET, sb.token} <= watch.secrets
    assert plugin_server["log"] in watch.files
    assert any(answer.text == text for _, text in watch.texts)
    # The plugin wrote its log with the token in hand; the scan would have found it there.
    planted = leaks.LeakWatch(secrets={sb.token})
    planted.log_file(plugin_server["log"])
    planted.record("a planted leak", f"Auth-Token: {sb.token}")
    assert [f.origin for f in planted.findings()] == ["a planted leak"]
