"""Keeping the user's iconik token alive for as long as an action's work lasts.

Every call acts with the ``auth_token`` of the click, and a Remove may wait hours for copies to
B2, longer than the token lives. So before a step runs, the plugin makes sure the token it carries
outlives the margin (``TOKEN_REFRESH_SECONDS``): the first step asks iconik when the token
expires; a step that finds it close to its end asks iconik for a *new* token (``POST``, which
leaves the old one valid) and hands that to the steps it schedules. Several chunks may hold the
same token and renew it each on its own: none pulls it from under another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from b2_iconik.base.errors import IconikError, IconikHTTPError, PluginError
from b2_iconik.base.logs import redact
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.session import Json
from b2_iconik.rules.steps import Step

log = logging.getLogger(__name__)

#: ``token_expires`` when iconik did not say: the token is then taken to last.
NO_EXPIRY = -1.0


class TokenRefused(PluginError):
    """iconik would not renew the user's token: the work cannot go on with it."""


class TokenKeeper:
    """Checks and renews the token a step carries.

    Args:
        margin: renew when less than this many seconds remain.
        clock: wall-clock seconds.
    """

    def __init__(self, margin: float, clock: Callable[[], float]) -> None:
        self.margin = margin
        self.clock = clock

    def fresh(self, client: IconikClient, step: Step, until: float | None = None) -> Step:
        """The step with a token that lasts past ``until`` (default now) plus the margin.

        The client is switched to the token returned.

        Raises:
            TokenRefused: iconik would not check or renew the token.
        """
        expires = step.token_expires
        if expires == 0.0:
            expires = self._expiry(client)
        needed = (until if until is not None else self.clock()) + self.margin
        if expires != NO_EXPIRY and expires < needed:
            token, expires = self._renew(client)
            return replace(step, auth_token=token, token_expires=expires)
        return replace(step, token_expires=expires) if expires != step.token_expires else step

    def _expiry(self, client: IconikClient) -> float:
        """When the session's token expires, as iconik says; NO_EXPIRY if it does not say."""
        try:
            answer = client.check_token()
        except IconikHTTPError as error:
            if error.status in (401, 403):
                raise TokenRefused(f"iconik no longer accepts the user's token: {error}") from None
            raise
        return _expires(answer)

    def _renew(self, client: IconikClient) -> tuple[str, float]:
        try:
            answer = client.new_token()
        except IconikHTTPError as error:
            if error.status < 500 and error.status != 429:
                raise TokenRefused(f"iconik would not renew the user's token: {error}") from None
            raise
        except IconikError:
            raise
        token = answer.get("token")
        if not isinstance(token, str) or not token:
            raise TokenRefused("iconik renewed the user's token but sent no token back")
        redact(token)
        client.use_token(token)
        expires = _expires(answer)
        log.info("renewed the user's iconik token (it was close to expiring)")
        return token, expires


def _expires(answer: Json) -> float:
    """``expires`` as epoch seconds (naive timestamps are UTC), or NO_EXPIRY."""
    value = answer.get("expires")
    if not isinstance(value, str) or not value:
        return NO_EXPIRY
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return NO_EXPIRY
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
