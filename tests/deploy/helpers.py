"""The deploy tests' shared pieces: the fake Google Cloud (Cloud), its empty world, and run().

A fake ``gcloud`` (tests/fake_gcloud.py) is put first on PATH: it keeps a small Google Cloud in a
JSON file, answers like gcloud and records every call. The custom actions are registered for
real, by the plugin's own tool, in the local iconik sandbox. Nothing reaches the network.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.cli import main
from deploy.settings import (
    APP_TOKEN_NAME,
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
