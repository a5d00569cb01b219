"""What a policy is: an iconik automation whose one action calls a custom action of its own.

A policy is named by a slug (``remove-when-approved``, ``remove-when-unmodified-30d``,
``add-when-in-collection-0f0e1d2c``). Its custom action POSTs to
``ENDPOINT/policies/SLUG/OPERATION`` with the same query, headers and app id as the ordinary
actions (built by :func:`.actions.desired_action`, so the secret header is made in one place);
the plugin reads the policy from that path. The automation's description names the slug and the
endpoint: that is how ``policy list`` and ``policy delete`` know ours and never touch others'.

Everything here is pure, so the commands (:mod:`.policy_cli`) and the tests share one rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from b2_iconik.base.config import canonical_uuid, is_uuid
from b2_iconik.custom_actions.actions import (
    ActionSpec,
    Json,
    desired_action,
    operation_of,
    plugin_actions,
    url_base,
)
from b2_iconik.custom_actions.errors import UsageError

#: What iconik's CUSTOM_ACTION runs in, and so where the policy's own action is created. ASSET
#: is valid in every version of iconik's spec (ASSET|COLLECTION, later ASSET|ASSET_SUBCLIP|BULK).
POLICY_CONTEXT = "ASSET"
#: The policies the tool knows, as named on its command line.
KINDS: tuple[str, ...] = (
    "remove-when-approved",
    "remove-when-unmodified",
    "add-when-in-collection",
)
#: A slug: what the plugin accepts in ``/policies/<slug>/``.
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
#: The automation fields the tool owns; an update sends these and keeps ``status`` and
#: ``conditions`` (filters an operator may have added in iconik's admin).
OWNED_FIELDS: tuple[str, ...] = ("name", "description", "triggers", "actions")
KEPT_FIELDS: tuple[str, ...] = ("status", "conditions")
#: The most days iconik's ``days_since_modified`` (an int32) holds.
INT32_MAX = 2**31 - 1

_DESCRIPTION = re.compile(
    r"^Backblaze B2 plugin policy (?P<slug>\S+) for (?P<endpoint>\S+) "
    r"\(managed by b2-iconik-actions"
)
_NAME_PREFIX = "B2 LucidLink: "


@dataclass(frozen=True)
class Policy:
    """One policy as the tool would create it.

    Attributes:
        slug: its name in URLs and on the command line.
        operation: ``add`` or ``remove``, the plugin operation it runs.
        name: the automation's name in iconik's admin.
        trigger: the automation's one trigger (iconik's ``{type, parameters}``).
    """

    slug: str
    operation: str
    name: str
    trigger: Json


# -- the three policies --------------------------------------------------------------------------


def approved_policy() -> Policy:
    """Remove from LucidLink once an asset's review status becomes APPROVED."""
    return Policy(
        "remove-when-approved",
        "remove",
        _NAME_PREFIX + "remove from LucidLink when approved",
        {"type": "REVIEW_STATUS_CHANGED", "parameters": {"statuses": ["APPROVED"]}},
    )


def unmodified_policy(days: int) -> Policy:
    """Remove from LucidLink once an asset has not been modified for ``days`` days."""
    return Policy(
        f"remove-when-unmodified-{days}d",
        "remove",
        _NAME_PREFIX + f"remove from LucidLink when not modified for {days} days",
        {"type": "MODIFIED_AT_TRANSITION", "parameters": {"days_since_modified": days}},
    )


def collection_policy(collection_id: str, title: str | None) -> Policy:
    """Add to LucidLink what is added to a collection or any of its sub-collections."""
    collection_id = canonical_uuid(collection_id)
    where = f"“{title}”" if title else collection_id
    return Policy(
        f"add-when-in-collection-{collection_id.replace('-', '')[:8]}",
        "add",
        _NAME_PREFIX + f"add to LucidLink when added to collection {where} or its sub-collections",
        {
            "type": "OBJECT_ADDED_TO_COLLECTION",
            "parameters": {
                "collection_ids": [collection_id],
                "object_type": "assets",
                "include_subcollections": True,
            },
        },
    )


