"""Secrets from the environment or Secret Manager: the shared secret iconik sends in
``x-bz-secret``, and the key that seals users' tokens in Cloud Tasks task bodies.

Each is read once per instance, lazily (so cold starts stay fast and a missing secret does not
stop start-up of a function that could still answer 404s), behind a lock because
functions-framework serves requests on several threads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import SecretMissing, SecretUnavailable
from b2_iconik.base.logs import redact

log = logging.getLogger(__name__)

SECRET_ID = "bz-shared-secret"
#: The Secret Manager secret holding the plugin's own iconik application token.
APP_TOKEN_ID = "bz-iconik-token"
#: How long "no application token is configured" is remembered before Secret Manager is asked
#: again: a burst of refused requests must not become a burst of Secret Manager calls.
MISSING_SECONDS = 60.0
ACCESS_TIMEOUT = 4.0
_METADATA_PROJECT = "/computeMetadata/v1/project/project-id"


class ManagedSecret:
    """A secret from the environment or Secret Manager, fetched at most once per instance.

    Args:
        settings: the project and endpoint for Secret Manager.
        secret_id: the Secret Manager secret (its latest version is read).
        value: the value from the environment, which wins when set (local runs, tests).
    """

    def __init__(self, settings: Settings, secret_id: str, value: str | None) -> None:
        self._settings = settings
        self._secret_id = secret_id
        self._value: bytes | None = None
        self._lock = threading.Lock()
        if value:
            self._value = value.encode()
            redact(value)

    def get(self) -> bytes:
        """The secret as bytes, for ``hmac.compare_digest``.

        Raises:
            SecretUnavailable: the secret is not set and Secret Manager could not give it.
        """
        if self._value is None:
            with self._lock:
                if self._value is None:
                    secret = _access_secret(self._settings, self._secret_id)
                    redact(secret)
                    self._value = secret.encode()
        return self._value


class SharedSecret(ManagedSecret):
    """The shared secret iconik sends: ``BZ_SHARED_SECRET``, or the secret ``bz-shared-secret``."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, SECRET_ID, settings.shared_secret)


class AppToken:
    """The plugin's own iconik token, for requests that carry none (iconik's automations).

    ``ICONIK_TOKEN`` wins when set (local runs, tests). Deployed, it is the Secret Manager
    secret ``bz-iconik-token``, read once. Off Google Cloud with neither, there is none, and a
    request without a token is refused. Never used in place of a token iconik refused: that
    would let a caller without rights borrow the application's.
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._secret = ManagedSecret(settings, APP_TOKEN_ID, settings.iconik_token)
        self._clock = clock
        self._missing_until = float("-inf")

    @property
    def where(self) -> str:
        """Where an operator configures it, for messages."""
        return f"ICONIK_TOKEN, or the Secret Manager secret {APP_TOKEN_ID} (make deploy stores it)"

    def get(self) -> str | None:
        """The token, or None when none is configured.

        Raises:
            SecretUnavailable: Secret Manager could not be read just now (try again).
        """
        if self._settings.iconik_token:
            return self._settings.iconik_token
        if not self._from_secret_manager() or self._clock() < self._missing_until:
            return None
        try:
            return self._secret.get().decode()
        except SecretMissing:
            self._missing_until = self._clock() + MISSING_SECONDS
            return None

    def _from_secret_manager(self) -> bool:
        s = self._settings
        return bool(s.on_google_cloud or s.secret_manager_endpoint)


def _access_secret(settings: Settings, secret_id: str) -> str:
    """Read the latest version of a secret and check its CRC32C."""
    project = settings.google_cloud_project or _project_from_metadata()
    name = f"projects/{project}/secrets/{secret_id}/versions/latest"
    client = _client(settings)
    try:
        # One short attempt: requests wait on this lock, and iconik gives up after about 10 s.
        # A failure is not cached, so the next request tries again.
        response = client.access_secret_version(
            request={"name": name}, retry=None, timeout=ACCESS_TIMEOUT
        )
    except Exception as error:  # google.api_core errors share no base we can import lazily
        if type(error).__name__ == "NotFound":
            raise SecretMissing(f"Secret Manager has no secret {name}") from None
        raise SecretUnavailable(
            f"cannot read Secret Manager secret {name}: {type(error).__name__}: {error}"
        ) from None
    data = bytes(response.payload.data)
    expected = response.payload.data_crc32c
    if expected:
        import google_crc32c

        if google_crc32c.value(data) != int(expected):
            raise SecretUnavailable(f"secret {name} failed its CRC32C check: data corrupted")
    value = data.decode("utf-8").strip()
    if not value:
        raise SecretUnavailable(f"secret {name} is empty")
    log.info("read the secret %s from Secret Manager", name)
    return value


def _client(settings: Settings) -> Any:
    """A Secret Manager client on its REST transport (light, and testable against a local server).

    With ``SECRET_MANAGER_ENDPOINT`` set (tests, local runs), it talks to that endpoint with
    anonymous credentials; otherwise to Google with the function's default credentials.
    """
    from google.cloud import secretmanager

    if settings.secret_manager_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return secretmanager.SecretManagerServiceClient(
            transport="rest",
            client_options={"api_endpoint": settings.secret_manager_endpoint},
            credentials=AnonymousCredentials(),
        )
    return secretmanager.SecretManagerServiceClient(transport="rest")


def _project_from_metadata() -> str:
    """The project id from the metadata server (Cloud Functions does not set it in the env)."""
    host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
    try:
        response = requests.get(
            f"http://{host}{_METADATA_PROJECT}", headers={"Metadata-Flavor": "Google"}, timeout=2
        )
        response.raise_for_status()
    except requests.RequestException as error:
        raise SecretUnavailable(
            "BZ_SHARED_SECRET is not set and the project is unknown: set GOOGLE_CLOUD_PROJECT "
            f"(the metadata server did not answer: {type(error).__name__})"
        ) from None
    return response.text.strip()
