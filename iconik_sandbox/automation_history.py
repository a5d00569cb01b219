"""The history of an automation's executions (``AutomationHistorySchema`` records), and which
(automation, object, version) already ran, so an event never runs an automation twice for one."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from iconik_sandbox.deliveries import Order
from iconik_sandbox.errors import NotFound
from iconik_sandbox.state import Record, State
from iconik_sandbox.state.tables import SYSTEM_DOMAIN_ID, iso

HistoryKey = tuple[str, str, str, str]  # automation id, object type, object id, version id


class History:
    """Executions, by automation, object type, object id and version. Callers hold the
    state's lock, as the engine does."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.reset()

    def reset(self) -> None:
        """Forget every execution."""
        self.records: dict[HistoryKey, Record] = {}
        #: (automation id, asset id, version id) already executed (never twice)
        self.executed: set[tuple[str, str, str]] = set()

    def record(self, order: Order, delivery: Record) -> None:
        """History for each asset of a finished delivery (called on the pool's thread)."""
        status = delivery["status"]
        ok = status is not None and 200 <= status < 300
        error = delivery["error"] or (None if ok else f"HTTP {status}: {delivery['answer']}")
        with self.state.lock:
            for asset_id in order.asset_ids:
                self.put(
                    {
                        "automation_id": order.automation_id,
                        "object_type": "assets",
                        "object_id": asset_id,
                        "version_id": order.versions[asset_id],
                        "status": "SUCCEED" if ok else "FAILED",
                        "error_message": error,
                        "job_id": delivery["job_id"],
                    }
                )

    def put(self, body: Mapping[str, Any]) -> Record:
        """Record one execution (the caller checked the automation exists)."""
        record: Record = {
            "system_domain_id": SYSTEM_DOMAIN_ID,
            "error_message": None,
            "job_id": None,
            **copy.deepcopy(dict(body)),
            "date_executed": iso(self.state.now()),
        }
        key = _history_key(record)
        self.records[key] = record
        self.executed.add((key[0], key[2], key[3]))
        return record

    def of(self, key: HistoryKey) -> Record:
        """One history record, or NotFound."""
        with self.state.lock:
            if key not in self.records:
                raise NotFound("History entity not found")
            return self.records[key]

    def delete(self, key: HistoryKey) -> None:
        """Forget an execution: the automation may run again for that object and version."""
        with self.state.lock:
            self.of(key)
            del self.records[key]
            self.executed.discard((key[0], key[2], key[3]))

    def of_automation(self, automation_id: str | None = None) -> list[Record]:
        """History records, oldest first, of one automation or all."""
        with self.state.lock:
            return [
                copy.deepcopy(h)
                for h in self.records.values()
                if automation_id is None or h["automation_id"] == automation_id
            ]


def _history_key(record: Mapping[str, Any]) -> HistoryKey:
    return (
        str(record["automation_id"]),
        str(record["object_type"]),
        str(record["object_id"]),
        str(record["version_id"]),
    )


