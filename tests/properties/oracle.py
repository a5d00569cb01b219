"""The safety rule, checked independently of the plugin, at the moment of every delete.

The rule (docs/safety.md): a LucidLink file set of a requested format may be deleted
only when the same asset has, at that moment, on the B2 storage an ACTIVE file set of the same
format whose files are all CLOSED and match the LucidLink files one for one: same count, same
sizes, and equal checksums wherever both have one.

This is written apart from :mod:`b2_iconik.rules.verification` on purpose, and differently: it reads
the sandbox's State (the truth, not a listing that may be cut short), and it pairs files by a
maximum bipartite matching, where the plugin pairs them greedily. Like the plugin, it takes the
files of a set to be its *live* files: a DELETED file in an ACTIVE file set is not content
(``verification._live``); checksums are hex digests, compared without regard to case.

:class:`DeleteGuard` sits on ``State.delete_file_set`` and checks every delete that arrives
through the API (the plugin's); deletes that the sandbox's copy engine makes when it replaces a
file set, and those a test makes "by hand", do not come through a request and are not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import has_request_context, request

from iconik_sandbox.state import Record, State

#: LucidLink file statuses of a copy still being written: such a copy cannot be verified yet.
BEING_WRITTEN = frozenset({"OPEN", "GROWING", "AWAITED"})


def live_files(state: State, file_set_id: str) -> list[Record]:
    """The files of a file set that are content (every status but DELETED)."""
    return [f for f in state.files_of(file_set_id=file_set_id) if f["status"] != "DELETED"]


def _same_content(a: Record, b: Record) -> bool:
    if a["size"] != b["size"]:
        return False
    x, y = a.get("checksum"), b.get("checksum")
    return not (x and y) or str(x).lower() == str(y).lower()


def one_for_one(left: list[Record], right: list[Record]) -> bool:
    """Whether the files pair up one for one (a perfect matching, found by augmenting paths)."""
    if len(left) != len(right):
        return False
    partner: dict[int, int] = {}  # right index -> left index

    def augment(i: int, seen: set[int]) -> bool:
        for j, candidate in enumerate(right):
            if j in seen or not _same_content(left[i], candidate):
                continue
            seen.add(j)
            if j not in partner or augment(partner[j], seen):
                partner[j] = i
                return True
        return False

    return all(augment(i, set()) for i in range(len(left)))


def verified_copy(state: State, ll_set: Record, b2_storage_id: str) -> Record | None:
    """The B2 file set that makes deleting ``ll_set`` safe now, or None."""
    ll_files = live_files(state, ll_set["id"])
    if not ll_files:
        return None
    for b2_set in state.file_sets_of(ll_set["asset_id"], storage_id=b2_storage_id):
        if b2_set["status"] != "ACTIVE" or b2_set["format_id"] != ll_set["format_id"]:
            continue
        b2_files = live_files(state, b2_set["id"])
        if all(f["status"] == "CLOSED" for f in b2_files) and one_for_one(ll_files, b2_files):
            return b2_set
    return None


def removable(state: State, ll_set: Record, b2_storage_id: str) -> bool:
    """Whether Remove, looking now, must be able to delete ``ll_set``: its B2 copy verifies
    and the LucidLink copy is not still being written."""
    files = live_files(state, ll_set["id"])
    if any(f["status"] in BEING_WRITTEN for f in files):
        return False
    return verified_copy(state, ll_set, b2_storage_id) is not None


@dataclass
class Watch:
    """What one example's deletes are checked against, and what was found."""

    b2_storage_id: str
    ll_storage_id: str
    #: format names some Remove of the example asked for: no other format may be deleted
    formats: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)


class DeleteGuard:
    """Checks every delete the API receives against the rule, before the State applies it."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.watch: Watch | None = None
        original: Callable[..., Any] = state.delete_file_set

        def guarded(asset_id: str, file_set_id: str, immediately: bool = False) -> Any:
            with state.lock:
                if self.watch is not None and has_request_context() and (
                    request.method == "DELETE"
                ):
                    self._check(self.watch, asset_id, file_set_id)
                return original(asset_id, file_set_id, immediately)

        state.delete_file_set = guarded  # type: ignore[method-assign]

    def _check(self, watch: Watch, asset_id: str, file_set_id: str) -> None:
        fs = self.state.file_sets.get(file_set_id)
        if fs is None or fs["asset_id"] != asset_id or fs["status"] != "ACTIVE":
            return  # gone already, or in the recycle bin: nothing is lost by this delete
        fmt = self.state.formats[fs["format_id"]]["name"]
        where = f"{self.state.assets[asset_id]['title']} ({asset_id}) {fmt} set {file_set_id}"
        if fs["storage_id"] != watch.ll_storage_id:
            watch.violations.append(f"{where}: deleted on a storage other than LucidLink")
        elif fmt not in watch.formats:
            watch.violations.append(f"{where}: deleted a format no action asked for")
        elif verified_copy(self.state, fs, watch.b2_storage_id) is None:
            watch.violations.append(f"{where}: deleted without a verified copy on B2")
        watch.deleted.append((asset_id, file_set_id))
