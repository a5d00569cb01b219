"""The deploy settings' constants, the commands against the real gcloud, and python -m deploy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deploy import function
from deploy.settings import (
    APP_TOKEN_NAME,
    DERIVED_ENV,
    QUEUE_FLAGS,
)
from tests.deploy.helpers import (
    PROJECT,
    REGION,
    ROOT,
    Cloud,
    run,
)


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
