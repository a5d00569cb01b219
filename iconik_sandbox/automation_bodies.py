"""What an automation is made of, as the sandbox plays it: trigger types, the bodies tests and
scripts build (``review_trigger`` ... ``automation_body``), and checking a body against what the
spec cannot say (the custom action and the collections must exist)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from iconik_sandbox.errors import BadRequest
from iconik_sandbox.state import Record, State

REVIEW = "REVIEW_STATUS_CHANGED"
ADDED = "OBJECT_ADDED_TO_COLLECTION"
COLLECTION_TRIGGERS = (ADDED, "OBJECT_REMOVED_FROM_COLLECTION")
#: day-based trigger type -> (its parameter, the asset date it counts from)
DAY_TRIGGERS = {
    "MODIFIED_AT_TRANSITION": ("days_since_modified", "date_modified"),
    "CREATED_AT_TRANSITION": ("days_since_created", "date_created"),
}
STATUSES = ("ACTIVE", "INACTIVE")


def check(state: State, record: Record) -> None:
    """400 with every problem: bad triggers or action, status or a missing name."""
    problems = [*_trigger_problems(state, record), *_action_problems(state, record)]
    if record.get("status") not in STATUSES:
        problems.append(f"status: must be one of {', '.join(STATUSES)}")
    if not record.get("name"):
        problems.append("name: Missing data for required field.")
    if problems:
        raise BadRequest(*problems)


def _trigger_problems(state: State, record: Record) -> list[str]:
    triggers = record.get("triggers")
    if not isinstance(triggers, list) or not 1 <= len(triggers) <= 10:
        return ["triggers: give 1 to 10 triggers"]
    problems = []
    for index, trigger in enumerate(triggers):
        if trigger.get("type") in COLLECTION_TRIGGERS:
            for collection_id in trigger.get("parameters", {}).get("collection_ids", []):
                if collection_id not in state.collections:
                    problems.append(
                        f"triggers/{index}/parameters/collection_ids: collection "
                        f"{collection_id} does not exist"
                    )
    return problems

def _action_problems(state: State, record: Record) -> list[str]:
    actions = record.get("actions")
    if not isinstance(actions, list) or len(actions) != 1:
        return ["actions: give exactly one action"]
    action = actions[0]
    if action.get("type") != "CUSTOM_ACTION":
        kind = action.get("type")
        return [f"actions/0/type: the sandbox runs CUSTOM_ACTION only, not {kind}"]
    action_id = action.get("parameters", {}).get("action_id")
    if action_id not in state.custom_actions:
        return [f"actions/0/parameters/action_id: custom action {action_id} does not exist"]
    return []


def review_trigger(*statuses: str) -> Record:
    """A REVIEW_STATUS_CHANGED trigger (no statuses: any change)."""
    return {"type": REVIEW, "parameters": {"statuses": list(statuses)}}


def collection_trigger(*collection_ids: str, include_subcollections: bool = False) -> Record:
    """An OBJECT_ADDED_TO_COLLECTION trigger for assets."""
    return {
        "type": ADDED,
        "parameters": {
            "collection_ids": list(collection_ids),
            "object_type": "assets",
            "include_subcollections": include_subcollections,
        },
    }


def modified_trigger(days: int) -> Record:
    """A MODIFIED_AT_TRANSITION trigger: not modified for ``days`` days."""
    return {"type": "MODIFIED_AT_TRANSITION", "parameters": {"days_since_modified": days}}


def created_trigger(days: int) -> Record:
    """A CREATED_AT_TRANSITION trigger: created ``days`` days ago."""
    return {"type": "CREATED_AT_TRANSITION", "parameters": {"days_since_created": days}}


def custom_action(
    action_id: str, context: str = "ASSET", metadata_values: Mapping[str, Any] | None = None
) -> Record:
    """A CUSTOM_ACTION action."""
    params: Record = {"action_id": action_id, "context": context}
    if metadata_values is not None:
        params["metadata_values"] = dict(metadata_values)
    return {"type": "CUSTOM_ACTION", "parameters": params}


def automation_body(
    name: str, triggers: Iterable[Record], action: Record, status: str = "ACTIVE"
) -> Record:
    """An AutomationSchema body for ``POST /API/automations/v1/automations/``."""
    return {"name": name, "status": status, "triggers": list(triggers), "actions": [action]}
