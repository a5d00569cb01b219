"""``make deploy`` runs: a fresh deploy in order, its settings, a second run, a dry run."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from deploy.settings import (
    APIS,
    APP_TOKEN_NAME,
    QUEUE_ROLES,
    SECRET_NAME,
    TASK_KEY_NAME,
)
from tests.deploy.helpers import (
    ACCOUNT,
    PROJECT,
    READS,
    REGION,
    URL,
    Cloud,
    plugin_actions,
    run,
)

FRESH = [
    "auth list",
    "projects describe my-project",
    "services list",
    "services enable " + " ".join(APIS),
    f"iam service-accounts describe {ACCOUNT}",
    "iam service-accounts create b2-iconik",
    f"secrets describe {SECRET_NAME}",
    f"secrets create {SECRET_NAME}",
    f"secrets get-iam-policy {SECRET_NAME}",
    f"secrets add-iam-policy-binding {SECRET_NAME}",
    f"secrets describe {TASK_KEY_NAME}",
    f"secrets create {TASK_KEY_NAME}",
    f"secrets get-iam-policy {TASK_KEY_NAME}",
    f"secrets add-iam-policy-binding {TASK_KEY_NAME}",
    f"secrets describe {APP_TOKEN_NAME}",
    "tasks queues describe b2-iconik",
    "tasks queues create b2-iconik",
    "tasks queues get-iam-policy b2-iconik",
    "tasks queues add-iam-policy-binding b2-iconik",
    "tasks queues get-iam-policy b2-iconik",
    "tasks queues add-iam-policy-binding b2-iconik",
    f"iam service-accounts get-iam-policy {ACCOUNT}",
    f"iam service-accounts add-iam-policy-binding {ACCOUNT}",
    "functions describe iconik-handler",
    "functions deploy iconik-handler",
    "functions describe iconik-handler",
    "secrets versions access latest",
]


def test_fresh_deploy_makes_everything_in_order(cloud: Cloud) -> None:
    status, out, err = run(cloud, "deploy")
    assert status == 0, err
    assert cloud.commands() == FRESH
    world = cloud.world()
    assert set(world["enabled"]) == set(APIS)
    assert world["accounts"][ACCOUNT]["policy"]["bindings"] == [
        {"role": "roles/iam.serviceAccountUser", "members": [f"serviceAccount:{ACCOUNT}"]}
    ]
    for name in (SECRET_NAME, TASK_KEY_NAME):
        assert world["secrets"][name]["policy"]["bindings"] == [
            {"role": "roles/secretmanager.secretAccessor", "members": [f"serviceAccount:{ACCOUNT}"]}
        ]
    assert set(world["secrets"]) == {SECRET_NAME, TASK_KEY_NAME}
    queue = world["queues"][f"projects/{PROJECT}/locations/{REGION}/queues/b2-iconik"]
    assert [b["role"] for b in queue["policy"]["bindings"]] == list(QUEUE_ROLES)
    assert queue["retryConfig"] == {
        "maxAttempts": 10,
        "minBackoff": "10s",
        "maxBackoff": "300s",
        "maxDoublings": 4,
    }
    assert queue["rateLimits"]["maxConcurrentDispatches"] == 4
    assert queue["rateLimits"]["maxDispatchesPerSecond"] == 10
    assert len(re.findall(r"^\s+iconik custom actions \(8\)\s+8 created", out, re.M)) == 2
    assert f"Function URL: {URL}" in out


def test_the_function_gets_its_settings_and_no_secret(cloud: Cloud) -> None:
    assert run(cloud, "deploy")[0] == 0
    deploy = next(c for c in cloud.calls() if c["argv"][:2] == ["functions", "deploy"])
    flags = set(deploy["argv"])
    assert {
        "--gen2",
        "--runtime=python311",
        "--entry-point=iconik_handler",
        "--source=.",
        "--trigger-http",
        "--allow-unauthenticated",
        f"--service-account={ACCOUNT}",
        "--memory=512Mi",
        "--timeout=1800",
        "--max-instances=8",
        "--concurrency=1",
        f"--region={REGION}",
        f"--project={PROJECT}",
    } <= flags
    env_file = deploy["env_file"]
    assert env_file["mode"] == "0o600"
    assert not Path(env_file["path"]).exists()
    env = cloud.world()["functions"][
        f"projects/{PROJECT}/locations/{REGION}/functions/iconik-handler"
    ]["serviceConfig"]["environmentVariables"]
    assert env == {
        "ICONIK_ID": cloud.iconik.app_id,
        "ICONIK_URL": cloud.iconik.url,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "B2_STORAGE_ID": env["B2_STORAGE_ID"],
        "LL_STORAGE_ID": env["LL_STORAGE_ID"],
        "TASKS_QUEUE": f"projects/{PROJECT}/locations/{REGION}/queues/b2-iconik",
        "TASKS_URL": URL,
        "TASKS_SERVICE_ACCOUNT": ACCOUNT,
        "ICONIK_MAX_RPS": "10",
        "TASKS_MAX_ATTEMPTS": "10",
    }


def test_secrets_in_env_yaml_never_reach_the_function(cloud: Cloud) -> None:
    local_key = "ab" * 32
    cloud.env_yaml.write_text(
        cloud.env_yaml.read_text()
        + 'BZ_SHARED_SECRET: "local-only-secret-123"\n'
        + 'ICONIK_TOKEN: "local-only-token-456"\n'
        + f'TASKS_TOKEN_KEY: "{local_key}"\n'
        + 'TASKS_OIDC_CERTS_URL: "http://127.0.0.1:9/local-only-certs"\n'
        + 'TASKS_SERVICE_ACCOUNT: "someone-else@example.com"\n'
    )
    status, out, _ = run(cloud, "deploy", "--skip-actions")
    assert status == 0
    for key in ("BZ_SHARED_SECRET", "ICONIK_TOKEN", "TASKS_TOKEN_KEY", "TASKS_OIDC_CERTS_URL"):
        assert f"{key} in .env.yaml is not given to the function" in out
    assert "TASKS_SERVICE_ACCOUNT in .env.yaml is replaced by the value make deploy derives" in out
    log = cloud.log.read_text()
    for value in ("local-only", local_key, "someone-else"):
        assert value not in log and value not in out
    env = cloud.world()["functions"][
        f"projects/{PROJECT}/locations/{REGION}/functions/iconik-handler"
    ]["serviceConfig"]["environmentVariables"]
    assert env["TASKS_SERVICE_ACCOUNT"] == ACCOUNT
    assert "TASKS_TOKEN_KEY" not in env and "TASKS_OIDC_CERTS_URL" not in env


def test_the_actions_carry_the_secret_and_the_storages(cloud: Cloud) -> None:
    assert run(cloud, "deploy")[0] == 0
    actions = plugin_actions(cloud)
    assert len(actions) == 8
    (secret,) = cloud.secrets()
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert all(a["headers"] == {"x-bz-secret": secret} for a in actions)
    assert all("b2_storage_id=" in a["url"] and "ll_storage_id=" in a["url"] for a in actions)


def test_a_second_run_changes_nothing(cloud: Cloud) -> None:
    assert run(cloud, "deploy")[0] == 0
    before = json.dumps(cloud.world(), sort_keys=True)
    actions = json.dumps(plugin_actions(cloud), sort_keys=True)
    cloud.forget()
    status, out, _ = run(cloud, "deploy")
    assert status == 0
    assert cloud.changes() == []
    assert json.dumps(cloud.world(), sort_keys=True) == before
    assert json.dumps(plugin_actions(cloud), sort_keys=True) == actions
    summary = out.split("Summary (done):")[1].split("Function URL")[0]
    outcomes = re.findall(r"^  (.*?)\s{2,}(\S+)", summary, re.M)
    assert (f"secret {APP_TOKEN_NAME}", "absent") in outcomes
    assert outcomes and {o for w, o in outcomes if APP_TOKEN_NAME not in w} == {"unchanged"}


def test_what_changed_is_updated_and_nothing_else(cloud: Cloud) -> None:
    assert run(cloud, "deploy")[0] == 0
    world = cloud.world()
    path = f"projects/{PROJECT}/locations/{REGION}/queues/b2-iconik"
    world["queues"][path]["retryConfig"]["maxAttempts"] = 5
    cloud.state.write_text(json.dumps(world))
    text = cloud.env_yaml.read_text() + 'FORMAT_NAMES: "ORIGINAL,PPRO_PROXY"\n'
    cloud.env_yaml.write_text(text)
    cloud.forget()
    status, out, _ = run(cloud, "deploy")
    assert status == 0
    assert cloud.changes() == ["tasks queues update b2-iconik", "functions deploy iconik-handler"]
    assert "max-attempts: 5 -> 10" in out
    assert re.search(r"iconik custom actions \(8\)\s+8 updated", out)
    assert all("PPRO_PROXY" in a["url"] for a in plugin_actions(cloud))


def test_dry_run_calls_nothing_and_shows_what_a_real_run_does(cloud: Cloud) -> None:
    status, out, _ = run(cloud, "deploy", "--dry-run")
    assert status == 0
    assert cloud.calls() == []
    assert plugin_actions(cloud) == []
    assert "not even the read-only checks" in out and "assumed absent" in out
    for name in (SECRET_NAME, TASK_KEY_NAME):
        assert re.search(
            rf"^would run: gcloud secrets create {name} .*--data-file=- .*"
            r"# stdin: 32 random bytes as hex, never printed$",
            out,
            re.M,
        )
        assert re.search(rf"^  secret {name}\s+would be created$", out, re.M)
        assert f"roles/secretmanager.secretAccessor on {name}" in out
    assert f"TASKS_SERVICE_ACCOUNT={ACCOUNT}" in out
    shown = [
        line.split("# ")[0].strip()
        for line in out.splitlines()
        if line.startswith("would run: gcloud ")
    ]

    assert run(cloud, "deploy")[0] == 0
    ran = []
    for call in cloud.calls():
        argv = [re.sub(r"--env-vars-file=.*", "--env-vars-file=ENV_FILE", a) for a in call["argv"]]
        words = " ".join(a for a in argv if not a.startswith("--"))
        if not READS.match(words):
            ran.append("would run: " + shlex.join(["gcloud", *argv]))
    assert shown == ran
