"""Copy jobs that behave like iconik's transfers: queued at once, done a little later.

A copy request answers with a job id straight away (a TRANSFER job, STARTED, with one child
job per asset, also STARTED). After ``copy_seconds`` a timer does the work: for each asset it
finds a source file set of the format, creates the destination file set and files (sizes and
checksums copied, status CLOSED), and ends the child job. The parent then ends:

* FINISHED when no part failed; SKIPPED when every part was already on the storage;
* FINISHED_WITH_WARNING when some parts failed and others did not; FAILED when all failed.
  ``error_message`` names every failed asset and why.

A part is SKIPPED when the destination already has an ACTIVE file set of the format whose files
are all CLOSED (unless ``overwrite``); an existing file set there with other files (FAILED,
MISSING, OPEN...) is replaced, the old one marked DELETED. Copy faults (see ``Faults``): FAILED
(no destination change), wrong size (CLOSED, one byte longer, another checksum), or stays OPEN
(files OPEN, child and parent jobs STARTED until ``State.complete_open_copies()``).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iconik_sandbox.errors import BadRequest, Conflict, NotFound
from iconik_sandbox.faults import Faults
from iconik_sandbox.state import Record, State
from iconik_sandbox.state.tables import now_iso


@dataclass(frozen=True)
class _Part:
    """One asset's copy within a job."""

    child_job_id: str
    asset_id: str
    format_name: str
    dest_storage_id: str
    preferred_source_id: str | None
    source_file_set_id: str | None
    overwrite: bool


