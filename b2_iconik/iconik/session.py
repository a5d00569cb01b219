"""The transport under :class:`~b2_iconik.iconik.client.IconikClient`: one user's session.

It owns the cross-cutting rules of DESIGN §6 so that the client's methods are only iconik
operations: a timeout on every call, the retry policies (:mod:`.retry`), the instance's budget in
the client's lane (:mod:`.limiter`), paging that never leaves ``ICONIK_URL``, no redirects
followed, and every ``requests`` failure translated into :mod:`b2_iconik.base.errors` here and
nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from urllib3.util.retry import Retry

from b2_iconik.base.errors import IconikHTTPError, IconikUnavailable
from b2_iconik.iconik.limiter import BACKGROUND, CLICK, Budget
from b2_iconik.iconik.pool import RateLimitedAdapter, shared_limiter
from b2_iconik.iconik.retry import limited, retry_policy

Json = dict[str, Any]

#: (connect, read) seconds for every call; iconik's slowest reads (big collections) fit in 30 s.
DEFAULT_TIMEOUT = (3.05, 30.0)
#: Page size asked of list endpoints: iconik's default of 10 would cost ten times the calls.
PER_PAGE = 100
#: A loop guard: no real listing the plugin walks has this many pages.
MAX_PAGES = 100_000


class IconikSession:
    """One user's session with iconik: headers, adapters, lane, and the calls that go through them.

    Args:
        base_url: ``ICONIK_URL``; every request, including ``next_url`` pages, goes only here.
        app_id: ``ICONIK_ID``, sent as ``App-ID``.
        token: the acting user's ``auth_token``, sent as ``Auth-Token`` (never logged).
        max_rps: the instance-wide request-rate cap, or None for none.
        timeout: (connect, read) seconds for each call.
        retry: the retry policy for idempotent calls (tests pass a fast one).
        copy_retry: the policy for bulk copies, which may also retry POST on 5xx.
        lane: which lane of the budget the requests draw on (see :meth:`use_lane`).
    """

    def __init__(
        self,
        base_url: str,
        app_id: str,
        token: str,
        *,
        max_rps: float | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        copy_retry: Retry | None = None,
        lane: str = BACKGROUND,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._budget = Budget(shared_limiter(max_rps) if max_rps else None, lane)
        self.session = requests.Session()
        self.session.headers.update(
            {"App-ID": app_id, "Auth-Token": token, "Accept": "application/json"}
        )
        self.session.mount(
            self.base_url + "/",
            RateLimitedAdapter(
                self._budget, max_retries=limited(retry or retry_policy(), self._budget)
            ),
        )
        self.session.mount(
            self.base_url + "/API/files/v1/storages/",
            RateLimitedAdapter(
                self._budget,
                max_retries=limited(copy_retry or retry_policy(post=True), self._budget),
            ),
        )

    @property
    def lane(self) -> str:
        """The lane of the instance's budget this client's requests draw on."""
        return self._budget.lane

    def use_lane(self, lane: str) -> None:
        """Draw on this lane from now on: :data:`CLICK` while answering a click."""
        if lane not in (CLICK, BACKGROUND):
            raise ValueError(f"no lane {lane!r}: {CLICK!r} or {BACKGROUND!r}")
        self._budget.lane = lane

    def use_token(self, token: str) -> None:
        """Act with another token of the same user from now on (after renewing it)."""
        self.session.headers["Auth-Token"] = token

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _list(self, path: str, **params: str) -> list[Json]:
        """Every object of a listing whose 404 means "none" (formats, file sets, files)."""
        try:
            return list(self._pages(path, {"per_page": PER_PAGE, **params}))
        except IconikHTTPError as error:
            if error.status == 404:
                return []
            raise

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[Json]:
        """Yield every object of a paged listing by following ``next_url``.

        ``next_url`` is used only for its path and query, joined to ``ICONIK_URL``, so a
        listing can never send the user's token to another host.
        """
        seen: set[str] = set()
        page: Json | None = self._call("GET", path, params=params)
        for _ in range(MAX_PAGES):
            if not page:
                return
            yield from page.get("objects") or []
            next_url = page.get("next_url")
            if not next_url:
                return
            path = local_path(next_url)
            if path in seen:
                raise IconikHTTPError(200, [f"next_url repeats {path}"], "GET", path)
            seen.add(path)
            page = self._call("GET", path)
        raise IconikHTTPError(200, [f"more than {MAX_PAGES} pages"], "GET", path)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Json | None = None,
        missing_ok: bool = False,
    ) -> Json | None:
        """Send one request; return its JSON body (None for 204 or a tolerated 404).

        Raises:
            IconikHTTPError: iconik answered an error status (after retries).
            IconikUnavailable: no answer: connection error, timeout or retries exhausted.
        """
        url = self.base_url + path
        try:
            # Never follow a redirect: requests would re-send the Auth-Token header to
            # whatever host Location names (it drops only Authorization across hosts).
            response = self.session.request(
                method,
                url,
                params=params,
                json=json,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            reason = type(error).__name__
            raise IconikUnavailable(f"iconik did not answer {method} {path}: {reason}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if 300 <= response.status_code < 400:
            # Not a success either: a redirected DELETE has deleted nothing.
            raise IconikHTTPError(
                response.status_code, ["redirected elsewhere; not followed"], method, path
            )
        if response.status_code >= 400:
            raise IconikHTTPError(response.status_code, _messages(response), method, path)
        if response.status_code == 204 or not response.content:
            return None
        try:
            body = response.json()
        except ValueError:
            raise IconikHTTPError(
                response.status_code, ["answer is not JSON"], method, path
            ) from None
        return body if isinstance(body, dict) else {"objects": body}


def local_path(next_url: str) -> str:
    """The path and query of a ``next_url``, whatever host it names."""
    parts = urlsplit(next_url)
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    return path + (f"?{parts.query}" if parts.query else "")


def _messages(response: requests.Response) -> list[str]:
    """iconik's error messages from an ``{"errors": [...]}`` or ``{"errors": {...}}`` body."""
    try:
        body = response.json()
    except ValueError:
        return [response.reason or f"HTTP {response.status_code}"]
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        return [str(e) for e in errors]
    if isinstance(errors, dict):
        return [f"{k}: {v}" for k, v in errors.items()]
    if isinstance(body, dict) and body.get("message"):
        return [str(body["message"])]
    return [response.reason or f"HTTP {response.status_code}"]