def parse_days(text: str | None) -> int:
    """N of ``--days N``: a whole number of days, at least 1 (iconik's minimum).

    Raises:
        UsageError: N is missing, not a whole number, or below 1.
    """
    try:
        days = int(str(text).strip())
    except ValueError:
        days = 0
    if not 1 <= days <= INT32_MAX or str(days) != str(text).strip():
        raise UsageError(f"--days must be a whole number of days, 1 or more, not {text!r}")
    return days


def check_collection_id(text: str | None) -> str:
    """The collection id of ``--collection``, checked to be a UUID.

    Raises:
        UsageError: missing or not a UUID.
    """
    if not is_uuid(text):
        raise UsageError(f"--collection must be a collection id (a UUID), not {text!r}")
    return canonical_uuid(str(text))


def check_slug(slug: str) -> str:
    """A slug as given on the command line, checked to be one the tool could have made.

    Raises:
        UsageError: it has characters no slug has.
    """
    if not SLUG.fullmatch(slug):
        raise UsageError(
            f"{slug!r} is not a policy slug (lower-case letters, digits and dashes, "
            "e.g. remove-when-approved)"
        )
    return slug


# -- the policy's custom action ------------------------------------------------------------------


def policy_base(endpoint: str, slug: str) -> str:
    """The URL before the operation: the endpoint, then ``/policies/SLUG``."""
    return f"{endpoint}/policies/{slug}"


def desired_policy_action(spec: ActionSpec, policy: Policy) -> Json:
    """The policy's custom action: an ordinary action's body on the policy's own URL."""
    body = desired_action(
        replace(spec, endpoint=policy_base(spec.endpoint, policy.slug)),
        POLICY_CONTEXT,
        policy.operation,
    )
    return {**body, "title": f"Policy {policy.slug}: {body['title']}"}


def policy_of_url(url: object, endpoint: str | None = None) -> tuple[str, str] | None:
    """(slug, operation) when the URL is a policy action's (of ``endpoint`` when given)."""
    if not isinstance(url, str) or not operation_of(url):
        return None
    scheme, host, path = url_base(url)
    match = re.fullmatch(r"(?P<base>.*)/policies/(?P<slug>[^/]+)/(?P<op>add|remove)", path)
    if not match or not SLUG.fullmatch(match["slug"]):
        return None
    if endpoint is not None and (scheme, host, match["base"]) != url_base(endpoint):
        return None
    return match["slug"], match["op"]


def policy_actions(actions: Iterable[Json], endpoint: str, slug: str | None = None) -> list[Json]:
    """The endpoint's policy actions (of one slug when given), any context."""
    found = []
    for action in actions:
        owner = policy_of_url(action.get("url"), endpoint)
        if owner and slug in (None, owner[0]):
            found.append(action)
    return found


# -- defaults from the ordinary actions ----------------------------------------------------------


def registered_spec(actions: Iterable[Json], spec: ActionSpec, operation: str) -> ActionSpec:
    """The spec with storages and formats not given taken from ENDPOINT's ordinary actions.

    The policy then acts on the same storages and formats as a click on the menu would.

    Raises:
        UsageError: the ordinary actions of the endpoint are not registered.
    """
    ordinary = plugin_actions(actions, spec.endpoint)
    if not ordinary:
        raise UsageError(
            f"the plugin's actions are not registered for {spec.endpoint}: "
            f"run b2-iconik-actions create {spec.endpoint} first"
        )
    same = [a for a in ordinary if operation_of(a.get("url")) == operation]
    model = next((a for a in same if a.get("context") == POLICY_CONTEXT), (same or ordinary)[0])
    query = parse_qs(urlsplit(str(model.get("url"))).query)

    def first(name: str) -> str | None:
        return query[name][0] if query.get(name) else None

    formats = first("formats")
    return replace(
        spec,
        b2_storage_id=spec.b2_storage_id or first("b2_storage_id"),
        ll_storage_id=spec.ll_storage_id or first("ll_storage_id"),
        formats=spec.formats or (tuple(formats.split(",")) if formats else None),
    )


