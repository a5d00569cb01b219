"""Configuration from the environment (and a local ``.env``), validated once at start-up.

Every setting is checked here so that a bad deployment fails at once with one line naming the
variable, instead of failing later inside an action a user clicked.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from b2_iconik.base.errors import ConfigError

DEFAULT_ICONIK_URL = "https://app.iconik.io"
DEFAULT_FORMATS = ("ORIGINAL",)
DEFAULT_REMOVE_WAIT_SECONDS = 21600.0
#: iconik allows about 50 requests a second; a tenth less leaves room for iconik counting a
#: request a little later than it was sent (docs/performance.md has the figures).
DEFAULT_MAX_RPS = 45.0
DEFAULT_RECHECK_SECONDS = 15.0
DEFAULT_WORKER_THREADS = 4
DEFAULT_TOKEN_REFRESH_SECONDS = 3600.0
DEFAULT_WATCHDOG_SECONDS = 3600.0
DEFAULT_TASKS_MAX_ATTEMPTS = 10
DEFAULT_INPROCESS_STALE_SECONDS = 900.0
#: How long requests from automations are gathered into one job (per operation and source).
DEFAULT_GATHER_SECONDS = 60.0
#: How long after a policy removed an asset a policy may not add it back (and the reverse).
DEFAULT_LOOP_GUARD_SECONDS = 3600.0

_FORMAT_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_QUEUE_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/queues/[^/]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Settings:
    """The plugin's settings, validated. Build with :meth:`from_env`."""

    iconik_id: str
    iconik_url: str = DEFAULT_ICONIK_URL
    shared_secret: str | None = field(default=None, repr=False)
    format_names: tuple[str, ...] = DEFAULT_FORMATS
    b2_storage_id: str | None = None
    ll_storage_id: str | None = None
    remove_wait_seconds: float = DEFAULT_REMOVE_WAIT_SECONDS
    remove_recheck_seconds: float = DEFAULT_RECHECK_SECONDS
    iconik_max_rps: float = DEFAULT_MAX_RPS
    worker_threads: int = DEFAULT_WORKER_THREADS
    token_refresh_seconds: float = DEFAULT_TOKEN_REFRESH_SECONDS
    watchdog_seconds: float = DEFAULT_WATCHDOG_SECONDS
    tasks_max_attempts: int = DEFAULT_TASKS_MAX_ATTEMPTS
    inprocess_stale_seconds: float = DEFAULT_INPROCESS_STALE_SECONDS
    tasks_service_account: str | None = None
    tasks_token_key: str | None = field(default=None, repr=False)
    tasks_oidc_certs_url: str | None = None
    tasks_queue: str | None = None
    tasks_url: str | None = None
    cloud_tasks_emulator_host: str | None = None
    google_cloud_project: str | None = None
    secret_manager_endpoint: str | None = None
    iconik_token: str | None = field(default=None, repr=False)
    gather_seconds: float = DEFAULT_GATHER_SECONDS
    loop_guard_seconds: float = DEFAULT_LOOP_GUARD_SECONDS
    on_google_cloud: bool = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env"
    ) -> Settings:
        """Read and validate the settings.

        Args:
            environ: the variables to read; ``os.environ`` (after loading ``.env``) by default.
            dotenv_path: a ``.env`` file whose values fill in unset variables; None to skip.

        Raises:
            ConfigError: a setting is missing or malformed; the message names it.
        """
        if environ is None:
            if dotenv_path and os.path.exists(dotenv_path):
                from dotenv import load_dotenv

                load_dotenv(dotenv_path, override=False)
            environ = os.environ
        env = {k: v.strip() for k, v in environ.items() if v.strip()}
        iconik_id = env.get("ICONIK_ID")
        if not iconik_id:
            raise ConfigError("ICONIK_ID is not set: give the iconik application token id")
        tasks_queue, tasks_url = env.get("TASKS_QUEUE"), env.get("TASKS_URL")
        return cls(
            iconik_id=iconik_id,
            iconik_url=_url("ICONIK_URL", env.get("ICONIK_URL", DEFAULT_ICONIK_URL)),
            shared_secret=env.get("BZ_SHARED_SECRET"),
            format_names=parse_formats(
                "FORMAT_NAMES", env.get("FORMAT_NAMES") or env.get("FORMAT_NAME") or "ORIGINAL"
            ),
            b2_storage_id=_optional_uuid("B2_STORAGE_ID", env.get("B2_STORAGE_ID")),
            ll_storage_id=_optional_uuid("LL_STORAGE_ID", env.get("LL_STORAGE_ID")),
            remove_wait_seconds=_number(
                "REMOVE_WAIT_SECONDS", env, DEFAULT_REMOVE_WAIT_SECONDS, minimum=0
            ),
            remove_recheck_seconds=_number(
                "REMOVE_RECHECK_SECONDS", env, DEFAULT_RECHECK_SECONDS, minimum=0.01
            ),
            iconik_max_rps=_number("ICONIK_MAX_RPS", env, DEFAULT_MAX_RPS, minimum=0.1),
            worker_threads=int(
                _number("WORKER_THREADS", env, DEFAULT_WORKER_THREADS, minimum=1, whole=True)
            ),
            token_refresh_seconds=_number(
                "TOKEN_REFRESH_SECONDS", env, DEFAULT_TOKEN_REFRESH_SECONDS, minimum=0
            ),
            watchdog_seconds=_number(
                "WATCHDOG_SECONDS", env, DEFAULT_WATCHDOG_SECONDS, minimum=1
            ),
            tasks_max_attempts=int(
                _number(
                    "TASKS_MAX_ATTEMPTS", env, DEFAULT_TASKS_MAX_ATTEMPTS, minimum=1, whole=True
                )
            ),
            inprocess_stale_seconds=_number(
                "INPROCESS_STALE_SECONDS", env, DEFAULT_INPROCESS_STALE_SECONDS, minimum=1
            ),
            tasks_service_account=_email("TASKS_SERVICE_ACCOUNT", env.get("TASKS_SERVICE_ACCOUNT")),
            tasks_token_key=_hex_key("TASKS_TOKEN_KEY", env.get("TASKS_TOKEN_KEY")),
            tasks_oidc_certs_url=(
                _url("TASKS_OIDC_CERTS_URL", env["TASKS_OIDC_CERTS_URL"])
                if env.get("TASKS_OIDC_CERTS_URL")
                else None
            ),
            tasks_queue=_queue(tasks_queue, tasks_url),
            tasks_url=_url("TASKS_URL", tasks_url) if tasks_url else None,
            cloud_tasks_emulator_host=env.get("CLOUD_TASKS_EMULATOR_HOST"),
            google_cloud_project=env.get("GOOGLE_CLOUD_PROJECT"),
            secret_manager_endpoint=env.get("SECRET_MANAGER_ENDPOINT"),
            iconik_token=env.get("ICONIK_TOKEN"),
            gather_seconds=_number("GATHER_SECONDS", env, DEFAULT_GATHER_SECONDS, minimum=1),
            loop_guard_seconds=_number(
                "LOOP_GUARD_SECONDS", env, DEFAULT_LOOP_GUARD_SECONDS, minimum=0
            ),
            # Cloud Run and Cloud Functions gen2 set K_SERVICE: Secret Manager is at hand there.
            on_google_cloud=bool(env.get("K_SERVICE")),
        )


