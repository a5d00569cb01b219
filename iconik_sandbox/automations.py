"""iconik's Automation engine as the sandbox plays it: automations (``AutomationSchema``
records), their triggers, runs on existing objects, and the history of executions.

What iconik documents is followed (``/work/shared/iconik-api/automations.md``): only ACTIVE
automations react to events; every trigger of an automation must have happened for an object,
in any order; the one action runs once per automation, object and version, and each execution is
recorded as an ``AutomationHistorySchema``. The sandbox makes four trigger types happen:

* ``REVIEW_STATUS_CHANGED``: an asset's approval status changes to one of ``statuses``;
* ``OBJECT_ADDED_TO_COLLECTION``: an asset is added to one of ``collection_ids`` (or to a
  sub-collection of one, with ``include_subcollections``);
* ``MODIFIED_AT_TRANSITION`` / ``CREATED_AT_TRANSITION``: ``days_since_modified`` /
  ``days_since_created`` days pass since the asset's ``date_modified`` / ``date_created``,
  checked whenever the sandbox's clock moves (an asset crosses the line between two checks;
  one already past it when the automation was made or switched on does not: a run is for those).

Other trigger types are accepted and kept but never happen; ``conditions`` are kept, not
evaluated. Only ``CUSTOM_ACTION`` actions run, their requests sent by ``Deliveries``. Events come
from the API routes and the admin calls, not from direct edits of ``State`` (seeding fires
nothing). Everything here holds the state's lock, so one lock orders events and reads.

What an automation body may hold, and the builders of bodies, are in
:mod:`iconik_sandbox.automation_bodies`; the record of executions in
:mod:`iconik_sandbox.automation_history`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from iconik_sandbox.automation_bodies import ADDED, DAY_TRIGGERS, REVIEW, check
from iconik_sandbox.automation_history import History, HistoryKey
from iconik_sandbox.deliveries import Deliveries, Order
from iconik_sandbox.errors import NotFound
from iconik_sandbox.state import Record, State
from iconik_sandbox.state.tables import DAY_SECONDS, SYSTEM_DOMAIN_ID, USER_ID, epoch, iso

_WRITABLE_DEFAULTS: dict[str, Any] = {
    "description": None,
    "status": "ACTIVE",
    "conditions": [],
}
_WRITABLE = ("name", "description", "status", "triggers", "conditions", "actions")


class Automations:
    """The automations of one sandbox, what their triggers have seen, and their history."""

    def __init__(self, state: State, deliveries: Deliveries) -> None:
        self.state = state
        self.deliveries = deliveries
        self.history = History(state)
        self.reset()

    def reset(self) -> None:
        """Forget every automation, its progress and history."""
        with self.state.lock:
            self.records: dict[str, Record] = {}
            self.history.reset()
            #: (automation id, asset id) -> indices of the triggers that happened for the asset
            self._happened: dict[tuple[str, str], set[int]] = {}
            #: automation id -> the sandbox time its day-based triggers were last checked
            self._checked_at: dict[str, float] = {}

    # -- CRUD ---------------------------------------------------------------------------------
    def create(self, body: Mapping[str, Any], user_id: str) -> Record:
        """A new automation from an AutomationSchema body (read-only fields ignored)."""
        with self.state.lock:
            stamp = iso(self.state.now())
            record: Record = copy.deepcopy(_WRITABLE_DEFAULTS)
            record.update({k: copy.deepcopy(body[k]) for k in _WRITABLE if k in body})
            check(self.state, record)
            record.update(
                id=self.state.new_id(),
                system_domain_id=SYSTEM_DOMAIN_ID,
                created_by=user_id,
                modified_by=user_id,
                date_created=stamp,
                date_modified=stamp,
            )
            self.records[record["id"]] = record
            self._checked_at[record["id"]] = self.state.now()
            return record

    def get(self, automation_id: str) -> Record:
        """The automation, or NotFound."""
        with self.state.lock:
            if automation_id not in self.records:
                raise NotFound("Automation does not exist")
            return self.records[automation_id]

    def all(self) -> list[Record]:
        """Every automation, oldest first."""
        with self.state.lock:
            return list(self.records.values())

    def update(
        self, automation_id: str, body: Mapping[str, Any], user_id: str, replace: bool = False
    ) -> Record:
        """PATCH (merge) or PUT (``replace``: optional fields not given go back to defaults).
        New triggers start from nothing; switching on restarts the day-based checks."""
        with self.state.lock:
            old = self.get(automation_id)
            new = copy.deepcopy(old)
            if replace:
                new.update(copy.deepcopy(_WRITABLE_DEFAULTS))
            new.update({k: copy.deepcopy(body[k]) for k in _WRITABLE if k in body})
            check(self.state, new)
            new.update(modified_by=user_id, date_modified=iso(self.state.now()))
            if new["triggers"] != old["triggers"]:
                self._forget_progress(automation_id)
            if new["status"] == "ACTIVE" and old["status"] != "ACTIVE":
                self._checked_at[automation_id] = self.state.now()
            self.records[automation_id] = new
            return new

    def delete(self, automation_id: str) -> None:
        """Remove an automation (its history stays, as a record of what ran)."""
        with self.state.lock:
            self.get(automation_id)
            del self.records[automation_id]
            self._forget_progress(automation_id)
            self._checked_at.pop(automation_id, None)

    def _forget_progress(self, automation_id: str) -> None:
        for key in [k for k in self._happened if k[0] == automation_id]:
            del self._happened[key]

    # -- events -------------------------------------------------------------------------------
    def set_approval(self, asset_id: str, status: str, user_id: str = USER_ID) -> Record:
        """Set an asset's approval status (ApprovalBySchema record); a change is an event."""
        with self.state.lock:
            before = self.state.approval_status(asset_id)
            record = self.state.set_approval(asset_id, status, user_id)
            if status != before:
                self.approval_changed([asset_id], status)
            return record

    def add_to_collection(self, collection_id: str, *asset_ids: str) -> list[str]:
        """Add assets to a collection; those not already in it are an event. Returns them."""
        with self.state.lock:
            for asset_id in asset_ids:
                self.state.asset(asset_id)
            added = self.state.add_to_collection(collection_id, *asset_ids)
            self.added_to_collection(collection_id, added)
            return added

    def advance_clock(self, days: float) -> int:
        """Move the sandbox's clock forward and check the day-based triggers; returns the
        executions started."""
        with self.state.lock:
            self.state.advance_clock(days)
            return self.clock_moved()

    def approval_changed(self, asset_ids: Iterable[str], status: str) -> int:
        """Assets' approval status changed to ``status``; returns the executions started."""

        def matches(trigger: Record) -> bool:
            statuses = trigger.get("parameters", {}).get("statuses") or []
            return trigger.get("type") == REVIEW and (not statuses or status in statuses)

        return self._happen(list(asset_ids), matches)

    def added_to_collection(self, collection_id: str, asset_ids: Iterable[str]) -> int:
        """Assets were added to a collection; returns the executions started."""
        with self.state.lock:
            lineage = set(self.state.collection(collection_id)["parents"])

        def matches(trigger: Record) -> bool:
            params = trigger.get("parameters", {})
            wanted = set(params.get("collection_ids") or [])
            deep = bool(params.get("include_subcollections")) and bool(lineage & wanted)
            return trigger.get("type") == ADDED and (collection_id in wanted or deep)

        return self._happen(list(asset_ids), matches)

    def clock_moved(self) -> int:
        """Check the day-based triggers of every active automation against the sandbox's
        clock; returns the executions started."""
        started = 0
        with self.state.lock:
            now = self.state.now()
            for automation in self._active():
                since = self._checked_at.get(automation["id"], now)
                self._checked_at[automation["id"]] = now
                happened: dict[str, set[int]] = {}
                for index, trigger in enumerate(automation["triggers"]):
                    for asset_id in self._crossed(trigger, since, now):
                        happened.setdefault(asset_id, set()).add(index)
                started += self._advance(automation, happened)
        return started

    def _crossed(self, trigger: Record, since: float, now: float) -> list[str]:
        """Assets whose day line of a day-based trigger falls in (since, now]."""
        if trigger.get("type") not in DAY_TRIGGERS:
            return []
        parameter, date_field = DAY_TRIGGERS[trigger["type"]]
        line = float(trigger.get("parameters", {}).get(parameter, 0)) * DAY_SECONDS
        return [
            asset["id"]
            for asset in self.state.assets.values()
            if since < epoch(asset[date_field]) + line <= now
        ]

    def _active(self) -> list[Record]:
        return [a for a in self.records.values() if a["status"] == "ACTIVE"]

    def _happen(self, asset_ids: list[str], matches: Callable[[Record], bool]) -> int:
        """Triggers that ``matches`` happened for these assets, in every active automation."""
        started = 0
        with self.state.lock:
            for automation in self._active():
                indices = {i for i, t in enumerate(automation["triggers"]) if matches(t)}
                if indices:
                    started += self._advance(automation, dict.fromkeys(asset_ids, indices))
        return started

    def _advance(self, automation: Record, happened: Mapping[str, set[int]]) -> int:
        """Note what happened; execute for the assets whose every trigger now has."""
        ready = []
        for asset_id, indices in happened.items():
            seen = self._happened.setdefault((automation["id"], asset_id), set())
            seen |= indices
            if len(seen) >= len(automation["triggers"]):
                ready.append(asset_id)
        return self._execute(automation, ready, "events")

    # -- runs on existing objects ---------------------------------------------------------------
    def estimate(self, automation_id: str) -> Record:
        """What a run would touch now: AutomationRunEstimateSchema."""
        with self.state.lock:
            asset_ids, problems = self.matching(self.get(automation_id))
            return {"total": len(asset_ids), "facets": {}, "errors": problems}

    def run(self, automation_id: str) -> int:
        """Execute the action on every asset that matches now, whatever ran before (the user
        asked); those executions count as done for the triggers. Returns the assets."""
        with self.state.lock:
            automation = self.get(automation_id)
            asset_ids, _ = self.matching(automation)
            return self._execute(automation, asset_ids, "runs")

    def matching(self, automation: Record) -> tuple[list[str], list[str]]:
        """Assets for which every trigger's condition holds now, and what could not be
        checked (collections gone, triggers the sandbox does not play)."""
        with self.state.lock:
            found: dict[str, None] | None = None
            problems: list[str] = []
            for trigger in automation["triggers"]:
                ids, trouble = self._holding(trigger)
                problems += trouble
                found = dict.fromkeys(i for i in (found if found is not None else ids) if i in ids)
            return list(found or {}), problems

    def _holding(self, trigger: Record) -> tuple[dict[str, None], list[str]]:
        """Assets for which a trigger's condition holds now."""
        kind, params = trigger.get("type"), trigger.get("parameters", {})
        if kind == REVIEW:
            statuses = params.get("statuses") or []
            return dict.fromkeys(
                a for a in self.state.assets
                if not statuses or self.state.approval_status(a) in statuses
            ), []
        if kind == ADDED:
            return self._in_collections(params)
        if kind in DAY_TRIGGERS:
            parameter, date_field = DAY_TRIGGERS[kind]
            oldest = self.state.now() - float(params.get(parameter, 0)) * DAY_SECONDS
            return dict.fromkeys(
                a["id"] for a in self.state.assets.values() if epoch(a[date_field]) <= oldest
            ), []
        return {}, [f"the sandbox does not play {kind} triggers"]

    def _in_collections(self, params: Mapping[str, Any]) -> tuple[dict[str, None], list[str]]:
        found: dict[str, None] = {}
        problems = []
        for collection_id in params.get("collection_ids") or []:
            if collection_id not in self.state.collections:
                problems.append(f"Collection {collection_id} does not exist")
            elif params.get("include_subcollections"):
                found.update(dict.fromkeys(self.state.expand("collections", [collection_id])[0]))
            else:
                found.update(
                    (child, None)
                    for kind, child in self.state.contents[collection_id]
                    if kind == "assets"
                )
        return found, problems

    # -- executions and history -----------------------------------------------------------------
    def _execute(self, automation: Record, asset_ids: list[str], source: str) -> int:
        """Send the action for these assets at their current versions; events skip the ones
        already executed."""
        versions = {a: self.state.version_of(a) for a in asset_ids}
        keys = {a: (automation["id"], a, v) for a, v in versions.items()}
        if source == "events":
            asset_ids = [a for a in asset_ids if keys[a] not in self.history.executed]
        if not asset_ids:
            return 0
        self.history.executed.update(keys[a] for a in asset_ids)
        params = automation["actions"][0]["parameters"]
        order = Order(
            automation_id=automation["id"],
            action_id=params["action_id"],
            user_id=automation["created_by"],
            source=source,
            asset_ids=tuple(asset_ids),
            versions={a: versions[a] for a in asset_ids},
            metadata_values=copy.deepcopy(params.get("metadata_values") or {}),
        )
        self.deliveries.send(order, self.history.record)
        return len(asset_ids)

    def add_history(self, automation_id: str, body: Mapping[str, Any]) -> Record:
        """``POST …/history/``: record an execution (so the automation will not run for that
        object and version)."""
        with self.state.lock:
            self.get(automation_id)
            return self.history.put({**body, "automation_id": automation_id})

    def history_of(self, key: HistoryKey) -> Record:
        """One history record, or NotFound."""
        with self.state.lock:
            return self.history.of(key)

    def delete_history(self, key: HistoryKey) -> None:
        """Forget an execution: the automation may run again for that object and version."""
        with self.state.lock:
            self.history.delete(key)

    def history_list(self, automation_id: str | None = None) -> list[Record]:
        """History records, oldest first, of one automation or all."""
        with self.state.lock:
            return self.history.of_automation(automation_id)