# -- the automation ------------------------------------------------------------------------------


def description(endpoint: str, slug: str) -> str:
    """The automation's description: marks it as ours, naming the slug and the endpoint."""
    return (
        f"Backblaze B2 plugin policy {slug} for {endpoint} (managed by b2-iconik-actions: "
        "change it with `b2-iconik-actions policy`, edits made here may be overwritten)"
    )


def owner_of(automation: Json) -> tuple[str, str] | None:
    """(endpoint, slug) when the automation is one of the tool's, from its description."""
    match = _DESCRIPTION.match(str(automation.get("description") or ""))
    if not match or not SLUG.fullmatch(match["slug"]):
        return None
    return match["endpoint"], match["slug"]


def our_automations(
    automations: Iterable[Json], endpoint: str | None = None, slug: str | None = None
) -> list[Json]:
    """The tool's automations (of one endpoint, one slug, when given), sorted by slug."""
    found = []
    for automation in automations:
        owner = owner_of(automation)
        if owner is None or slug not in (None, owner[1]):
            continue
        if endpoint is not None and url_base(owner[0]) != url_base(endpoint):
            continue
        found.append(automation)
    return sorted(found, key=lambda a: (owner_of(a) or ("", ""))[::-1])


def desired_automation(endpoint: str, policy: Policy, action_id: str) -> Json:
    """The automation's owned fields (AutomationSchema): one trigger, one CUSTOM_ACTION."""
    return {
        "name": policy.name,
        "description": description(endpoint, policy.slug),
        "triggers": [policy.trigger],
        "actions": [
            {
                "type": "CUSTOM_ACTION",
                "parameters": {"action_id": action_id, "context": POLICY_CONTEXT},
            }
        ],
    }


def automation_differs(current: Json, wanted: Json) -> tuple[str, ...]:
    """The owned fields whose values differ; what iconik adds (defaults, ids) is ignored."""
    return tuple(n for n in OWNED_FIELDS if not _holds(current.get(n), wanted.get(n)))


def _holds(have: Any, want: Any) -> bool:
    """True when ``have`` has everything ``want`` has: dict keys recursively, lists in order."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_holds(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(have) == len(want)
            and all(_holds(h, w) for h, w in zip(have, want, strict=True))
        )
    if isinstance(want, str) and isinstance(have, str) and is_uuid(want) and is_uuid(have):
        return canonical_uuid(want) == canonical_uuid(have)
    return bool(have == want)


def action_id_of(automation: Json) -> str | None:
    """The id of the custom action an automation's first CUSTOM_ACTION calls."""
    for action in automation.get("actions") or []:
        if isinstance(action, dict) and action.get("type") == "CUSTOM_ACTION":
            action_id = (action.get("parameters") or {}).get("action_id")
            return str(action_id) if action_id else None
    return None


def trigger_words(automation: Json) -> str:
    """The automation's triggers in a few words, for ``policy list``."""
    words = []
    for trigger in automation.get("triggers") or []:
        kind = str(trigger.get("type"))
        params = trigger.get("parameters") or {}
        if kind == "REVIEW_STATUS_CHANGED":
            words.append("review status " + "/".join(params.get("statuses") or []))
        elif kind == "MODIFIED_AT_TRANSITION":
            words.append(f"not modified for {params.get('days_since_modified')} days")
        elif kind == "OBJECT_ADDED_TO_COLLECTION":
            ids = ", ".join(params.get("collection_ids") or [])
            sub = " and sub-collections" if params.get("include_subcollections") else ""
            words.append(f"added to collection {ids}{sub}")
        else:
            words.append(kind)
    return "; ".join(words) or "-"
