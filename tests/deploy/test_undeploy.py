"""``make undeploy``: asks first, removes everything but the secrets unless asked, dry run."""

from __future__ import annotations

import io
import re

import pytest

from deploy.cli import main
from deploy.settings import (
    APP_TOKEN_NAME,
    SECRET_NAME,
    TASK_KEY_NAME,
)
from tests.deploy.helpers import (
    ACCOUNT,
    Cloud,
    plugin_actions,
    run,
)


def test_undeploy_asks_first_and_no_means_nothing_is_removed(cloud: Cloud) -> None:
    assert run(cloud, "deploy")[0] == 0
    cloud.forget()
    for answer in ("no", ""):
        status, out, _ = run(cloud, "undeploy", answer=answer)
        assert status == 1 and "Nothing was removed" in out
    assert cloud.changes() == []
    assert len(plugin_actions(cloud)) == 8


def test_undeploy_removes_everything_but_the_secrets_and_twice_is_safe(cloud: Cloud) -> None:
    assert run(cloud, "deploy")[0] == 0
    secrets = cloud.world()["secrets"]
    cloud.forget()
    status, out, err = run(cloud, "undeploy", answer="yes")
    assert status == 0, err
    assert cloud.changes() == [
        "functions delete iconik-handler",
        "tasks queues delete b2-iconik",
        f"secrets remove-iam-policy-binding {SECRET_NAME}",
        f"secrets remove-iam-policy-binding {TASK_KEY_NAME}",
        f"iam service-accounts delete {ACCOUNT}",
    ]
    world = cloud.world()
    assert not world["functions"] and not world["queues"] and not world["accounts"]
    for name in (SECRET_NAME, TASK_KEY_NAME):
        assert world["secrets"][name]["policy"]["bindings"][0]["members"] == []
        assert world["secrets"][name]["versions"] == secrets[name]["versions"]
        assert re.search(rf"secret {name}\s+kept \(--delete-secret deletes it\)", out)
    assert plugin_actions(cloud) == []

    cloud.forget()
    status, out, _ = run(cloud, "undeploy", "--yes")
    assert status == 0 and cloud.changes() == []
    for name in (SECRET_NAME, TASK_KEY_NAME):
        assert re.search(rf"secretAccessor on {name}\s+absent", out)

    cloud.forget()
    status, out, _ = run(cloud, "undeploy", "--yes", "--delete-secret")
    assert status == 0
    assert cloud.changes() == [f"secrets delete {SECRET_NAME}", f"secrets delete {TASK_KEY_NAME}"]
    assert re.search(r"function iconik-handler\s+absent", out)
    assert cloud.world()["secrets"] == {}


def test_undeploy_with_delete_secret_deletes_both_secrets(cloud: Cloud) -> None:
    assert run(cloud, "deploy", "--skip-actions")[0] == 0
    cloud.forget()
    prompts: list[str] = []

    def ask(question: str) -> str:
        prompts.append(question)
        return "yes"

    out, err = io.StringIO(), io.StringIO()
    argv = ["undeploy", "--env-file", str(cloud.env_yaml), "--skip-actions", "--delete-secret"]
    status = main(argv, out, err, ask)
    assert status == 0, err.getvalue()
    assert f"the secrets {SECRET_NAME}, {TASK_KEY_NAME} and {APP_TOKEN_NAME}." in prompts[0]
    assert cloud.changes() == [
        "functions delete iconik-handler",
        "tasks queues delete b2-iconik",
        f"iam service-accounts delete {ACCOUNT}",
        f"secrets delete {SECRET_NAME}",
        f"secrets delete {TASK_KEY_NAME}",
    ]
    assert cloud.world()["secrets"] == {}
    for name in (SECRET_NAME, TASK_KEY_NAME):
        assert re.search(rf"secret {name}\s+deleted", out.getvalue())
    assert re.search(rf"secret {APP_TOKEN_NAME}\s+absent", out.getvalue())


def test_undeploy_help_names_every_secret(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["undeploy", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    names = f"{SECRET_NAME}, {TASK_KEY_NAME} and {APP_TOKEN_NAME}"
    assert f"delete the secrets {names} too (all kept by default)" in shown


def test_undeploy_dry_run_calls_nothing(cloud: Cloud) -> None:
    assert run(cloud, "deploy", "--skip-actions")[0] == 0
    cloud.forget()
    status, out, _ = run(cloud, "undeploy", "--dry-run", "--delete-secret")
    assert status == 0 and cloud.calls() == []
    for command in (
        "functions delete",
        "tasks queues delete",
        "iam service-accounts delete",
        f"secrets delete {SECRET_NAME}",
        f"secrets delete {TASK_KEY_NAME}",
        "b2_iconik.custom_actions delete",
    ):
        assert command in out
    status, out, _ = run(cloud, "undeploy", "--dry-run")
    assert status == 0 and cloud.calls() == []
    for name in (SECRET_NAME, TASK_KEY_NAME):
        assert f"secrets remove-iam-policy-binding {name}" in out
        assert f"secrets delete {name}" not in out
