"""``make deploy --app-token``: the iconik application token as a secret the function may read."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest

from deploy.settings import (
    APP_TOKEN_NAME,
    SECRET_NAME,
    TASK_KEY_NAME,
)
from tests import leaks
from tests.deploy.helpers import (
    ACCOUNT,
    READS,
    Cloud,
    run,
)

SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
TOKEN_LINE = rf"^  secret {APP_TOKEN_NAME}\s+"


def hand_made(value: str) -> dict[str, Any]:
    """A secret as the fake keeps it, made by hand: one enabled version, no binding."""
    return {"versions": [{"state": "ENABLED", "data": value}], "policy": {}}


def test_without_app_token_the_secret_is_left_alone_and_the_report_says_so(cloud: Cloud) -> None:
    status, out, _ = run(cloud, "deploy")
    assert status == 0
    assert APP_TOKEN_NAME not in cloud.world()["secrets"]
    assert not [c for c in cloud.changes() if APP_TOKEN_NAME in c]
    assert re.search(
        TOKEN_LINE + r"absent \(policies' requests without a token are refused", out, re.M
    )
    # Made by hand, without the binding: still nothing changes, and the report says why.
    cloud.change(secrets={**cloud.world()["secrets"], APP_TOKEN_NAME: hand_made("by-hand-token")})
    cloud.forget()
    status, out, _ = run(cloud, "deploy")
    assert status == 0 and cloud.changes() == []
    assert re.search(
        TOKEN_LINE + r"unchanged \(the function may not read it, so policies'", out, re.M
    )
    assert cloud.secrets(APP_TOKEN_NAME) == ["by-hand-token"]


def test_app_token_creates_the_secret_and_lets_the_function_read_it(cloud: Cloud) -> None:
    assert run(cloud, "deploy")[0] == 0
    cloud.forget()
    status, out, err = run(cloud, "deploy", "--app-token")
    assert status == 0, err
    assert cloud.changes() == [
        f"secrets create {APP_TOKEN_NAME}",
        f"secrets add-iam-policy-binding {APP_TOKEN_NAME}",
    ]
    assert cloud.secrets(APP_TOKEN_NAME) == [cloud.iconik.token]
    assert cloud.world()["secrets"][APP_TOKEN_NAME]["policy"]["bindings"] == [
        {"role": SECRET_ACCESSOR, "members": [f"serviceAccount:{ACCOUNT}"]}
    ]
    assert re.search(
        TOKEN_LINE + r"created \(policies' requests without a token are served", out, re.M
    )
    assert re.search(rf"{SECRET_ACCESSOR} on {APP_TOKEN_NAME}\s+added", out)
    # The binding is on that secret alone: the other secrets' policies are as they were.
    for name in (SECRET_NAME, TASK_KEY_NAME):
        assert cloud.world()["secrets"][name]["policy"]["bindings"] == [
            {"role": SECRET_ACCESSOR, "members": [f"serviceAccount:{ACCOUNT}"]}
        ]
    create = next(
        c for c in cloud.calls() if c["argv"][:3] == ["secrets", "create", APP_TOKEN_NAME]
    )
    assert create["stdin"] and "--data-file=-" in create["argv"]


def test_app_token_again_changes_nothing_and_a_new_token_adds_a_version(cloud: Cloud) -> None:
    assert run(cloud, "deploy", "--app-token")[0] == 0
    cloud.forget()
    status, out, _ = run(cloud, "deploy", "--app-token")
    assert status == 0 and cloud.changes() == []
    assert re.search(TOKEN_LINE + r"unchanged \(holds this token", out, re.M)
    status, out, _ = run(cloud, "deploy")
    assert status == 0
    assert re.search(
        TOKEN_LINE + r"unchanged \(policies' requests without a token are served", out, re.M
    )
    # It held another token (an older one, or one with a newline made by hand): a new version,
    # and the function deployed again, since its instances read the secret once.
    world = cloud.world()
    world["secrets"][APP_TOKEN_NAME]["versions"] = [{"state": "ENABLED", "data": "old-token-1234"}]
    cloud.state.write_text(json.dumps(world))
    cloud.forget()
    status, out, _ = run(cloud, "deploy", "--app-token")
    assert status == 0
    assert cloud.changes() == [
        f"secrets versions add {APP_TOKEN_NAME}",
        "functions deploy iconik-handler",
    ]
    assert cloud.secrets(APP_TOKEN_NAME) == ["old-token-1234", cloud.iconik.token]
    assert re.search(TOKEN_LINE + r"updated \(new version", out, re.M)
    assert re.search(r"function iconik-handler\s+updated", out)
    cloud.forget()
    assert run(cloud, "deploy", "--app-token", "--skip-actions")[0] == 0
    assert cloud.changes() == []
    hand = cloud.iconik.token + "\n"
    world = cloud.world()
    world["secrets"][APP_TOKEN_NAME]["versions"] = [{"state": "ENABLED", "data": hand}]
    cloud.state.write_text(json.dumps(world))
    cloud.forget()
    assert run(cloud, "deploy", "--app-token", "--skip-actions")[0] == 0
    assert cloud.changes() == [], "the function drops the newline, as the comparison does"


def test_app_token_replaces_a_disabled_latest_version(cloud: Cloud) -> None:
    disabled = {"state": "DISABLED", "data": cloud.iconik.token}
    cloud.change(secrets={APP_TOKEN_NAME: {"versions": [disabled], "policy": {}}})
    status, _, err = run(cloud, "deploy", "--app-token", "--skip-actions")
    assert status == 0, err
    assert f"secrets versions add {APP_TOKEN_NAME}" in cloud.changes()
    versions = cloud.world()["secrets"][APP_TOKEN_NAME]["versions"]
    assert [v["state"] for v in versions] == ["DISABLED", "ENABLED"]


def test_app_token_is_never_on_a_command_line_or_in_any_output(cloud: Cloud) -> None:
    token = cloud.iconik.token
    leaks.secret(token)
    outputs = []
    for argv in (
        ("deploy", "--dry-run", "--app-token"),
        ("deploy", "--app-token"),
        ("deploy", "--app-token"),
        ("undeploy", "--yes", "--delete-secret"),
    ):
        status, out, err = run(cloud, *argv)
        assert status == 0, err
        outputs.append(out + err)
    assert token not in cloud.log.read_text()
    assert all(token not in text for text in outputs)
    assert all(token not in " ".join(c["argv"]) for c in cloud.calls())
    with_stdin = [c["argv"][:3] for c in cloud.calls() if c["stdin"]]
    assert ["secrets", "create", APP_TOKEN_NAME] in with_stdin


def test_app_token_dry_run_shows_it_as_stars_and_what_a_real_run_does(cloud: Cloud) -> None:
    status, out, _ = run(cloud, "deploy", "--dry-run", "--app-token")
    assert status == 0 and cloud.calls() == []
    assert re.search(
        rf"^would run: gcloud secrets create {APP_TOKEN_NAME} .*--data-file=- .*"
        r"# stdin: \*\*\*\* \(the iconik application token, never printed\)$",
        out,
        re.M,
    )
    assert re.search(TOKEN_LINE + r"would be created", out, re.M)
    assert re.search(rf"{SECRET_ACCESSOR} on {APP_TOKEN_NAME}\s+would be added", out)
    shown = [
        line.split("# ")[0].strip()
        for line in out.splitlines()
        if line.startswith("would run: gcloud secrets") and APP_TOKEN_NAME in line
    ]
    assert run(cloud, "deploy", "--app-token")[0] == 0
    ran = [
        "would run: " + shlex.join(["gcloud", *c["argv"]])
        for c in cloud.calls()
        if APP_TOKEN_NAME in " ".join(c["argv"]) and not READS.match(" ".join(c["argv"]))
    ]
    assert shown == ran and len(ran) == 2


def test_app_token_needs_a_token_before_any_command(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ICONIK_TOKEN")
    status, _, err = run(cloud, "deploy", "--app-token", "--skip-actions")
    assert status == 2 and err.count("\n") == 1
    assert f"--app-token stores ICONIK_TOKEN as the secret {APP_TOKEN_NAME}" in err
    assert cloud.calls() == []


def test_undeploy_keeps_the_app_token_unless_asked_like_the_other_secrets(cloud: Cloud) -> None:
    assert run(cloud, "deploy", "--app-token")[0] == 0
    cloud.forget()
    status, out, _ = run(cloud, "undeploy", "--yes")
    assert status == 0
    assert f"secrets remove-iam-policy-binding {APP_TOKEN_NAME}" in cloud.changes()
    assert cloud.secrets(APP_TOKEN_NAME) == [cloud.iconik.token]
    assert cloud.world()["secrets"][APP_TOKEN_NAME]["policy"]["bindings"][0]["members"] == []
    assert re.search(TOKEN_LINE + r"kept \(--delete-secret deletes it\)", out, re.M)
    cloud.forget()
    status, out, _ = run(cloud, "undeploy", "--yes", "--delete-secret")
    assert status == 0
    assert f"secrets delete {APP_TOKEN_NAME}" in cloud.changes()
    assert APP_TOKEN_NAME not in cloud.world()["secrets"]
    status, out, _ = run(cloud, "undeploy", "--yes")
    assert re.search(TOKEN_LINE + r"absent$", out, re.M)
