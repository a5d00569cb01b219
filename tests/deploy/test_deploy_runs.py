"""``make deploy`` and ``make undeploy`` (``deploy/``) against a fake gcloud and the sandbox.

A fake ``gcloud`` (tests/fake_gcloud.py) is put first on PATH: it keeps a small Google Cloud in a
JSON file, answers like gcloud and records every call. The custom actions are registered for
real, by the plugin's own tool, in the local iconik sandbox. Nothing reaches the network.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy import function
from deploy import gcloud as gcloud_module
from deploy.cli import main
from deploy.settings import (
    APIS,
    APP_TOKEN_NAME,
    DERIVED_ENV,
    QUEUE_FLAGS,
    QUEUE_ROLES,
    SECRET_NAME,
    TASK_KEY_NAME,
)
from tests import leaks

FAKE = Path(__file__).resolve().parent.parent / "fake_gcloud.py"
ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT, REGION = "my-project", "europe-west1"
ACCOUNT = f"b2-iconik@{PROJECT}.iam.gserviceaccount.com"
URL = f"https://{REGION}-{PROJECT}.cloudfunctions.net/iconik-handler"
#: Commands that only read: a run that changes nothing runs only these.
READS = re.compile(
    r"^(auth list|projects describe|services list|.* describe|.*get-iam-policy|"
    r"secrets versions (list|access))"
)


@dataclass
class Cloud:
    """The fake's world and log, and the run's inputs."""

    state: Path
    log: Path
    env_yaml: Path
    iconik: Any

    def world(self) -> dict[str, Any]:
        return json.loads(self.state.read_text())

    def change(self, **values: Any) -> None:
        world = self.world()
        world.update(values)
        self.state.write_text(json.dumps(world))

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        """Each call as its words (no flags), e.g. "tasks queues create b2-iconik"."""
        return [" ".join(a for a in c["argv"] if not a.startswith("--")) for c in self.calls()]

    def changes(self) -> list[str]:
        return [c for c in self.commands() if not READS.match(c)]

    def forget(self) -> None:
        self.log.unlink(missing_ok=True)

    def secrets(self, name: str = SECRET_NAME) -> list[str]:
        """Every value a secret ever had (by default the shared secret)."""
        secret = self.world()["secrets"].get(name, {"versions": []})
        return [v["data"] for v in secret["versions"]]

    def task_keys(self) -> list[str]:
        """Every value the task key ever had."""
        return self.secrets(TASK_KEY_NAME)

    def write_env(self, **values: str) -> None:
        self.env_yaml.write_text("".join(f'{k}: "{v}"\n' for k, v in values.items()))


def world() -> dict[str, Any]:
    return {
        "account": "ops@example.com",
        "projects": {PROJECT: {}},
        "enabled": [],
        "accounts": {},
        "secrets": {},
        "queues": {},
        "functions": {},
        "failures": [],
        "url_format": "https://{region}-{project}.cloudfunctions.net/{name}",
    }


@pytest.fixture
def sandbox() -> Iterator[Any]:
    server = pytest.importorskip("iconik_sandbox.server")
    with server.Sandbox() as sb:
        yield sb


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> Cloud:
    """A fake gcloud first on PATH, an empty project, and a filled-in .env.yaml."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "gcloud"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    state, log = tmp_path / "world.json", tmp_path / "gcloud.log"
    state.write_text(json.dumps(world()))
    monkeypatch.setenv("FAKE_GCLOUD_STATE", str(state))
    monkeypatch.setenv("FAKE_GCLOUD_LOG", str(log))
    monkeypatch.setattr(gcloud_module, "PROPAGATION_PAUSE", 0)
    b2 = sandbox.state.add_storage("B2 masters", "B2")["id"]
    ll = sandbox.state.add_storage("LucidLink", "FILE")["id"]
    monkeypatch.setenv("ICONIK_TOKEN", sandbox.token)
    for name in ("BZ_SHARED_SECRET", "FORMAT_NAMES", "B2_STORAGE_ID", "LL_STORAGE_ID"):
        monkeypatch.delenv(name, raising=False)
    made = Cloud(state, log, tmp_path / ".env.yaml", sandbox)
    made.write_env(
        ICONIK_ID=sandbox.app_id,
        ICONIK_URL=sandbox.url,
        GOOGLE_CLOUD_PROJECT=PROJECT,
        DEPLOY_REGION=REGION,
        B2_STORAGE_ID=b2,
        LL_STORAGE_ID=ll,
    )
    return made


