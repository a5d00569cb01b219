"""The custom-action request iconik sends, validated into typed values.

Operations never see raw dicts: :meth:`CustomAction.from_json` checks the body and
:meth:`ActionOptions.from_query` the query string of the action's URL, each raising
:class:`PayloadError` naming the field. The ``auth_token`` is kept out of ``repr`` so it cannot
reach a log line by accident.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from b2_iconik.base.config import Settings, canonical_uuid, parse_formats
from b2_iconik.base.errors import ConfigError, PayloadError

CONTEXTS = frozenset({"ASSET", "COLLECTION", "BULK", "SAVED_SEARCH"})
OPERATIONS = ("add", "remove")
_ID_LISTS = ("asset_ids", "collection_ids", "saved_search_ids")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}
_TOKEN = re.compile(r"[!-~]+\Z")
# The spellings of a UUID that Python's uuid module documents, in ASCII hex digits only.
_UUID = re.compile(
    r"(?:urn:uuid:)?\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
    r"[0-9a-fA-F]{12}\}?\Z"
)
_TOKEN_PADDING = " \t\r\n"

_excerpt = reprlib.Repr()
_excerpt.maxstring = _excerpt.maxother = 60
_excerpt.maxlevel, _excerpt.maxlist, _excerpt.maxdict = 2, 4, 4


def shown(value: Any) -> str:
    """A short ``repr`` of a value from the request, for an error text.

    The text is answered and logged: echoing a value whole would make a body of up to 1 MiB
    into a log line (Cloud Logging takes at most 256 KB for one entry) and an answer as big.
    """
    return _excerpt.repr(value)


@dataclass(frozen=True)
class CustomAction:
    """What the user selected, and the token to act with on their behalf."""

    context: str
    asset_ids: tuple[str, ...] = ()
    collection_ids: tuple[str, ...] = ()
    saved_search_ids: tuple[str, ...] = ()
    auth_token: str = field(default="", repr=False)
    user_id: str | None = None
    action_id: str | None = None
    system_domain_id: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> CustomAction:
        """Validate iconik's custom-action body.

        Raises:
            PayloadError: the body is not an object, the context is not one we serve, an id is
                not a UUID, nothing is selected, or ``auth_token`` could not be sent as a header
                (printable ASCII only). A missing or empty ``auth_token`` is not an error here
                (``auth_token`` is then ""): whether the plugin may act without one is the
                handler's decision.
        """
        if not isinstance(body, dict):
            raise PayloadError("body", "must be a JSON object")
        context = body.get("context")
        if not isinstance(context, str) or context not in CONTEXTS:  # a list is unhashable
            allowed = ", ".join(sorted(CONTEXTS))
            raise PayloadError("context", f"must be one of {allowed}, not {shown(context)}")
        ids = {name: _uuid_list(body, name) for name in _ID_LISTS}
        if not any(ids.values()):
            raise PayloadError(
                "asset_ids",
                "nothing selected: asset_ids, collection_ids and saved_search_ids are all empty",
            )
        token = body.get("auth_token")
        if token is None:
            token = ""  # iconik's Automation engine may send none: the plugin's own is used
        if not isinstance(token, str):
            raise PayloadError("auth_token", "must be a string (iconik's token)")
        token = token.strip(_TOKEN_PADDING)
        if token and not _TOKEN.match(token):
            # It travels as the Auth-Token header: anything else either cannot be sent (a 500
            # deep in http.client) or would split the header. Never echoed: it is a credential.
            raise PayloadError(
                "auth_token", "must be printable ASCII without spaces, as iconik's tokens are"
            )
        return cls(
            context=context,
            asset_ids=ids["asset_ids"],
            collection_ids=ids["collection_ids"],
            saved_search_ids=ids["saved_search_ids"],
            auth_token=token,
            user_id=_optional_str(body, "user_id"),
            action_id=_optional_str(body, "action_id"),
            system_domain_id=_optional_str(body, "system_domain_id"),
        )

    def describe(self) -> str:
        """The selection in words, e.g. "2 assets and 1 collection"."""
        parts = [
            _count(len(self.asset_ids), "asset"),
            _count(len(self.collection_ids), "collection"),
            _count(len(self.saved_search_ids), "saved search", "saved searches"),
        ]
        words = [p for p in parts if p]
        return (
            " and ".join(words) if len(words) <= 2 else ", ".join(words[:-1]) + " and " + words[-1]
        )


@dataclass(frozen=True)
class ActionOptions:
    """Where to copy between, which formats, and whether to only report (from the URL)."""

    b2_storage_id: str
    ll_storage_id: str
    formats: tuple[str, ...]
    dry_run: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str], settings: Settings) -> ActionOptions:
        """Read the action URL's query, falling back to the configured defaults.

        Raises:
            PayloadError: a storage is missing, not a UUID, or both are the same; ``formats``
                or ``dry_run`` is malformed.
        """
        b2 = _storage(query, "b2_storage_id", settings.b2_storage_id, "B2_STORAGE_ID")
        ll = _storage(query, "ll_storage_id", settings.ll_storage_id, "LL_STORAGE_ID")
        if b2 == ll:
            raise PayloadError(
                "ll_storage_id",
                f"is the same storage as b2_storage_id ({b2}); Remove would delete the only copy",
            )
        formats = settings.format_names
        if "formats" in query:
            try:
                formats = parse_formats("formats", query["formats"])
            except ConfigError as error:
                raise PayloadError("formats", str(error).removeprefix("formats ")) from None
        return cls(b2, ll, formats, _flag(query, "dry_run"))


def _uuid_list(body: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PayloadError(name, "must be a list of ids")
    for item in value:
        if not _is_uuid(item):
            raise PayloadError(name, f"{shown(item)} is not an iconik id (a UUID)")
    return tuple(dict.fromkeys(canonical_uuid(item) for item in value))


def _is_uuid(value: object) -> bool:
    """True for a UUID written in ASCII hex (any case, with or without dashes or braces).

    Not ``uuid.UUID`` alone: it reads the hex with ``int(..., 16)``, which also takes other
    scripts' digits, spaces and underscores, so ``"a00…1 "`` (31 digits and a space) would be
    read as another object's id, ``0a00…1``.
    """
    return isinstance(value, str) and _UUID.match(value) is not None


def _optional_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None


def _storage(query: Mapping[str, str], name: str, default: str | None, env: str) -> str:
    value = (query.get(name) or "").strip() or default
    if not value:
        raise PayloadError(name, f"is missing: set it on the action URL or as {env}")
    if not _is_uuid(value):
        raise PayloadError(name, f"{shown(value)} is not a storage id (a UUID)")
    return canonical_uuid(value)


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise PayloadError(name, f"must be true or false, not {shown(value)}")


def _count(n: int, singular: str, plural: str | None = None) -> str:
    if not n:
        return ""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"
