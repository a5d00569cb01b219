"""What ``make deploy`` builds, and the inputs it reads: ``.env.yaml`` and the flags.

The constants at the top are the deployment's tunable shape. Change them here and run
``make deploy`` again: the queue is updated, and the function is deployed again when its flags or
environment differ. Everything else in ``deploy/`` reads them and decides nothing on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# ================================================================================================
# THE CLOUD TASKS QUEUE: exactly the flags `gcloud tasks queues create` and `update` get.
#   4 dispatches at a time keep the function's instances (each capped at ICONIK_MAX_RPS below)
#   within iconik's rate limit; a failing step is retried 10 times, 10 s to 5 min apart.
# ================================================================================================
QUEUE_FLAGS: dict[str, str] = {
    "--max-concurrent-dispatches": "4",
    "--max-dispatches-per-second": "10",
    "--max-attempts": "10",
    "--min-backoff": "10s",
    "--max-backoff": "300s",
    "--max-doublings": "4",
}

# ================================================================================================
# THE FUNCTION'S DERIVED ENVIRONMENT: written over whatever .env.yaml says for these names.
#   {project}, {region}, {queue}, {url} and {account_email} are filled in for the deployment.
# ================================================================================================
DERIVED_ENV: dict[str, str] = {
    "GOOGLE_CLOUD_PROJECT": "{project}",
    "TASKS_QUEUE": "projects/{project}/locations/{region}/queues/{queue}",
    "TASKS_URL": "{url}",
    # Tasks carry Cloud Tasks' OIDC token for the function's own account (audience TASKS_URL),
    # not the shared secret; the function refuses steps without a valid one.
    "TASKS_SERVICE_ACCOUNT": "{account_email}",
    # 4 concurrent dispatches x 10 requests/s each = 40 requests/s, under iconik's ~50.
    "ICONIK_MAX_RPS": "10",
    # Must equal the queue's --max-attempts: the function must know which attempt is the last.
    "TASKS_MAX_ATTEMPTS": QUEUE_FLAGS["--max-attempts"],
}

# ================================================================================================
# THE FUNCTION: the flags of `gcloud functions deploy`, besides name, project, region, service
# account, environment and label. Concurrency 1: one request per instance, so 8 instances serve
# the queue's 4 dispatches and leave room for iconik's clicks.
# ================================================================================================
FUNCTION_FLAGS: tuple[str, ...] = (
    "--gen2",
    "--runtime=python311",
    "--entry-point=iconik_handler",
    "--source=.",
    "--trigger-http",
    "--allow-unauthenticated",
    "--memory=512Mi",
    "--timeout=1800",
    "--max-instances=8",
    "--concurrency=1",
)

#: The APIs a deployment uses: the function (Cloud Functions, which runs it on Cloud Run, built
#: by Cloud Build into Artifact Registry, logging to Cloud Logging), its secrets, its queue, and
#: IAM for the service account.
APIS: tuple[str, ...] = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "logging.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudtasks.googleapis.com",
    "iam.googleapis.com",
)

#: The repository: gcloud runs here, so ``--source=.`` uploads it (as .gcloudignore allows).
ROOT = Path(__file__).resolve().parent.parent
#: The Secret Manager secret holding the shared secret iconik sends (name fixed in the plugin).
SECRET_NAME = "bz-shared-secret"
#: The Secret Manager secret holding the key that seals users' iconik tokens in task bodies
#: (AES-256-GCM; name fixed in the plugin, b2_iconik/auth/sealing.py). Made once, never rotated by
#: make deploy: tasks sealed under an old key would no longer open.
TASK_KEY_NAME = "bz-task-key"
#: The Secret Manager secret holding the plugin's own iconik application token, with which the
#: function serves requests that carry none (iconik's automations, i.e. policies; name fixed in
#: the plugin, b2_iconik/auth/secret.py). Stored only when asked (--app-token): it acts with the
#: application's rights, not a user's.
APP_TOKEN_NAME = "bz-iconik-token"
#: Random bytes in a new secret (shown as twice as many hex digits). 32 bytes is also exactly
#: the AES-256 key the plugin requires of bz-task-key: 64 hex characters.
SECRET_BYTES = 32
#: The one role the service account has on each of the plugin's secrets (and on no other).
SECRET_ROLE = "roles/secretmanager.secretAccessor"
#: The roles it has on the queue only: add tasks, and delete the small lease tasks it creates.
QUEUE_ROLES: tuple[str, ...] = ("roles/cloudtasks.enqueuer", "roles/cloudtasks.taskDeleter")
#: The role it has on itself only, so that its tasks may carry an OIDC token for it (what the
#: Cloud Tasks documentation requires, quoted in deploy.resources.ensure_self_access).
SELF_ROLE = "roles/iam.serviceAccountUser"
#: The label on the function holding the fingerprint of what was deployed.
FINGERPRINT_LABEL = "b2-iconik-deploy"

#: Defaults of the names a deployment uses, each also settable in .env.yaml or by a flag.
DEFAULT_FUNCTION = "iconik-handler"
DEFAULT_QUEUE = "b2-iconik"
DEFAULT_ACCOUNT = "b2-iconik"
DEFAULT_ICONIK_URL = "https://app.iconik.io"

#: Keys of .env.yaml that configure the deployment only and never reach the function.
DEPLOY_KEYS: dict[str, str] = {
    "DEPLOY_REGION": "region",
    "DEPLOY_FUNCTION": "function",
    "DEPLOY_QUEUE": "queue",
    "DEPLOY_SERVICE_ACCOUNT": "account",
}
#: Keys of .env.yaml never written to the function, and why (the reason is told to the operator).
#: Secrets are here because a function's environment is readable by anyone who may view the
#: function (roles/cloudfunctions.viewer, the console), and is kept in every revision: a deployed
#: function reads its secrets from Secret Manager instead, where only its own account may. The
#: local-runs settings are here because, deployed, they would point the function at a test
#: double: TASKS_OIDC_CERTS_URL would make it trust certificates other than Google's.
WITHHELD_KEYS: dict[str, str] = {
    "BZ_SHARED_SECRET": "the function reads the secret from Secret Manager",
    "TASKS_TOKEN_KEY": (
        f"it is for local runs and tests only; the function reads the task key from the "
        f"Secret Manager secret {TASK_KEY_NAME}"
    ),
    "ICONIK_TOKEN": (
        f"the function reads it from the Secret Manager secret {APP_TOKEN_NAME} when deployed "
        "with --app-token (export ICONIK_TOKEN for make deploy)"
    ),
    "CLOUD_TASKS_EMULATOR_HOST": "it is for local runs only",
    "SECRET_MANAGER_ENDPOINT": "it is for local runs only",
    "TASKS_OIDC_CERTS_URL": "it is for tests only; the function checks tokens with Google's keys",
}

_NAMES: dict[str, tuple[str, str]] = {
    "project": (r"([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]", "a Google Cloud project id"),
    "region": (r"[a-z]+-[a-z]+[0-9]+", "a Google Cloud region such as europe-west1"),
    "function": (r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", "lower-case letters, digits and dashes"),
    "queue": (r"[A-Za-z0-9-]{1,100}", "letters, digits and dashes"),
    "account": (r"[a-z][a-z0-9-]{4,28}[a-z0-9]", "6 to 30 lower-case letters, digits, dashes"),
}


class SettingsError(Exception):
    """A missing or malformed input; the message is one sentence saying what to do."""


@dataclass(frozen=True)
class Target:
    """One deployment: where it goes, what it is called, and the function's own environment.

    Attributes:
        project, region: where everything is made.
        function, queue, account: the function's, the queue's and the service account's names.
        env: the function's variables from .env.yaml, without the deployment-only and withheld
            keys; the derived ones (:data:`DERIVED_ENV`) are added by :meth:`function_env`.
        notes: what was left out of .env.yaml, and why, to tell the operator.
    """

    project: str
    region: str
    function: str = DEFAULT_FUNCTION
    queue: str = DEFAULT_QUEUE
    account: str = DEFAULT_ACCOUNT
    env: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def account_email(self) -> str:
        """The service account's email, as IAM names it."""
        domain_project = self.project.split(":")[-1]
        if ":" in self.project:
            domain, _ = self.project.split(":", 1)
            return f"{self.account}@{domain_project}.{domain}.iam.gserviceaccount.com"
        return f"{self.account}@{self.project}.iam.gserviceaccount.com"

    @property
    def queue_path(self) -> str:
        """The queue's full name, as the function's TASKS_QUEUE."""
        return f"projects/{self.project}/locations/{self.region}/queues/{self.queue}"

    @property
    def predicted_url(self) -> str:
        """The function's URL, known before the first deploy (gen2 keeps the gen1 form)."""
        return f"https://{self.region}-{self.project}.cloudfunctions.net/{self.function}"

    @property
    def iconik_id(self) -> str:
        """ICONIK_ID from .env.yaml, or an empty string when it is not set."""
        return self.env.get("ICONIK_ID", "")

    @property
    def iconik_url(self) -> str:
        """ICONIK_URL from .env.yaml, or iconik's default host."""
        return self.env.get("ICONIK_URL") or DEFAULT_ICONIK_URL

    def function_env(self, url: str) -> dict[str, str]:
        """The function's whole environment: .env.yaml's variables, then the derived ones."""
        values = {
            "project": self.project,
            "region": self.region,
            "queue": self.queue,
            "url": url,
            "account_email": self.account_email,
        }
        return {**self.env, **{k: v.format(**values) for k, v in DERIVED_ENV.items()}}