def run(cloud: Cloud, *argv: str, answer: str = "") -> tuple[int, str, str]:
    """main() for one command; no secret's value, nor the iconik token, ever shows in its output.

    The task key and the iconik token (which bz-iconik-token holds) go nowhere but Secret
    Manager and iconik, so the session's leak watch looks for them too (the shared secret does
    go to iconik, in the actions' headers).
    """
    out, err = io.StringIO(), io.StringIO()
    command, *rest = argv
    status = main([command, "--env-file", str(cloud.env_yaml), *rest], out, err, lambda q: answer)
    hidden = cloud.task_keys() + cloud.secrets(APP_TOKEN_NAME) + [cloud.iconik.token]
    for value in cloud.secrets() + hidden:
        assert value not in out.getvalue() and value not in err.getvalue()
    for value in hidden:
        leaks.secret(value)
    return status, out.getvalue(), err.getvalue()


def plugin_actions(cloud: Cloud) -> list[dict[str, Any]]:
    return [a for a in cloud.iconik.state.custom_actions.values() if a["url"].startswith(URL)]


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


# -- the application token (--app-token) ----------------------------------------------------------

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


# -- undeploy -------------------------------------------------------------------------------------


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


# -- the constants, and the real gcloud -----------------------------------------------------------


def test_the_function_settings_agree_with_the_queue() -> None:
    assert DERIVED_ENV["TASKS_MAX_ATTEMPTS"] == QUEUE_FLAGS["--max-attempts"]
    rate = int(DERIVED_ENV["ICONIK_MAX_RPS"]) * int(QUEUE_FLAGS["--max-concurrent-dispatches"])
    assert rate <= 40


#: The real gcloud, looked up before any test puts the fake first on PATH.
REAL_GCLOUD = shutil.which("gcloud")


def _real_gcloud() -> str:
    if REAL_GCLOUD is None:
        pytest.skip("the real gcloud is not installed")
    return REAL_GCLOUD


def _offline_env(config: str) -> dict[str, str]:
    """gcloud with no account, no prompts, and every request sent to a closed local port."""
    return {
        **os.environ,
        "CLOUDSDK_CONFIG": config,
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_PROXY_TYPE": "http",
        "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
        "CLOUDSDK_PROXY_PORT": "9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }


def test_uploaded_files_are_all_in_the_fingerprint() -> None:
    gcloud = _real_gcloud()
    with tempfile.TemporaryDirectory() as config:
        listed = subprocess.run(
            [gcloud, "meta", "list-files-for-upload", "."],
            cwd=ROOT,
            env=_offline_env(config),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split()
    assert "main.py" in listed and "b2_iconik/edge/click.py" in listed
    covered = {str(p.relative_to(ROOT)) for p in function.source_files()}
    assert set(listed) <= covered


def test_every_recorded_command_parses_in_the_real_gcloud(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replays each command through gcloud 528 with no login: a wrong flag fails on parsing."""
    real = _real_gcloud()
    assert run(cloud, "deploy", "--app-token")[0] == 0
    world = cloud.world()
    world["queues"][f"projects/{PROJECT}/locations/{REGION}/queues/b2-iconik"]["retryConfig"][
        "maxDoublings"
    ] = 2
    world["secrets"][APP_TOKEN_NAME]["versions"][0]["data"] = "an-older-token"
    cloud.state.write_text(json.dumps(world))
    assert run(cloud, "deploy", "--rotate-secret", "--app-token")[0] == 0
    assert run(cloud, "undeploy", "--yes", "--delete-secret")[0] == 0
    commands: dict[str, list[str]] = {}
    for call in cloud.calls():
        argv = list(call["argv"])
        if "env_file" in call:
            env_path = tmp_path / "env.yaml"
            env_path.write_text(call["env_file"]["content"])
            argv = [
                f"--env-vars-file={env_path}" if a.startswith("--env-vars-file=") else a
                for a in argv
            ]
        # One replay per shape: commands differing only in a member or role parse alike.
        shape = [a for a in argv if not a.startswith(("--member=", "--role="))]
        commands[" ".join(shape)] = argv
    assert len(commands) > 20

    def replay(argv: list[str]) -> tuple[list[str], int, str]:
        with tempfile.TemporaryDirectory() as config:
            done = subprocess.run(
                [real, *argv],
                cwd=ROOT,
                env=_offline_env(config),
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=120,
            )
        return argv, done.returncode, done.stderr

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(replay, commands.values()))
    for argv, code, stderr in results:
        assert not re.search(
            r"unrecognized arguments|[Ii]nvalid choice|argument --\S+: ", stderr
        ), (argv, stderr)
        assert code == 0 or "You do not currently have an active account selected" in stderr, (
            argv,
            stderr,
        )


def test_python_m_deploy_fails_without_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deploy", "deploy", "--env-file", str(tmp_path / "none.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": "/nonexistent"},
    )
    assert done.returncode == 2
    assert (
        done.stderr == "make deploy: error: no project: set GOOGLE_CLOUD_PROJECT in .env.yaml "
        "or pass --project PROJECT.\n"
    )
