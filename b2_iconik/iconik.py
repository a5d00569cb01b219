"""A thin client for the parts of iconik's API the plugin uses.

One :class:`IconikClient` per action: tokens are per user, so the session carries that user's
``Auth-Token``. The session's adapter owns the cross-cutting rules of DESIGN §6: a timeout on every
call, urllib3's ``Retry`` for 429/5xx and connection errors (honouring ``Retry-After``), and an
instance-wide request-rate cap. Public methods are iconik operations, not ``get``/``post``; every
``requests`` failure is translated into :mod:`b2_iconik.errors` here and nowhere else. The
user's token goes to ``ICONIK_URL`` only: ``next_url`` is used for its path, and redirects are
never followed.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from b2_iconik.errors import IconikHTTPError, IconikUnavailable

log = logging.getLogger(__name__)

Json = dict[str, Any]

#: (connect, read) seconds for every call; iconik's slowest reads (big collections) fit in 30 s.
DEFAULT_TIMEOUT = (3.05, 30.0)
#: Page size asked of list endpoints: iconik's default of 10 would cost ten times the calls.
PER_PAGE = 100
#: Most ids iconik takes in one bulk body.
BULK_LIMIT = 500
#: A loop guard: no real listing the plugin walks has this many pages.
MAX_PAGES = 100_000

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


class _IconikRetry(Retry):
    """urllib3's Retry, also retrying 429 for POST.

    A 429 means iconik refused the request before doing anything, so repeating it is always safe,
    whereas a 5xx on a POST may have half-happened and is retried only where the adapter allows
    POST (bulk copies, which iconik deduplicates).
    """

    #: The instance-wide limiter; set on per-client subclasses (see :func:`_limited`), because
    #: urllib3 rebuilds a Retry from its constructor arguments at every attempt.
    limiter: Any = None

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.total:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def sleep(self, response: Any = None) -> None:
        """Back off, then wait for the rate limiter: a retry is a request like any other."""
        super().sleep(response)
        if self.limiter is not None:
            self.limiter.try_acquire("iconik")


def _limited(policy: Retry, limiter: Any) -> Retry:
    """The same policy, whose retries also draw from the instance-wide rate limiter."""
    if limiter is None or not isinstance(policy, _IconikRetry):
        return policy
    kind = type("_LimitedRetry", (type(policy),), {"limiter": limiter})
    limited = policy.new()
    limited.__class__ = kind
    return limited


def retry_policy(total: int = 6, backoff_factor: float = 0.5, post: bool = False) -> Retry:
    """The retry policy for iconik calls: exponential backoff with jitter, Retry-After honoured.

    Args:
        total: how many retries at the most.
        backoff_factor: the first backoff in seconds; it doubles each time, up to 30 s.
        post: also retry POSTs on 5xx (only for calls iconik deduplicates).
    """
    methods = _IDEMPOTENT | {"POST"} if post else _IDEMPOTENT
    return _IconikRetry(
        total=total,
        backoff_factor=backoff_factor,
        backoff_max=30,
        backoff_jitter=backoff_factor / 2,
        status_forcelist=_RETRY_STATUSES,
        allowed_methods=methods,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class RateLimitedAdapter(HTTPAdapter):
    """An HTTPAdapter that waits for the instance-wide rate limiter before each request."""

    def __init__(self, limiter: Any | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._limiter = limiter

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if self._limiter is not None:
            self._limiter.try_acquire("iconik")
        return super().send(request, stream, timeout, verify, cert, proxies)


_limiters: dict[float, Any] = {}
_limiters_lock = threading.Lock()


def shared_limiter(max_rps: float) -> Any:
    """The limiter all threads of this instance share for a given rate (created once).

    iconik's limit (about 50 requests a second) is per application, so every action's client on
    this instance must draw from one budget, not one each.
    """
    with _limiters_lock:
        limiter = _limiters.get(max_rps)
        if limiter is None:
            from pyrate_limiter import Duration, Limiter, Rate

            if max_rps >= 1:
                rate = Rate(int(max_rps), Duration.SECOND)
            else:
                rate = Rate(1, int(1000 / max_rps))
            limiter = _limiters[max_rps] = Limiter(rate)
        return limiter


class IconikClient:
    """iconik's Assets, Files, Jobs and Search APIs, as the plugin uses them.

    Args:
        base_url: ``ICONIK_URL``; every request, including ``next_url`` pages, goes only here.
        app_id: ``ICONIK_ID``, sent as ``App-ID``.
        token: the acting user's ``auth_token``, sent as ``Auth-Token`` (never logged).
        max_rps: the instance-wide request-rate cap, or None for none.
        timeout: (connect, read) seconds for each call.
        retry: the retry policy for idempotent calls (tests pass a fast one).
        copy_retry: the policy for bulk copies, which may also retry POST on 5xx.
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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        limiter = shared_limiter(max_rps) if max_rps else None
        self.session = requests.Session()
        self.session.headers.update(
            {"App-ID": app_id, "Auth-Token": token, "Accept": "application/json"}
        )
        self.session.mount(
            self.base_url + "/",
            RateLimitedAdapter(limiter, max_retries=_limited(retry or retry_policy(), limiter)),
        )
        self.session.mount(
            self.base_url + "/API/files/v1/storages/",
            RateLimitedAdapter(
                limiter, max_retries=_limited(copy_retry or retry_policy(post=True), limiter)
            ),
        )

    def __repr__(self) -> str:
        return f"IconikClient({self.base_url!r})"

    def use_token(self, token: str) -> None:
        """Act with another token of the same user from now on (after renewing it)."""
        self.session.headers["Auth-Token"] = token

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    def __enter__(self) -> IconikClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- storages --------------------------------------------------------------------------

    def get_storage(self, storage_id: str) -> Json | None:
        """The storage, or None when iconik does not know it."""
        return self._call("GET", f"/API/files/v1/storages/{storage_id}/", missing_ok=True)

    def list_storages(self) -> list[Json]:
        """Every storage the user can see."""
        return list(self._pages("/API/files/v1/storages/", {"per_page": PER_PAGE}))

    # -- copies ----------------------------------------------------------------------------

    def bulk_copy(
        self,
        destination_id: str,
        asset_ids: list[str],
        format_name: str,
        source_id: str | None = None,
    ) -> str:
        """Ask iconik to copy one format of up to 500 assets to a storage.

        Returns:
            the id of the copy job iconik created.
        """
        if not 0 < len(asset_ids) <= BULK_LIMIT:
            raise ValueError(f"bulk_copy takes 1 to {BULK_LIMIT} asset ids, not {len(asset_ids)}")
        body: Json = {
            "object_ids": asset_ids,
            "object_type": "assets",
            "format_name": format_name,
            "allow_duplicate_transfers": False,
        }
        if source_id:
            body["preferred_original_storage_id"] = source_id
        answer = self._call("POST", f"/API/files/v1/storages/{destination_id}/bulk/", json=body)
        return str((answer or {}).get("job_id") or "")

    # -- formats, file sets, files ---------------------------------------------------------

    def asset_formats(self, asset_id: str) -> list[Json]:
        """Every format of the asset (empty when it has none)."""
        return self._list(f"/API/files/v1/assets/{asset_id}/formats/")

    def asset_file_sets(self, asset_id: str) -> list[Json]:
        """Every file set of the asset, all formats and storages, with ``file_count`` filled."""
        return self._list(f"/API/files/v1/assets/{asset_id}/file_sets/", file_count="true")

    def asset_files(self, asset_id: str) -> list[Json]:
        """Every file of the asset, all formats and storages."""
        return self._list(f"/API/files/v1/assets/{asset_id}/files/", generate_signed_url="false")

    def delete_file_set(self, asset_id: str, file_set_id: str) -> None:
        """Delete a file set, skipping the recycle bin (one call, not delete then purge).

        ``immediately=true`` is iconik's own "delete and purge at once" (files spec: "skip the
        recycle bin"). A file set that is already gone (404) counts as deleted, so a step that
        runs twice, or two actions on the same asset, do no harm.
        """
        path = f"/API/files/v1/assets/{asset_id}/file_sets/{file_set_id}/"
        self._call("DELETE", path, params={"immediately": "true"}, missing_ok=True)

    def get_asset(self, asset_id: str) -> Json | None:
        """The asset (for its title), or None when iconik does not know it."""
        return self._call("GET", f"/API/assets/v1/assets/{asset_id}/", missing_ok=True)

    # -- collections and saved searches ----------------------------------------------------

    def collection_contents(self, collection_id: str) -> Iterator[Json]:
        """The direct children (assets and collections) of a collection, every page.

        Raises:
            IconikHTTPError: 404 when the collection does not exist.
        """
        return self._pages(
            f"/API/assets/v1/collections/{collection_id}/contents/",
            {"per_page": PER_PAGE, "object_types": "assets,collections"},
        )

    def saved_search_results(self, search_id: str) -> Iterator[Json]:
        """The objects a saved search finds, every page."""
        return self._pages(f"/API/search/v1/search/saved/{search_id}/", {"per_page": PER_PAGE})

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, job: Json) -> str:
        """Create an iconik job; returns its id."""
        answer = self._call("POST", "/API/jobs/v1/jobs/", json=job) or {}
        job_id = answer.get("id")
        if not job_id:
            raise IconikHTTPError(200, ["job created without an id"], "POST", "/API/jobs/v1/jobs/")
        return str(job_id)

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Change some fields of a job (a partial PATCH); ``metadata`` keys are merged."""
        params = {"merge_metadata": "true"} if "metadata" in fields else None
        self._call("PATCH", f"/API/jobs/v1/jobs/{job_id}/", params=params, json=fields)

    def get_job(self, job_id: str) -> Json | None:
        """The job, or None when iconik does not know it."""
        return self._call("GET", f"/API/jobs/v1/jobs/{job_id}/", missing_ok=True)

    def child_jobs(self, parent_id: str, status: str | None = None) -> list[Json]:
        """The jobs iconik made under a parent job (a bulk copy's per-asset transfers)."""
        params: dict[str, Any] = {"parent_id": parent_id, "per_page": PER_PAGE}
        if status:
            params["status"] = status
        return list(self._pages("/API/jobs/v1/jobs/", params))

    def started_jobs(self, most: int = 500) -> list[Json]:
        """The user's CUSTOM jobs still STARTED, newest first (at most ``most``)."""
        params = {"type": "CUSTOM", "status": "STARTED", "per_page": PER_PAGE}
        return list(itertools.islice(self._pages("/API/jobs/v1/jobs/", params), most))

    # -- the user's token ------------------------------------------------------------------

    def check_token(self) -> Json:
        """iconik's answer on the session's token (401 when it is no longer valid)."""
        return self._call("GET", "/API/auth/v1/auth/token/") or {}

    def new_token(self) -> Json:
        """A new token for the same user and application; the current one stays valid.

        Returns:
            iconik's TokenSchema: ``token`` and ``expires``.
        """
        return self._call("POST", "/API/auth/v1/auth/token/", json={}) or {}

    # -- custom actions --------------------------------------------------------------------

    def list_custom_actions(self) -> list[Json]:
        """Every custom action of the domain, all contexts."""
        return list(self._pages("/API/assets/v1/custom_actions/", {}))

    def create_custom_action(self, context: str, action: Json) -> Json:
        """Create a custom action in a context; returns it as iconik stored it."""
        return self._call("POST", f"/API/assets/v1/custom_actions/{context}/", json=action) or {}

    def update_custom_action(self, context: str, action_id: str, action: Json) -> Json:
        """Replace a custom action's fields; returns it as iconik stored it."""
        path = f"/API/assets/v1/custom_actions/{context}/{action_id}/"
        return self._call("PUT", path, json=action) or {}

    def delete_custom_action(self, context: str, action_id: str) -> None:
        """Delete a custom action; one already gone counts as deleted."""
        path = f"/API/assets/v1/custom_actions/{context}/{action_id}/"
        self._call("DELETE", path, missing_ok=True)

    # -- plumbing --------------------------------------------------------------------------

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
            path = _local_path(next_url)
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


def _local_path(next_url: str) -> str:
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