def read_env_yaml(path: Path) -> dict[str, str]:
    """The flat ``KEY: "value"`` mapping of an .env.yaml file; an absent file is empty.

    Raises:
        SettingsError: the file is not such a mapping, or a value is not a quoted string.
    """
    if not path.exists():
        return {}
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise SettingsError(
            f"{path} is not valid YAML{line}: fix it, as in .env.yaml.example"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f'{path} must hold KEY: "value" lines, as in .env.yaml.example')
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SettingsError(
                f'{key} in {path} must be a quoted string (KEY: "value"), as gcloud requires'
            )
    return dict(data)


def check_name(kind: str, value: str) -> str:
    """The value, checked to be a valid name of its kind before it reaches any command.

    Raises:
        SettingsError: it is not.
    """
    pattern, wanted = _NAMES[kind]
    if not re.fullmatch(pattern, value):
        raise SettingsError(f"{kind} {value!r} is not valid: give {wanted}")
    return value


def build_target(file_values: dict[str, str], flags: dict[str, str | None]) -> Target:
    """The deployment from .env.yaml's values and the flags (a flag given wins).

    Raises:
        SettingsError: no project or region, or a name that is not valid.
    """

    def pick(kind: str, key: str, default: str | None) -> str | None:
        return flags.get(kind) or file_values.get(key) or default

    project = pick("project", "GOOGLE_CLOUD_PROJECT", None)
    if not project:
        raise SettingsError(
            "no project: set GOOGLE_CLOUD_PROJECT in .env.yaml or pass --project PROJECT"
        )
    region = pick("region", "DEPLOY_REGION", None)
    if not region:
        raise SettingsError("no region: set DEPLOY_REGION in .env.yaml or pass --region REGION")
    env, notes = _function_values(file_values)
    return Target(
        project=check_name("project", project),
        region=check_name("region", region),
        function=check_name(
            "function", pick("function", "DEPLOY_FUNCTION", DEFAULT_FUNCTION) or ""
        ),
        queue=check_name("queue", pick("queue", "DEPLOY_QUEUE", DEFAULT_QUEUE) or ""),
        account=check_name(
            "account", pick("account", "DEPLOY_SERVICE_ACCOUNT", DEFAULT_ACCOUNT) or ""
        ),
        env=env,
        notes=notes,
    )


def _function_values(file_values: dict[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """.env.yaml's values meant for the function, and a note for each one withheld."""
    env: dict[str, str] = {}
    notes: list[str] = []
    for key, value in file_values.items():
        if key in DEPLOY_KEYS:
            continue
        if key in WITHHELD_KEYS:
            notes.append(f"{key} in .env.yaml is not given to the function: {WITHHELD_KEYS[key]}")
            continue
        if key in DERIVED_ENV and key != "GOOGLE_CLOUD_PROJECT":
            notes.append(f"{key} in .env.yaml is replaced by the value make deploy derives")
        env[key] = value
    return env, tuple(notes)
