"""What the plugin's custom actions are: which ones, their URLs and titles, and their bodies.

An action belongs to the plugin when its URL path ends with ``/add`` or ``/remove``; it belongs to
one deployment when the rest of the URL is that deployment's endpoint. Everything here is pure, so
the planning rule (:mod:`.plan`) and the tests can use it without iconik.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from b2_iconik.custom_actions.errors import UsageError

Json = dict[str, Any]

#: The contexts the plugin's actions appear in (one action per context and operation).
CONTEXTS: tuple[str, ...] = ("ASSET", "COLLECTION", "BULK", "SAVED_SEARCH")
#: The operations, as the last segment of the action's URL path.
OPERATIONS: tuple[str, ...] = ("add", "remove")
#: The header iconik sends with every call, carrying the shared secret.
SECRET_HEADER = "x-bz-secret"
#: Words for the format names iconik ships with; other names are shown as written.
FORMAT_WORDS: dict[str, str] = {
    "ORIGINAL": "original",
    "PPRO_PROXY": "Premiere Pro proxy",
    "EDIT_PROXY": "edit proxy",
    "PROXY": "proxy",
    "HIGH_RES_PROXY": "high resolution proxy",
    "AUDIO_PROXY": "audio proxy",
}


# -- URLs ----------------------------------------------------------------------------------


def normalize_endpoint(endpoint: str) -> str:
    """The function's URL without a trailing slash, checked to be a plain http(s) URL.

    A query or fragment would end up in the middle of the action URLs, so it is refused.

    Raises:
        UsageError: the endpoint is not such a URL, or already ends with an operation.
    """
    endpoint = endpoint.strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"ENDPOINT must be the function's http(s) URL, not {endpoint!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"ENDPOINT must not have a query or fragment: {endpoint!r}")
    if parts.path.rstrip("/").rsplit("/", 1)[-1] in OPERATIONS:
        raise UsageError(
            f"ENDPOINT is the function's URL without /add or /remove (the tool adds them): "
            f"{endpoint!r}"
        )
    return endpoint.rstrip("/")


def url_base(url: str) -> tuple[str, str, str]:
    """scheme, host and path (no trailing slash) of a URL, scheme and host in lower case."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")


def operation_of(url: object, endpoint: str | None = None) -> str | None:
    """``add`` or ``remove`` when the URL is one of the plugin's actions, else None.

    A plugin action's URL path ends with ``/add`` or ``/remove`` (a trailing slash allowed, the
    query ignored). With an endpoint, the path must also be exactly that endpoint's path plus the
    operation, on the same scheme and host: actions of other deployments are not ours to touch.
    """
    if not isinstance(url, str):
        return None
    scheme, host, path = url_base(url)
    operation = path.rsplit("/", 1)[-1]
    if operation not in OPERATIONS or "/" not in path:
        return None
    if endpoint is not None:
        e_scheme, e_host, e_path = url_base(endpoint)
        if (scheme, host, path) != (e_scheme, e_host, f"{e_path}/{operation}"):
            return None
    return operation


def action_url(endpoint: str, operation: str, query: dict[str, str]) -> str:
    """The URL iconik will POST to: the endpoint, the operation, and the query parameters.

    Commas stay literal (``formats=ORIGINAL,PPRO_PROXY``) so the URL reads well in iconik's admin.
    """
    url = f"{endpoint}/{operation}"
    return f"{url}?{urlencode(query, safe=',')}" if query else url


# -- titles --------------------------------------------------------------------------------


def format_words(formats: Sequence[str]) -> str:
    """The formats in words: "original", "original and Premiere Pro proxy", "a, b and c"."""
    words = [FORMAT_WORDS.get(name.upper(), name) for name in formats]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def action_title(operation: str, formats: Sequence[str]) -> str:
    """The title users see in iconik's menu: what it does, to which formats."""
    what = format_words(formats)
    if operation == "add":
        return f"Add {what} files to LucidLink"
    return f"Remove {what} files from LucidLink"


# -- what the actions should be --------------------------------------------------------------


@dataclass(frozen=True)
class ActionSpec:
    """What ``create`` was asked for; everything needed to build the actions' bodies.

    Attributes:
        endpoint: the function's URL, normalized.
        app_id: ``ICONIK_ID``: iconik hands the plugin a token of this application.
        secret: ``BZ_SHARED_SECRET``, sent by iconik as ``x-bz-secret`` (repr hides it).
        b2_storage_id, ll_storage_id: put in the URL when given.
        formats: put in the URL when given (None: the function's ``FORMAT_NAMES`` decides).
    """

    endpoint: str
    app_id: str
    secret: str = field(repr=False)
    b2_storage_id: str | None = None
    ll_storage_id: str | None = None
    formats: tuple[str, ...] | None = None

    def query(self) -> dict[str, str]:
        """The query parameters of both actions' URLs, only those given."""
        query: dict[str, str] = {}
        if self.b2_storage_id:
            query["b2_storage_id"] = self.b2_storage_id
        if self.ll_storage_id:
            query["ll_storage_id"] = self.ll_storage_id
        if self.formats:
            query["formats"] = ",".join(self.formats)
        return query


def desired_action(spec: ActionSpec, context: str, operation: str) -> Json:
    """The custom action body for one context and operation (CustomActionSchema)."""
    return {
        "type": "POST",
        "context": context,
        "title": action_title(operation, spec.formats or ("ORIGINAL",)),
        "url": action_url(spec.endpoint, operation, spec.query()),
        "headers": {SECRET_HEADER: spec.secret},
        "app_id": spec.app_id,
    }


def plugin_actions(actions: Iterable[Json], endpoint: str | None = None) -> list[Json]:
    """The actions that belong to the plugin (optionally to one endpoint), in a stable order."""
    ours = [a for a in actions if operation_of(a.get("url"), endpoint)]
    order = {c: i for i, c in enumerate(CONTEXTS)}
    return sorted(
        ours,
        key=lambda a: (
            str(a.get("url", "")).split("?")[0],
            order.get(str(a.get("context")), len(order)),
            str(a.get("context")),
            str(a.get("title")),
        ),
    )
