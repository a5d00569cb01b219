"""``make deploy``'s secrets: never on a command line, the task key kept, the shared one rotated."""

from __future__ import annotations

import json
import re

import pytest

from deploy.settings import (
    SECRET_NAME,
    TASK_KEY_NAME,
)
from tests.deploy.helpers import (
    Cloud,
    plugin_actions,
    run,
)


def test_the_secrets_are_never_on_a_command_line_or_in_a_file(cloud: Cloud) -> None:
    cloud.env_yaml.write_text(cloud.env_yaml.read_text() + f'TASKS_TOKEN_KEY: "{"cd" * 32}"\n')
    assert run(cloud, "deploy")[0] == 0
    assert run(cloud, "deploy", "--rotate-secret")[0] == 0
    assert run(cloud, "undeploy", "--yes")[0] == 0
    values = cloud.secrets()
    assert len(values) == 2
    (key,) = cloud.task_keys()
    log = cloud.log.read_text()
    for value in [*values, key, "cd" * 32]:
        assert value not in log
    stdin_calls = [c["argv"][:3] for c in cloud.calls() if c["stdin"]]
    assert stdin_calls == [
        ["secrets", "create", SECRET_NAME],
        ["secrets", "create", TASK_KEY_NAME],
        ["secrets", "versions", "add"],
    ]
    assert all("--data-file=-" in c["argv"] for c in cloud.calls() if c["stdin"])


def test_the_task_key_is_made_once_never_rotated_and_never_shown(cloud: Cloud) -> None:
    assert run(cloud, "deploy")[0] == 0
    (key,) = cloud.task_keys()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key not in cloud.secrets()
    for extra in ((), ("--rotate-secret",), ("--redeploy",)):
        cloud.forget()
        status, out, err = run(cloud, "deploy", *extra)
        assert status == 0, err
        assert not [c for c in cloud.changes() if TASK_KEY_NAME in c]
        assert re.search(rf"secret {TASK_KEY_NAME}\s+unchanged \(kept: never rotated", out)
        # An existing key is read once, to check its shape, and never shown.
        reads = [c for c in cloud.calls() if f"--secret={TASK_KEY_NAME}" in c["argv"]]
        assert [c["argv"][:4] for c in reads] == [["secrets", "versions", "access", "latest"]]
    assert cloud.task_keys() == [key]
    assert key not in cloud.log.read_text()


@pytest.mark.parametrize(
    "value",
    ["a-passphrase-not-a-key", "ab" * 31, "ab" * 33, "zz" * 32],
    ids=["text", "short", "long", "not-hex"],
)
def test_a_task_key_the_plugin_cannot_use_stops_the_deploy(cloud: Cloud, value: str) -> None:
    assert run(cloud, "deploy", "--skip-actions")[0] == 0
    world = cloud.world()
    world["secrets"][TASK_KEY_NAME]["versions"] = [{"state": "ENABLED", "data": value}]
    cloud.state.write_text(json.dumps(world))
    cloud.forget()
    status, out, err = run(cloud, "deploy", "--skip-actions")
    assert status == 1
    assert err.count("\n") == 1 and "Traceback" not in err + out
    assert f"the secret {TASK_KEY_NAME} has no enabled version of 64 hex characters" in err
    assert err.rstrip().endswith("then make deploy again.")
    assert value not in err + out
    assert cloud.changes() == []


def test_a_task_key_made_by_hand_with_a_newline_is_accepted(cloud: Cloud) -> None:
    key = "0f" * 32
    world = cloud.world()
    world["secrets"][TASK_KEY_NAME] = {
        "versions": [{"state": "ENABLED", "data": key + "\n"}],
        "policy": {},
    }
    cloud.state.write_text(json.dumps(world))
    status, out, err = run(cloud, "deploy", "--skip-actions")
    assert status == 0, err
    assert f"secrets create {TASK_KEY_NAME}" not in cloud.changes()
    assert f"secrets add-iam-policy-binding {TASK_KEY_NAME}" in cloud.changes()
    assert key not in out + cloud.log.read_text()



def test_rotate_secret_follows_the_documented_order(cloud: Cloud) -> None:
    assert run(cloud, "deploy")[0] == 0
    old = cloud.secrets()[0]
    cloud.forget()
    status, out, err = run(cloud, "deploy", "--rotate-secret")
    assert status == 0, err
    assert cloud.changes() == [
        f"secrets versions add {SECRET_NAME}",
        "functions deploy iconik-handler",
        "secrets versions disable 1",
    ]
    order = [
        f"{words} {SECRET_NAME}" if f"--secret={SECRET_NAME}" in call["argv"] else words
        for words, call in zip(cloud.commands(), cloud.calls(), strict=True)
    ]
    assert (
        order.index("functions deploy iconik-handler")
        < order.index(f"secrets versions access latest {SECRET_NAME}")
        < order.index(f"secrets versions disable 1 {SECRET_NAME}")
    )
    lines = [
        r"secret bz-shared-secret\s+rotated",
        r"function iconik-handler\s+updated",
        r"iconik custom actions \(8\)\s+8 updated",
        r"secret bz-shared-secret version 1\s+disabled",
    ]
    positions = [re.search(rf"^  {line}", out, re.M).start() for line in lines]  # type: ignore[union-attr]
    assert positions == sorted(positions)
    new = cloud.secrets()[1]
    assert new != old
    assert all(a["headers"] == {"x-bz-secret": new} for a in plugin_actions(cloud))
    versions = cloud.world()["secrets"][SECRET_NAME]["versions"]
    assert [v["state"] for v in versions] == ["DISABLED", "ENABLED"]
    assert len(cloud.task_keys()) == 1


def test_dry_run_rotation_shows_every_step(cloud: Cloud) -> None:
    status, out, _ = run(cloud, "deploy", "--dry-run", "--rotate-secret")
    assert status == 0 and cloud.calls() == []
    steps = [
        "gcloud secrets versions add",
        "gcloud functions deploy",
        "-m b2_iconik.custom_actions create",
        "gcloud secrets versions disable OLD",
    ]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions)
