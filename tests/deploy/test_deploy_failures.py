"""``make deploy`` failures: each one sentence saying what was made, and missing inputs stopped."""

from __future__ import annotations

import re
from typing import Any

import pytest

from deploy.settings import SECRET_NAME
from tests.deploy.helpers import (
    ACCOUNT,
    PROJECT,
    REGION,
    Cloud,
    run,
)


def fails(command: str, stderr: str) -> dict[str, Any]:
    """A world change: the next `command` fails with gcloud's `stderr`."""
    return {"failures": [{"command": command, "stderr": f"ERROR: (gcloud.x) {stderr}\n"}]}


NO_BILLING = (
    "FAILED_PRECONDITION: Billing account for project '123' is not found. Billing must be "
    "enabled for activation of service(s) 'cloudbuild.googleapis.com' to proceed."
)
API_REFUSED = "PERMISSION_DENIED: Permission denied to enable service [cloudtasks.googleapis.com]"
NO_QUEUE_RIGHT = (
    "PERMISSION_DENIED: Permission 'cloudtasks.queues.create' denied on resource "
    "'projects/my-project/locations/europe-west1/queues/b2-iconik' (or it may not exist)."
)
FAILURES = [
    ("not logged in", {"account": None}, "gcloud is not logged in", "gcloud auth login"),
    ("unknown project", {"projects": {}}, "project my-project does not exist", "GOOGLE_CLOUD"),
    (
        "no billing",
        fails("services enable", NO_BILLING),
        "billing is not enabled for project my-project",
        "link a billing account",
    ),
    (
        "API refused",
        fails("services enable", API_REFUSED),
        "may not enable the APIs",
        "ask a project owner",
    ),
    (
        "missing permission",
        fails("tasks queues create", NO_QUEUE_RIGHT),
        "may not create the queue b2-iconik in project my-project (it needs "
        "cloudtasks.queues.create)",
        "ask a project owner",
    ),
    (
        "queue name taken",
        {"recently_deleted_queues": ["b2-iconik"]},
        "keeps a deleted queue's name",
        "--queue",
    ),
]


@pytest.mark.parametrize(
    ("case", "world_change", "what", "advice"), FAILURES, ids=[f[0] for f in FAILURES]
)
def test_each_failure_is_one_sentence_and_reports_what_was_made(
    cloud: Cloud, case: str, world_change: dict[str, Any], what: str, advice: str
) -> None:
    cloud.change(**world_change)
    status, out, err = run(cloud, "deploy", "--skip-actions")
    assert status == 1
    assert err.count("\n") == 1 and err.startswith("make deploy: error: ")
    assert what in err and advice in err and "Traceback" not in err + out
    assert err.rstrip().endswith("then make deploy again.")
    done = out.split("Done before it stopped:")[1]
    if case in ("missing permission", "queue name taken"):
        assert "service account b2-iconik" in done and "created" in done
        assert f"secret {SECRET_NAME}" in done
    else:
        assert "created" not in done


def test_bindings_wait_for_a_new_service_account_to_propagate(cloud: Cloud) -> None:
    not_yet = f"INVALID_ARGUMENT: Service account {ACCOUNT} does not exist."
    change = fails(f"secrets add-iam-policy-binding {SECRET_NAME}", not_yet)
    change["failures"][0]["times"] = 2
    cloud.change(**change)
    status, _, err = run(cloud, "deploy", "--skip-actions")
    assert status == 0, err
    assert cloud.commands().count(f"secrets add-iam-policy-binding {SECRET_NAME}") == 3


def test_missing_inputs_stop_before_gcloud(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud.write_env(ICONIK_ID="x", DEPLOY_REGION=REGION)
    status, _, err = run(cloud, "deploy")
    assert status == 2 and "no project" in err and "--project" in err
    status, _, err = run(cloud, "deploy", "--project", "UPPER")
    assert status == 2 and "project 'UPPER' is not valid" in err
    cloud.env_yaml.write_text("ICONIK_ID: 5\n")
    status, _, err = run(cloud, "deploy", "--project", PROJECT, "--region", REGION)
    assert status == 2 and "must be a quoted string" in err
    cloud.write_env(ICONIK_ID="x", GOOGLE_CLOUD_PROJECT=PROJECT, DEPLOY_REGION=REGION)
    monkeypatch.delenv("ICONIK_TOKEN")
    status, _, err = run(cloud, "deploy")
    assert status == 2 and "ICONIK_TOKEN is not set" in err
    assert all(e.count("\n") == 1 for e in (err,))
    assert cloud.calls() == []


def test_without_gcloud_the_dry_run_works_and_a_run_says_what_to_install(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert run(cloud, "deploy", "--dry-run")[0] == 0
    status, _, err = run(cloud, "deploy")
    assert status == 1 and "gcloud is not installed" in err and err.count("\n") == 1


def test_a_failed_registration_is_one_line_without_secrets(cloud: Cloud) -> None:
    status, out, err = run(cloud, "deploy", "--b2-storage", "not-a-uuid")
    assert status == 1
    assert err.count("\n") == 1 and "not a storage id" in err
    assert re.search(r"function iconik-handler\s+created", out.split("Done before")[1])


def test_the_url_is_read_back_when_it_is_not_the_predicted_one(cloud: Cloud) -> None:
    cloud.change(url_format="https://{name}-xyz-{region}.a.run.app")
    status, _, _ = run(cloud, "deploy", "--skip-actions")
    assert status == 0
    assert cloud.commands().count("functions deploy iconik-handler") == 2
    env = cloud.calls()[-1]["env_file"]["content"]
    assert "TASKS_URL: https://iconik-handler-xyz-europe-west1.a.run.app" in env
    cloud.forget()
    assert run(cloud, "deploy", "--skip-actions")[0] == 0
    assert cloud.changes() == []
