"""The planning rule: from the actions iconik has to the changes ``create`` or ``delete`` makes.

Pure functions, no iconik: the dry run and the real run print the same plan, and tests check a
plan without a server. The rule: exactly one action per context and operation for the endpoint,
updated in place when it differs (keeping what an operator set in iconik), duplicates deleted,
missing ones created, and actions of other endpoints never looked at.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from b2_iconik.custom_actions.actions import (
    CONTEXTS,
    OPERATIONS,
    ActionSpec,
    Json,
    desired_action,
    operation_of,
    plugin_actions,
)

#: Fields of an action the tool owns; an update changes these and keeps the rest.
OWNED_FIELDS: tuple[str, ...] = ("type", "context", "title", "url", "headers", "app_id")
#: Fields an operator may have set in iconik's admin UI, carried over by an update (PUT).
KEPT_FIELDS: tuple[str, ...] = ("disabled", "metadata_view")

ChangeKind = Literal["create", "update", "delete", "unchanged"]


@dataclass(frozen=True)
class Change:
    """One thing ``create`` or ``delete`` would do to one custom action.

    Attributes:
        kind: create, update, delete, or unchanged (shown, but nothing is sent).
        context: the iconik context of the action.
        action: the body to send (create/update), or the existing action (delete/unchanged).
        action_id: the existing action's id (update/delete/unchanged).
        fields: for an update, the names of the owned fields that differ.
    """

    kind: ChangeKind
    context: str
    action: Json
    action_id: str | None = None
    fields: tuple[str, ...] = field(default=())


def _differs(current: Json, wanted: Json) -> tuple[str, ...]:
    """The owned fields whose values differ (app ids compared without dashes or case)."""
    changed = []
    for name in OWNED_FIELDS:
        have, want = current.get(name), wanted.get(name)
        if name == "app_id" and isinstance(have, str) and isinstance(want, str):
            have, want = have.replace("-", "").lower(), want.replace("-", "").lower()
        if name == "headers":
            have = have or {}
        if have != want:
            changed.append(name)
    return tuple(changed)


def reconcile(matches: list[Json], wanted: Json, context: str) -> list[Change]:
    """The changes for one context and operation, given the endpoint's actions for it."""
    if not matches:
        return [Change("create", context, wanted)]
    first, *duplicates = matches
    fields = _differs(first, wanted)
    if fields:
        body = {**{k: first[k] for k in KEPT_FIELDS if first.get(k) is not None}, **wanted}
        kept = Change("update", context, body, str(first.get("id")), fields)
    else:
        kept = Change("unchanged", context, first, str(first.get("id")))
    return [kept, *(Change("delete", context, d, str(d.get("id"))) for d in duplicates)]


def plan_create(existing: Iterable[Json], spec: ActionSpec) -> list[Change]:
    """What ``create`` must do so that exactly one action per context and operation exists.

    The endpoint's existing action for a context and operation is updated in place (or left
    alone when already right); any duplicates of it, e.g. from running an older tool twice, are
    deleted; missing ones are created. Actions of other endpoints are not looked at.
    """
    ours = plugin_actions(existing, spec.endpoint)
    changes: list[Change] = []
    for operation in OPERATIONS:
        for context in CONTEXTS:
            matches = [
                a
                for a in ours
                if a.get("context") == context and operation_of(a.get("url")) == operation
            ]
            changes.extend(reconcile(matches, desired_action(spec, context, operation), context))
    return changes


def plan_delete(existing: Iterable[Json], endpoint: str) -> list[Change]:
    """What ``delete`` removes: the endpoint's plugin actions, every context, nothing else."""
    return [
        Change("delete", str(a.get("context")), a, str(a.get("id")))
        for a in plugin_actions(existing, endpoint)
    ]
