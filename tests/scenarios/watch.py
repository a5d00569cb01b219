"""The watches on the scenarios' sandbox: the safety oracle at each delete, the leak watch."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from iconik_sandbox import Sandbox, SeedResult
from tests import leaks


class SafetyOracle:
    """Checks the remove rule at the moment of every delete on the LucidLink storage."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.ll_storage_id: str | None = None
        self.violations: list[str] = []
        self.deleted: list[str] = []
        state = sandbox.state
        original = state.delete_file_set

        def guarded(asset_id: str, file_set_id: str, immediately: bool = False) -> Any:
            with state.lock:
                fs = state.file_sets.get(file_set_id)
                if fs is not None and fs["storage_id"] == self.ll_storage_id:
                    problem = self._problem(fs)
                    if problem and fs["status"] == "ACTIVE":
                        self.violations.append(f"{asset_id}/{file_set_id}: {problem}")
                    self.deleted.append(asset_id)
                return original(asset_id, file_set_id, immediately)

        state.delete_file_set = guarded  # type: ignore[method-assign]

    def _problem(self, ll_set: dict[str, Any]) -> str:
        state = self.sandbox.state
        ll_files = state.files_of(file_set_id=ll_set["id"])
        for b2_set in state.file_sets_of(ll_set["asset_id"], storage_id=self.b2_storage_id):
            if b2_set["format_id"] != ll_set["format_id"]:
                continue
            b2_files = state.files_of(file_set_id=b2_set["id"])
            closed = all(f["status"] == "CLOSED" for f in b2_files)
            same = Counter(f["size"] for f in b2_files) == Counter(f["size"] for f in ll_files)
            sums = Counter(f["checksum"] for f in b2_files) == Counter(
                f["checksum"] for f in ll_files)
            if b2_files and closed and same and sums:
                return ""
        return "deleted without a matching CLOSED copy on B2"

    b2_storage_id: str | None = None

    def watch(self, ids: SeedResult) -> None:
        self.b2_storage_id, self.ll_storage_id = ids.b2_storage_id, ids.ll_storage_id
        self.violations.clear()
        self.deleted.clear()


def hand_over(sandbox: Sandbox) -> None:
    """Give the sandbox's tokens, request log and catalogue to the session's leak watch.

    A custom action's ``headers`` are left out: iconik keeps the shared secret there by design
    (it sends it with every call), so finding it there says nothing about a leak.
    """
    for token in accepted_tokens(sandbox):
        leaks.secret(token)
    log = _without_action_headers(sandbox.requests.to_list())
    leaks.record("sandbox request log", json.dumps(log, default=str))
    snapshot = _without_action_headers(sandbox.state.snapshot())
    leaks.record("sandbox catalogue and jobs", json.dumps(snapshot, default=str))


def _without_action_headers(value: Any) -> Any:
    """The value with every custom action's ``headers`` masked (see :func:`hand_over`)."""
    if isinstance(value, dict):
        return {k: "****" if k == "headers" and isinstance(v, dict) else
                _without_action_headers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_action_headers(v) for v in value]
    return value


def accepted_tokens(sandbox: Sandbox) -> list[str]:
    """Every token the sandbox knows: its own, any added since, and every one renewed."""
    return sandbox.tokens.all()