def parse_formats(name: str, value: str) -> tuple[str, ...]:
    """Split a comma-separated list of iconik format names, rejecting empty or odd names.

    Raises:
        ConfigError: the list is empty or a name has characters iconik format names never have.
    """
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if not names:
        raise ConfigError(f"{name} is empty: give format names such as ORIGINAL,PPRO_PROXY")
    for format_name in names:
        if not _FORMAT_NAME.match(format_name):
            raise ConfigError(f"{name} has an invalid format name {format_name!r}")
    return names


def is_uuid(value: object) -> bool:
    """True when value is a string holding a UUID in its canonical form or without dashes."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def canonical_uuid(value: str) -> str:
    """A UUID in iconik's spelling (lower case, with dashes), so two spellings compare equal."""
    return str(uuid.UUID(value))


def _optional_uuid(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not is_uuid(value):
        raise ConfigError(f"{name} is not a storage id (a UUID): {value!r}")
    return canonical_uuid(value)


def _url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} is not an http(s) URL: {value!r}")
    return value.rstrip("/")


def _number(
    name: str, env: Mapping[str, str], default: float, minimum: float, whole: bool = False
) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{name} must be {kind}, not {raw!r}") from None
    if value < minimum or value != value:  # also rejects NaN
        raise ConfigError(f"{name} must be at least {minimum:g}, not {raw!r}")
    return value


def _email(name: str, value: str | None) -> str | None:
    if value is not None and not _EMAIL.match(value):
        raise ConfigError(f"{name} must be a service account's email, not {value!r}")
    return value


def _hex_key(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not _HEX_KEY.match(value):
        raise ConfigError(f"{name} must be 64 hex characters (a 256-bit key)")
    return value


def _queue(queue: str | None, url: str | None) -> str | None:
    if bool(queue) != bool(url):
        raise ConfigError("TASKS_QUEUE and TASKS_URL go together: set both or neither")
    if queue and not _QUEUE_NAME.match(queue):
        raise ConfigError(
            f"TASKS_QUEUE must look like projects/P/locations/L/queues/Q, not {queue!r}"
        )
    return queue
