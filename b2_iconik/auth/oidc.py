"""Steps from the queue authenticated by Cloud Tasks' own OIDC token, not by the shared secret.

With ``TASKS_SERVICE_ACCOUNT`` set, every task carries no shared secret: Cloud Tasks signs an
OIDC ID token for that service account, with the function's URL as audience, and sends it as
``Authorization: Bearer``. The function checks the token's signature against Google's public
certificates (fetched at most once an hour, or when a new key id appears), its issuer, its
audience, its expiry and that it names the service account. So seeing a task in the queue gives
no way to make the function run a step, and no way to act as iconik toward the plugin.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from b2_iconik.base.errors import PluginError

log = logging.getLogger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CERTS_SECONDS = 3600.0
#: An unknown key id fetches the certificates again, but not more often than this.
REFETCH_SECONDS = 60.0


class Unauthenticated(PluginError):
    """A step request whose credentials do not check out (HTTP 401)."""


class CannotVerify(PluginError):
    """Google's certificates could not be fetched: the step cannot be checked now (HTTP 503)."""


class OidcVerifier:
    """Checks ``Authorization: Bearer <ID token>`` on step requests.

    Args:
        audience: the audience the tasks were created with (``TASKS_URL``).
        email: the service account Cloud Tasks signs as (``TASKS_SERVICE_ACCOUNT``).
        certs_url: where Google's public certificates are (a local server in tests).
    """

    def __init__(
        self,
        audience: str,
        email: str,
        certs_url: str = GOOGLE_CERTS_URL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.audience, self.email, self.certs_url = audience, email, certs_url
        self._clock = clock
        self._certs: dict[str, str] = {}
        self._fetched = -CERTS_SECONDS
        self._lock = threading.Lock()

    def verify(self, headers: Mapping[str, str]) -> None:
        """Raise Unauthenticated unless the request carries a valid token for the account."""
        token = _bearer(headers)
        claims = self._decode(token)
        if claims.get("iss") not in ISSUERS:
            raise Unauthenticated("the step's token was not issued by Google")
        if claims.get("email") != self.email or claims.get("email_verified") is not True:
            raise Unauthenticated("the step's token is not for the plugin's service account")

    def _decode(self, token: str) -> dict[str, Any]:
        from google.auth import exceptions, jwt

        try:
            key_id = jwt.decode_header(token).get("kid")
        except (ValueError, exceptions.GoogleAuthError):
            raise Unauthenticated("the step's token is not a JWT") from None
        certs = self._certificates(str(key_id))
        try:
            claims = jwt.decode(token, certs=certs, audience=self.audience,
                                clock_skew_in_seconds=30)
        except (ValueError, exceptions.GoogleAuthError) as error:
            raise Unauthenticated(f"the step's token does not check out: {error}") from None
        return dict(claims)

    def _certificates(self, key_id: str) -> dict[str, str]:
        with self._lock:
            age = self._clock() - self._fetched
            if age > CERTS_SECONDS or (key_id not in self._certs and age > REFETCH_SECONDS):
                self._certs = self._fetch()
                self._fetched = self._clock()
            return dict(self._certs)

    def _fetch(self) -> dict[str, str]:
        try:
            answer = requests.get(self.certs_url, timeout=5)
            answer.raise_for_status()
            certs = answer.json()
        except (requests.RequestException, ValueError) as error:
            log.error("could not fetch Google's certificates: %s", type(error).__name__)
            raise CannotVerify("Google's certificates cannot be fetched now") from None
        return {str(k): str(v) for k, v in certs.items()}


def _bearer(headers: Mapping[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the step carries no OIDC token")
    return token.strip()
