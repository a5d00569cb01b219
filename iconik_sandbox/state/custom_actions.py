"""iconik's custom actions: registered per context, changed, failing, removed."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from iconik_sandbox.errors import BadRequest, NotFound
from iconik_sandbox.state.tables import SYSTEM_DOMAIN_ID, Record, Tables, now_iso

CUSTOM_ACTION_CONTEXTS = (
    "ASSET",
    "ASSET_SUBCLIP",
    "SHARED_ASSET",
    "COLLECTION",
    "SHARED_COLLECTION",
    "BULK",
    "SAVED_SEARCH",
    "NONE",
)
_CUSTOM_ACTION_FIELDS = (
    "type",
    "context",
    "title",
    "url",
    "headers",
    "app_id",
    "metadata_view",
    "disabled",
    "status",
)


class CustomActions(Tables):
    """The custom actions of every context."""

    # -- custom actions ------------------------------------------------------------------------
    def create_custom_action(self, context: str, body: Mapping[str, Any]) -> Record:
        """Register a custom action for a context; the server sets id, dates and status."""
        with self.lock:
            check_context(context)
            if body.get("context", context) != context:
                raise BadRequest("context in the body does not match the path")
            stamp = now_iso()
            action: Record = {
                "type": "POST",
                "headers": {},
                "app_id": None,
                "metadata_view": None,
                "disabled": False,
            }
            action.update({k: copy.deepcopy(body[k]) for k in _CUSTOM_ACTION_FIELDS if k in body})
            action.update(
                id=self.new_id(),
                context=context,
                system_domain_id=SYSTEM_DOMAIN_ID,
                date_created=stamp,
                date_modified=stamp,
                status="HEALTHY",
                last_error=None,
                last_error_date=None,
            )
            self.custom_actions[action["id"]] = action
            return action

    def custom_action(self, context: str, action_id: str) -> Record:
        """The custom action of that context, or NotFound."""
        with self.lock:
            check_context(context)
            action = self.custom_actions.get(action_id)
            if action is None or action["context"] != context:
                raise NotFound("Custom action does not exist")
            return action

    def custom_actions_list(self, context: str | None = None) -> list[Record]:
        """All custom actions, or those of one context."""
        with self.lock:
            if context is not None:
                check_context(context)
            return [
                a
                for a in self.custom_actions.values()
                if context is None or a["context"] == context
            ]

    def update_custom_action(
        self, context: str, action_id: str, body: Mapping[str, Any], replace: bool = False
    ) -> Record:
        """PATCH (merge) or PUT (``replace``: unspecified optional fields reset) an action."""
        with self.lock:
            action = self.custom_action(context, action_id)
            if replace:
                action.update(
                    type="POST", headers={}, app_id=None, metadata_view=None, disabled=False
                )
            for key in _CUSTOM_ACTION_FIELDS:
                if key in body and key != "context":
                    action[key] = copy.deepcopy(body[key])
            action["date_modified"] = now_iso()
            return action

    def delete_custom_action(self, context: str, action_id: str) -> None:
        """Remove a custom action (NotFound if it does not exist)."""
        with self.lock:
            self.custom_action(context, action_id)
            del self.custom_actions[action_id]

    def mark_action_failing(self, action_id: str, error: str = "Connection timed out") -> Record:
        """Make an action FAILING with ``last_error``, as iconik does after failed calls."""
        with self.lock:
            action = self.custom_actions[action_id]
            action.update(status="FAILING", last_error=error, last_error_date=now_iso())
            return action


def check_context(context: str) -> None:
    """400 unless ``context`` is one of iconik's custom-action contexts."""
    if context not in CUSTOM_ACTION_CONTEXTS:
        raise BadRequest(f"Invalid context {context!r}")
