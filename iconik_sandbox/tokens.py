"""The App-ID/Auth-Token pairs the sandbox accepts, each valid until it expires.

iconik tokens expire (TokenSchema's ``expires``), and the plugin must keep its user's token alive
through a long Remove, so the sandbox models that: every token has an expiry (``lifetime``
seconds after it was made; None never expires), an expired token gets iconik's 401 on every
call, ``POST /API/auth/v1/auth/token/`` makes a new token without invalidating the old one, and
tests can expire a token at once.

A token also belongs to a user and carries roles. By default a token has every role; one added
with ``without_roles`` gets iconik's 403 on the calls that need those roles (the Automations
service checks them), so tests can show what a user without, say, ``can_run_automations`` sees.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Holder:
    """Whose a token is: the user it acts for and the roles it lacks (none by default)."""

    user_id: str | None = None
    without_roles: frozenset[str] = frozenset()


class Tokens:
    """Accepted tokens per App-ID, with their expiry (epoch seconds, or None)."""

    def __init__(self, lifetime: float | None = None, clock: Callable[[], float] = time.time):
        self.lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], float | None] = {}
        self._holders: dict[tuple[str, str], Holder] = {}
        self.refused_renewals = False

    def add(
        self,
        app_id: str,
        token: str,
        lifetime: float | None = None,
        *,
        user_id: str | None = None,
        without_roles: Iterable[str] = (),
    ) -> None:
        """Accept a token (for ``lifetime`` seconds, default the sandbox's own), of ``user_id``
        (None: the sandbox's user), with every role but ``without_roles``."""
        lifetime = self.lifetime if lifetime is None else lifetime
        with self._lock:
            self._expiry[(app_id, token)] = None if lifetime is None else self._clock() + lifetime
            if user_id is not None or without_roles or (app_id, token) not in self._holders:
                self._holders[(app_id, token)] = Holder(user_id, frozenset(without_roles))

    def holder(self, app_id: str | None, token: str | None) -> Holder:
        """The token's user and missing roles (a token never added has every role)."""
        with self._lock:
            return self._holders.get((app_id or "", token or ""), Holder())

    def has_role(self, app_id: str | None, token: str | None, role: str) -> bool:
        """Whether the token carries ``role`` (tokens carry every role unless told otherwise)."""
        return role not in self.holder(app_id, token).without_roles

    def valid(self, app_id: str | None, token: str | None) -> bool:
        if not app_id or not token:
            return False
        with self._lock:
            if (app_id, token) not in self._expiry:
                return False
            expires = self._expiry[(app_id, token)]
        return expires is None or expires > self._clock()

    def expires(self, app_id: str, token: str) -> float | None:
        with self._lock:
            return self._expiry.get((app_id, token))

    def renew(self, app_id: str, like: str | None = None) -> tuple[str, float | None]:
        """A new token for the same application (the caller's stays valid), of the same user
        and roles as the token ``like``."""
        token = secrets.token_urlsafe(24)
        holder = self.holder(app_id, like)
        self.add(app_id, token, user_id=holder.user_id, without_roles=holder.without_roles)
        return token, self.expires(app_id, token)

    def refresh(self, app_id: str, token: str) -> float | None:
        """The same token, valid for another lifetime."""
        self.add(app_id, token)
        return self.expires(app_id, token)

    def expire(self, token: str) -> None:
        """Make a token invalid now, under every App-ID (tests)."""
        with self._lock:
            for key in [k for k in self._expiry if k[1] == token]:
                self._expiry[key] = self._clock() - 1

    def all(self) -> list[str]:
        """Every token ever accepted (expired ones too): for tests that look for leaks."""
        with self._lock:
            return list(dict.fromkeys(token for _, token in self._expiry))

    def revoke(self, app_id: str, token: str) -> None:
        with self._lock:
            self._expiry.pop((app_id, token), None)
            self._holders.pop((app_id, token), None)