class CopyEngine:
    """Starts copy jobs and runs them on timers; ``stop()`` cancels the timers not yet run."""

    def __init__(self, state: State, faults: Faults, copy_seconds: float = 0.3) -> None:
        self.state = state
        self.faults = faults
        self.copy_seconds = copy_seconds
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._stopped = False

    # -- requests ------------------------------------------------------------------------------
    def start_bulk(self, dest_storage_id: str, body: Mapping[str, Any]) -> Record:
        """Queue ``POST /storages/{id}/bulk/``: expand the objects to assets, one part each."""
        object_ids = body.get("object_ids")
        object_type = body.get("object_type")
        if not isinstance(object_ids, list) or not object_ids or len(object_ids) > 500:
            raise BadRequest("object_ids: give 1 to 500 ids")
        if object_type not in ("assets", "collections", "saved_searches"):
            raise BadRequest("object_type: must be assets, collections or saved_searches")
        format_name = body.get("format_name") or "ORIGINAL"
        with self.state.lock:
            dest = self.state.storage(dest_storage_id)
            asset_ids, problems = self.state.expand(object_type, object_ids)
            parent = self.state.create_job(
                {
                    "title": f"Copy {len(asset_ids)} assets ({format_name}) to {dest['name']}",
                    "type": "TRANSFER",
                    "status": "STARTED",
                    "object_type": object_type,
                    "object_id": object_ids[0],
                    "related_objects": [
                        {"object_id": i, "object_type": object_type} for i in object_ids
                    ],
                    "metadata": {
                        "storage": dest_storage_id,
                        "storage_id": dest_storage_id,
                        "format_name": format_name,
                    },
                    "progress_total": len(asset_ids),
                }
            )
            parts = [
                self._part(
                    parent,
                    asset_id,
                    format_name,
                    dest,
                    body.get("preferred_original_storage_id"),
                    None,
                    bool(body.get("overwrite")),
                )
                for asset_id in asset_ids
            ]
            missing = [self._missing_part(parent, dest, msg) for msg in problems]
            if not parts and not missing:
                self.state.settle_parent(parent["id"])
        self._schedule(parent["id"], parts, missing)
        return parent

    def start_file_set(
        self, file_set_id: str, dest_storage_id: str, body: Mapping[str, Any]
    ) -> Record:
        """Queue ``POST /file_sets/{id}/storages/{id}/`` (409 if the same components are
        already there in an ACTIVE file set)."""
        with self.state.lock:
            fs = self.state.file_sets.get(file_set_id)
            if fs is None or fs["status"] != "ACTIVE":
                raise NotFound("File set not found")
            dest = self.state.storage(dest_storage_id)
            for other in self.state.file_sets_of(fs["asset_id"], dest_storage_id):
                if set(other["component_ids"]) == set(fs["component_ids"]):
                    raise Conflict("File set with same components already exists on storage.")
            fmt = self.state.formats[fs["format_id"]]
            parent = self.state.create_job(
                {
                    "title": f"Copy file set {fs['name']} to {dest['name']}",
                    "type": "TRANSFER",
                    "status": "STARTED",
                    "object_type": "assets",
                    "object_id": fs["asset_id"],
                    "metadata": {
                        "storage": dest_storage_id,
                        "storage_id": dest_storage_id,
                        "file_set_id": file_set_id,
                    },
                    "progress_total": 1,
                }
            )
            part = self._part(parent, fs["asset_id"], fmt["name"], dest, None, file_set_id, True)
        self._schedule(parent["id"], [part], [])
        return parent

    def _part(
        self,
        parent: Record,
        asset_id: str,
        format_name: str,
        dest: Record,
        preferred: str | None,
        source_fs: str | None,
        overwrite: bool,
    ) -> _Part:
        title = self.state.assets[asset_id]["title"]
        child = self.state.create_job(
            {
                "title": f"Transfer asset {title} to {dest['name']}",
                "type": "TRANSFER",
                "status": "STARTED",
                "parent_id": parent["id"],
                "object_type": "assets",
                "object_id": asset_id,
                "metadata": {
                    "storage": dest["id"],
                    "storage_id": dest["id"],
                    "format_name": format_name,
                },
                "progress_total": 1,
            }
        )
        return _Part(
            child["id"], asset_id, format_name, dest["id"], preferred, source_fs, overwrite
        )

    def _missing_part(self, parent: Record, dest: Record, message: str) -> str:
        child = self.state.create_job(
            {
                "title": f"Transfer to {dest['name']}",
                "type": "TRANSFER",
                "status": "STARTED",
                "parent_id": parent["id"],
                "progress_total": 1,
                "error_message": message,
            }
        )
        return str(child["id"])

    # -- timers --------------------------------------------------------------------------------
    def _schedule(self, parent_id: str, parts: list[_Part], missing: list[str]) -> None:
        if not parts and not missing:
            return
        with self._lock:
            if self._stopped:
                return
            timer = threading.Timer(self.copy_seconds, self._fire, (parent_id, parts, missing))
            timer.daemon = True
            self._timers.add(timer)
            timer.start()

    def _fire(self, parent_id: str, parts: list[_Part], missing: list[str]) -> None:
        with self._lock:
            self._timers.discard(threading.current_thread())
            if self._stopped:
                return
        # NotFound: the catalogue was reset while this copy waited, so nothing is left to copy.
        with contextlib.suppress(NotFound):
            self.run_now(parent_id, parts, missing)

    def cancel_pending(self) -> None:
        """Cancel every copy not yet run, and keep accepting new ones (a reset)."""
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()

    def run_now(self, parent_id: str, parts: list[_Part], missing: list[str]) -> None:
        """Do the queued work of one job (what the timer calls)."""
        with self.state.lock:
            for child_id in missing:
                error = self.state.job(child_id).get("error_message") or "Object not found"
                self.state.update_job(child_id, {"status": "FAILED", "error_message": error})
            for part in parts:
                self._run_part(part)
            self.state.settle_parent(parent_id)

    def stop(self) -> None:
        """Cancel every copy not yet run; later requests queue nothing."""
        with self._lock:
            self._stopped = True
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()

    def pending(self) -> int:
        """How many copy timers have not run yet."""
        with self._lock:
            return sum(1 for t in self._timers if t.is_alive())

    # -- the copy itself -----------------------------------------------------------------------
    def _run_part(self, part: _Part) -> None:
        state = self.state
        title = state.assets.get(part.asset_id, {}).get("title", part.asset_id)

        def fail(reason: str) -> None:
            state.update_job(
                part.child_job_id,
                {"status": "FAILED", "error_message": f"Asset {part.asset_id} ({title}): {reason}"},
            )

        if part.asset_id not in state.assets:
            return fail("asset does not exist")
        fmt = state.format_named(part.asset_id, part.format_name)
        if fmt is None:
            return fail(f"asset has no format {part.format_name}")
        existing = [
            fs
            for fs in state.file_sets_of(part.asset_id, part.dest_storage_id)
            if fs["format_id"] == fmt["id"]
        ]
        complete = [fs for fs in existing if _all_closed(state, fs)]
        if complete and not part.overwrite:
            state.update_job(
                part.child_job_id,
                {
                    "status": "SKIPPED",
                    "progress_processed": 1,
                    "message": f"{part.format_name} is already on the storage",
                },
            )
            return None
        source, why = self._source(part, fmt)
        if source is None:
            return fail(why)
        outcome = self.faults.copy_outcome(part.asset_id)
        if outcome == "copy_fail":
            return fail("transfer failed (sandbox fault copy_fail)")
        for old in existing:
            state.delete_file_set(part.asset_id, old["id"])
        dest_fs = state.add_file_set(
            part.asset_id,
            part.format_name,
            part.dest_storage_id,
            files=[],
            name=source["name"],
            base_dir=source["base_dir"],
            component_ids=list(source["component_ids"]),
        )
        dest_fs["original_storage_id"] = source["storage_id"]
        for index, f in enumerate(state.files_of(file_set_id=source["id"])):
            size, checksum, status = f["size"], f["checksum"], "CLOSED"
            if outcome == "copy_wrong_size":
                size += 1
                if checksum:
                    checksum = hashlib.md5(checksum.encode(), usedforsecurity=False).hexdigest()
            elif outcome == "copy_stays_open":
                status = "OPEN"
            state._add_file(
                dest_fs,
                {
                    "name": f["name"],
                    "original_name": f["original_name"],
                    "directory_path": f["directory_path"],
                    "size": size,
                    "checksum": checksum,
                    "status": status,
                    "type": f["type"],
                },
                index,
            )
        state.update_job(
            part.child_job_id,
            {
                "metadata": {
                    **state.job(part.child_job_id)["metadata"],
                    "file_set_id": dest_fs["id"],
                    "source_storage_id": source["storage_id"],
                }
            },
        )
        if outcome == "copy_stays_open":
            state.open_copies[part.child_job_id] = dest_fs["id"]
            state.update_job(part.child_job_id, {"message": "Waiting for files to close"})
            return None
        state.update_job(
            part.child_job_id,
            {"status": "FINISHED", "progress_processed": 1, "completed_at": now_iso()},
        )
        return None

    def _source(self, part: _Part, fmt: Record) -> tuple[Record | None, str]:
        """The file set to copy from: the named one, else an ACTIVE file set of the format on
        the preferred storage, else on any other storage; its files must all be CLOSED."""
        state = self.state
        if part.source_file_set_id is not None:
            fs = state.file_sets.get(part.source_file_set_id)
            if fs is None or fs["status"] != "ACTIVE":
                return None, "source file set no longer exists"
            if not _all_closed(state, fs):
                return None, f"source files are not all CLOSED ({_statuses(state, fs)})"
            return fs, ""
        candidates = [
            fs
            for fs in state.file_sets_of(part.asset_id)
            if fs["format_id"] == fmt["id"] and fs["storage_id"] != part.dest_storage_id
        ]
        candidates.sort(key=lambda fs: fs["storage_id"] != part.preferred_source_id)
        for fs in candidates:
            if _all_closed(state, fs):
                return fs, ""
        if candidates:
            return None, (
                f"no complete source for {part.format_name} "
                f"(source files {_statuses(state, candidates[0])})"
            )
        return None, f"no source file set of format {part.format_name}"


def _all_closed(state: State, fs: Record) -> bool:
    files = state.files_of(file_set_id=fs["id"])
    return bool(files) and all(f["status"] == "CLOSED" for f in files)


def _statuses(state: State, fs: Record) -> str:
    return ", ".join(sorted({f["status"] for f in state.files_of(file_set_id=fs["id"])})) or "none"
