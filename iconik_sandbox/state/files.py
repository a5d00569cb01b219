"""The sandbox's iconik catalogue: storages, assets, formats, file sets, files, collections,
saved searches, jobs and custom actions, kept in memory behind one lock.

Records are plain dicts shaped like iconik's schemas, so the HTTP layer can answer with them
almost as they are and ``snapshot()`` is JSON-able. Everything that reads or changes several
tables holds ``lock`` (re-entrant), so concurrent requests and copy timers see consistent state.
"""

from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from iconik_sandbox.errors import BadRequest, NotFound

Record = dict[str, Any]

SYSTEM_DOMAIN_ID = "5a9b1f0e-2c3d-4e5f-8a6b-7c8d9e0f1a2b"
USER_ID = "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"
#: The user an application token acts as (iconik gives each application token a service user).
APP_USER_ID = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"
DAY_SECONDS = 86_400.0
APPROVAL_STATUSES = ("N/A", "REQUESTED", "APPROVED", "NOT_APPROVED", "MIXED")

TERMINAL_JOB_STATUSES = frozenset(
    {"FINISHED", "FINISHED_WITH_WARNING", "FAILED", "ABORTED", "SKIPPED"}
)
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
_JOB_READ_ONLY = (
    "id",
    "created_by",
    "date_created",
    "date_modified",
    "progress",
    "priority",
    "steps",
    "children_progress",
)


def _uuid4(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))``, without the cost of a UUID object (seeding
    100,000 assets makes half a million ids)."""
    bits = (bits & ~(0xC000 << 48) | 0x8000 << 48) & ~(0xF000 << 64) | 0x4000 << 64
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now_iso() -> str:
    """The current time as iconik writes it (ISO-8601 with a UTC offset)."""
    return datetime.now(UTC).isoformat()


def iso(epoch: float) -> str:
    """Epoch seconds as iconik writes times."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def epoch(stamp: str) -> float:
    """An iconik time string as epoch seconds."""
    return datetime.fromisoformat(stamp).timestamp()


def job_progress(job: Mapping[str, Any]) -> int:
    """iconik's read-only ``progress`` percentage, from processed/total."""
    total, done = job.get("progress_total") or 0, job.get("progress_processed") or 0
    if total > 0:
        return max(0, min(100, int(100 * done / total)))
    return 100 if job.get("status") in ("FINISHED", "FINISHED_WITH_WARNING", "SKIPPED") else 0


class State:
    """The catalogue. Tables are dicts id -> record, in creation order; hold ``lock`` to read
    several of them consistently. The ``add_*`` helpers are for tests and seeding."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._ids: random.Random | None = None
        self.reset()

    def reset(self) -> None:
        """Empty every table."""
        with self.lock:
            self.storages: dict[str, Record] = {}
            self.assets: dict[str, Record] = {}
            self.formats: dict[str, Record] = {}
            self.file_sets: dict[str, Record] = {}
            self.files: dict[str, Record] = {}
            self.collections: dict[str, Record] = {}
            #: collection id -> ordered direct children as (object_type, id)
            self.contents: dict[str, list[tuple[str, str]]] = {}
            self.saved_searches: dict[str, Record] = {}
            self._jobs: dict[str, Record] = {}
            self.custom_actions: dict[str, Record] = {}
            #: child copy job id -> destination file set id, for copies held OPEN by a fault
            self.open_copies: dict[str, str] = {}
            # Indexes, so a catalogue of 100,000 assets answers as fast as one of ten.
            self._formats_of: dict[str, list[str]] = {}
            self._sets_of: dict[str, dict[str, None]] = {}
            self._files_of_asset: dict[str, dict[str, None]] = {}
            self._files_of_set: dict[str, dict[str, None]] = {}
            self._files_of_storage: dict[str, dict[str, None]] = {}
            #: storage id -> its file ids as a list, while no file was added or removed there
            self._storage_lists: dict[str, list[str]] = {}
            #: scroll id -> the file ids a storage listing found when it began (see
            #: ``storage_files``), so a scroll walks one snapshot however the storage changes
            self.scrolls: dict[str, list[str]] = {}
            self._children: dict[str, list[str]] = {}
            self._holders: dict[str, list[str]] = {}  # asset id -> collections holding it
            #: asset id -> its approval status record (ApprovalBySchema); none means N/A
            self.approvals: dict[str, Record] = {}
            self._versions: dict[str, str] = {}  # asset id -> its current version id
            #: seconds the sandbox's clock runs ahead of the wall clock (see ``advance_clock``)
            self.clock_offset = 0.0

    # -- the sandbox's clock -------------------------------------------------------------------
    def now(self) -> float:
        """The sandbox's time (epoch seconds): the wall clock plus what ``advance_clock`` added.
        Asset dates and the automations' day-based triggers use it, so days can pass in a test."""
        return time.time() + self.clock_offset

    def advance_clock(self, days: float) -> float:
        """Move the sandbox's clock ``days`` forward; returns the new time."""
        if days < 0:
            raise BadRequest("days: the clock only moves forward")
        with self.lock:
            self.clock_offset += days * DAY_SECONDS
            return self.now()

    def new_id(self) -> str:
        """A fresh uuid; repeatable while ``seeded_ids`` is in effect."""
        if self._ids is not None:
            return _uuid4(self._ids.getrandbits(128))
        return str(uuid.uuid4())

    def seeded_ids(self, rng: random.Random | None) -> None:
        """Draw ids from ``rng`` (None: back to uuid4). Call with ``lock`` held."""
        self._ids = rng

    # -- storages ------------------------------------------------------------------------------
    def add_storage(
        self,
        name: str,
        method: str,
        purpose: str = "FILES",
        settings: Mapping[str, Any] | None = None,
        status: str = "ACTIVE",
    ) -> Record:
        """Register a storage (``method`` B2 for a bucket, FILE for an ISG/LucidLink folder)."""
        with self.lock:
            default_settings: dict[str, Any] = (
                {
                    "bucket_name": "media-masters",
                    "path": "",
                    "delete": True,
                    "read": True,
                    "write": True,
                    "scan": False,
                }
                if method == "B2"
                else {
                    "mount_point": "/Volumes/lucidlink",
                    "delete": True,
                    "read": True,
                    "write": True,
                    "scan": True,
                }
            )
            storage: Record = {
                "id": self.new_id(),
                "name": name,
                "method": method,
                "purpose": purpose,
                "status": status,
                "status_message": None,
                "description": None,
                "default": False,
                "last_scanned": None,
                "scanner_status": None,
                "settings": dict(settings) if settings is not None else default_settings,
            }
            self.storages[storage["id"]] = storage
            return storage

    def storage(self, storage_id: str) -> Record:
        """The storage, or NotFound."""
        with self.lock:
            if storage_id not in self.storages:
                raise NotFound("Storage doesn't exist")
            return self.storages[storage_id]

    # -- assets and formats --------------------------------------------------------------------
    def add_asset(self, title: str) -> Record:
        """Create an asset (type ASSET, status ACTIVE), dated by the sandbox's clock."""
        with self.lock:
            stamp = iso(self.now())
            asset: Record = {
                "id": self.new_id(),
                "title": title,
                "type": "ASSET",
                "status": "ACTIVE",
                "archive_status": "NOT_ARCHIVED",
                "analyze_status": "N/A",
                "is_online": True,
                "is_blocked": False,
                "external_id": None,
                "category": None,
                "created_by_user": USER_ID,
                "date_created": stamp,
                "date_modified": stamp,
                "warning": None,
            }
            self.assets[asset["id"]] = asset
            return asset

    def asset(self, asset_id: str) -> Record:
        """The asset, or NotFound."""
        with self.lock:
            if asset_id not in self.assets:
                raise NotFound("Asset does not exist")
            return self.assets[asset_id]

    def version_of(self, asset_id: str) -> str:
        """The asset's current version id (automations run once per object and version)."""
        with self.lock:
            self.asset(asset_id)
            return self._versions.setdefault(asset_id, self.new_id())

    def new_version(self, asset_id: str) -> str:
        """Give the asset a new version (and ``date_modified`` now); returns its id."""
        with self.lock:
            self.asset(asset_id)["date_modified"] = iso(self.now())
            self._versions[asset_id] = self.new_id()
            return self._versions[asset_id]

    def touch_asset(self, asset_id: str, days_ago: float = 0.0) -> Record:
        """Set the asset's ``date_modified`` to ``days_ago`` days before the sandbox's now."""
        with self.lock:
            asset = self.asset(asset_id)
            asset["date_modified"] = iso(self.now() - days_ago * DAY_SECONDS)
            return asset

    def set_approval(self, asset_id: str, status: str, user_id: str = USER_ID) -> Record:
        """Set an asset's approval status; returns the ApprovalBySchema record."""
        if status not in APPROVAL_STATUSES:
            raise BadRequest(f"status: must be one of {', '.join(APPROVAL_STATUSES)}")
        with self.lock:
            record: Record = {
                "object_type": "assets",
                "object_id": asset_id,
                "version_id": self.version_of(asset_id),
                "status": status,
                "user": user_id,
                "change_date": iso(self.now()),
            }
            self.approvals[asset_id] = record
            return record

    def approval_status(self, asset_id: str) -> str:
        """The asset's approval status (N/A until one is set)."""
        with self.lock:
            return str(self.approvals.get(asset_id, {}).get("status", "N/A"))

    def add_format(self, asset_id: str, name: str) -> Record:
        """The asset's ACTIVE format of that name, created if it has none."""
        with self.lock:
            self.asset(asset_id)
            existing = self.format_named(asset_id, name)
            if existing is not None:
                return existing
            stamp = now_iso()
            fmt: Record = {
                "id": self.new_id(),
                "asset_id": asset_id,
                "name": name,
                "status": "ACTIVE",
                "archive_status": "NOT_ARCHIVED",
                "is_online": True,
                "components": [],
                "metadata": [],
                "storage_methods": [],
                "warnings": [],
                "user_id": USER_ID,
                "version_id": self.new_id(),
                "date_created": stamp,
                "date_modified": stamp,
            }
            fmt["components"] = [
                {"id": self.new_id(), "name": f"{name}_COMPONENT", "type": "VIDEO", "metadata": {}}
            ]
            self.formats[fmt["id"]] = fmt
            self._formats_of.setdefault(asset_id, []).append(fmt["id"])
            return fmt

    def format_named(self, asset_id: str, name_or_id: str) -> Record | None:
        """The asset's ACTIVE format with this name or id, or None."""
        with self.lock:
            for format_id in self._formats_of.get(asset_id, ()):
                fmt = self.formats[format_id]
                if fmt["status"] == "ACTIVE" and name_or_id in (fmt["name"], fmt["id"]):
                    return fmt
            return None

    def formats_of(self, asset_id: str) -> list[Record]:
        """The asset's ACTIVE formats."""
        with self.lock:
            formats = (self.formats[i] for i in self._formats_of.get(asset_id, ()))
            return [f for f in formats if f["status"] == "ACTIVE"]

    # -- file sets and files -------------------------------------------------------------------
    def add_file_set(
        self,
        asset_id: str,
        format_name: str,
        storage_id: str,
        files: Iterable[Mapping[str, Any]] | None = None,
        status: str = "ACTIVE",
        name: str | None = None,
        base_dir: str | None = None,
        component_ids: list[str] | None = None,
    ) -> Record:
        """Create a file set of the asset's format (created if missing) on a storage.

        Each item of ``files`` may give ``size``, ``checksum``, ``status`` (default CLOSED),
        ``name``, ``original_name``, ``directory_path``; by default one 1 KiB CLOSED file.
        """
        with self.lock:
            asset = self.asset(asset_id)
            self.storage(storage_id)
            fmt = self.add_format(asset_id, format_name)
            stamp = now_iso()
            default_name = f"{asset['title']}_{format_name}"
            fs = {
                "id": self.new_id(),
                "asset_id": asset_id,
                "format_id": fmt["id"],
                "storage_id": storage_id,
                "original_storage_id": storage_id,
                "name": name or default_name,
                "base_dir": base_dir if base_dir is not None else asset["title"],
                "component_ids": list(component_ids or [c["id"] for c in fmt["components"]]),
                "status": status,
                "is_archive": False,
                "version_id": fmt["version_id"],
                "date_created": stamp,
                "date_modified": stamp,
            }
            self.file_sets[fs["id"]] = fs
            self._sets_of.setdefault(asset_id, {})[fs["id"]] = None
            for index, spec in enumerate(files if files is not None else [{"size": 1024}]):
                self._add_file(fs, spec, index)
            return fs

    def _add_file(self, fs: Record, spec: Mapping[str, Any], index: int = 0) -> Record:
        stamp = now_iso()
        title = self.assets[fs["asset_id"]]["title"]
        original = (
            spec.get("original_name")
            or spec.get("name")
            or (f"{title}.mov" if index == 0 else f"{title}_{index}.mov")
        )
        record = {
            "id": self.new_id(),
            "asset_id": fs["asset_id"],
            "file_set_id": fs["id"],
            "format_id": fs["format_id"],
            "storage_id": fs["storage_id"],
            "version_id": fs["version_id"],
            "system_domain_id": SYSTEM_DOMAIN_ID,
            "user_id": USER_ID,
            "name": spec.get("name") or original,
            "original_name": original,
            "directory_path": spec.get("directory_path", fs["base_dir"]),
            "size": int(spec.get("size", 1024)),
            "checksum": spec.get("checksum"),
            "type": spec.get("type", "FILE"),
            "status": spec.get("status", "CLOSED"),
            "parent_id": None,
            "file_date_created": stamp,
            "file_date_modified": stamp,
            "date_created": stamp,
            "date_modified": stamp,
        }
        self.files[record["id"]] = record
        self._files_of_asset.setdefault(record["asset_id"], {})[record["id"]] = None
        self._files_of_set.setdefault(record["file_set_id"], {})[record["id"]] = None
        self._files_of_storage.setdefault(record["storage_id"], {})[record["id"]] = None
        self._storage_lists.pop(record["storage_id"], None)
        return record

    def file_set(self, asset_id: str, file_set_id: str) -> Record:
        """The asset's file set (any status), or NotFound."""
        with self.lock:
            fs = self.file_sets.get(file_set_id)
            if fs is None or fs["asset_id"] != asset_id:
                raise NotFound("File set for this asset doesn't exist")
            return fs

    def file_sets_of(
        self,
        asset_id: str,
        storage_id: str | None = None,
        status: str | None = "ACTIVE",
        format_name: str | None = None,
    ) -> list[Record]:
        """The asset's file sets, optionally on one storage, of one status and format."""
        with self.lock:
            fmt_ids = None
            if format_name is not None:
                fmt = self.format_named(asset_id, format_name)
                fmt_ids = {fmt["id"]} if fmt else set()
            sets = (self.file_sets[i] for i in self._sets_of.get(asset_id, ()))
            return [
                fs
                for fs in sets
                if (storage_id is None or fs["storage_id"] == storage_id)
                and (status is None or fs["status"] == status)
                and (fmt_ids is None or fs["format_id"] in fmt_ids)
            ]

    def files_of(
        self,
        asset_id: str | None = None,
        file_set_id: str | None = None,
        storage_id: str | None = None,
        status: str | None = None,
    ) -> list[Record]:
        """Files filtered by asset, file set, storage and status."""
        with self.lock:
            if file_set_id is not None:
                candidates: Iterable[Record] = (
                    self.files[i] for i in self._files_of_set.get(file_set_id, ())
                )
            elif asset_id is not None:
                candidates = (self.files[i] for i in self._files_of_asset.get(asset_id, ()))
            else:
                candidates = self.files.values()
            return [
                f
                for f in candidates
                if (asset_id is None or f["asset_id"] == asset_id)
                and (file_set_id is None or f["file_set_id"] == file_set_id)
                and (storage_id is None or f["storage_id"] == storage_id)
                and (status is None or f["status"] == status)
            ]

    def storage_file_ids(self, storage_id: str) -> list[str]:
        """The ids of every file on a storage (any status), oldest first. Shared: do not change
        it (it is made once per change of the storage, so paging 300,000 files stays fast)."""
        with self.lock:
            self.storage(storage_id)
            cached = self._storage_lists.get(storage_id)
            if cached is None:
                cached = list(self._files_of_storage.get(storage_id, ()))
                self._storage_lists[storage_id] = cached
            return cached

    def set_file_status(self, file_id: str, status: str) -> Record:
        """Change one file's status (e.g. make a B2 file MISSING in a test)."""
        with self.lock:
            record = self.files[file_id]
            record["status"] = status
            record["date_modified"] = now_iso()
            return record

    def delete_file_set(
        self, asset_id: str, file_set_id: str, immediately: bool = False
    ) -> Record | None:
        """iconik's DELETE: mark the file set and its files DELETED (recycle bin) and return it,
        or with ``immediately`` remove them at once and return None."""
        with self.lock:
            fs = self.file_set(asset_id, file_set_id)
            if immediately:
                self._remove_file_set(file_set_id)
                return None
            stamp = now_iso()
            fs.update(
                status="DELETED", date_deleted=stamp, date_modified=stamp, deleted_by_user=USER_ID
            )
            for f in self.files_of(file_set_id=file_set_id):
                f.update(status="DELETED", date_modified=stamp)
            return fs

    def purge_file_set(self, asset_id: str, file_set_id: str) -> None:
        """iconik's purge: remove a DELETED file set and its files (400 if not deleted)."""
        with self.lock:
            fs = self.file_set(asset_id, file_set_id)
            if fs["status"] != "DELETED":
                raise BadRequest("File set is not deleted")
            self._remove_file_set(file_set_id)

    def _remove_file_set(self, file_set_id: str) -> None:
        fs = self.file_sets.pop(file_set_id, None)
        if fs is not None:
            self._sets_of.get(fs["asset_id"], {}).pop(file_set_id, None)
        for file_id in self._files_of_set.pop(file_set_id, {}):
            record = self.files.pop(file_id, None)
            if record is not None:
                self._files_of_asset.get(record["asset_id"], {}).pop(file_id, None)
                self._files_of_storage.get(record["storage_id"], {}).pop(file_id, None)
                self._storage_lists.pop(record["storage_id"], None)

    # -- collections and saved searches --------------------------------------------------------
    def add_collection(self, title: str, parent_id: str | None = None) -> Record:
        """Create a collection, inside ``parent_id`` when given."""
        with self.lock:
            parents: list[str] = []
            if parent_id is not None:
                parent = self.collection(parent_id)
                parents = [*parent["parents"], parent_id]
            stamp = now_iso()
            coll: Record = {
                "id": self.new_id(),
                "title": title,
                "object_type": "collections",
                "status": "ACTIVE",
                "parent_id": parent_id,
                "parents": parents,
                "in_collections": [parent_id] if parent_id else [],
                "is_root": parent_id is None,
                "storage_id": None,
                "external_id": None,
                "category": None,
                "created_by_user": USER_ID,
                "date_created": stamp,
                "date_modified": stamp,
            }
            self.collections[coll["id"]] = coll
            self.contents[coll["id"]] = []
            if parent_id is not None:
                self.contents[parent_id].append(("collections", coll["id"]))
            return coll

    def collection(self, collection_id: str) -> Record:
        """The collection, or NotFound."""
        with self.lock:
            if collection_id not in self.collections:
                raise NotFound("Collection does not exist")
            return self.collections[collection_id]

    def add_to_collection(self, collection_id: str, *object_ids: str) -> list[str]:
        """Put assets (or collections) into a collection; an asset may be in several. Returns
        the assets that were not in it before (what an automation sees as added)."""
        with self.lock:
            self.collection(collection_id)
            children = self.contents[collection_id]
            present = set(children)
            added: list[str] = []
            for object_id in object_ids:
                kind = "collections" if object_id in self.collections else "assets"
                if kind == "assets":
                    self.asset(object_id)
                if (kind, object_id) not in present:
                    children.append((kind, object_id))
                    present.add((kind, object_id))
                    if kind == "assets":
                        self._holders.setdefault(object_id, []).append(collection_id)
                        added.append(object_id)
            return added

    def collections_of(self, asset_id: str) -> list[str]:
        """Ids of the collections that directly hold the asset."""
        with self.lock:
            return list(self._holders.get(asset_id, ()))

    def add_saved_search(self, name: str, asset_ids: Iterable[str]) -> Record:
        """A saved search whose results are these assets, in this order."""
        with self.lock:
            ids = list(asset_ids)
            for asset_id in ids:
                self.asset(asset_id)
            stamp = now_iso()
            search: Record = {
                "id": self.new_id(),
                "name": name,
                "asset_ids": ids,
                "search_criteria_document": {
                    "id": None,
                    "name": name,
                    "criteria": {
                        "doc_types": ["assets"],
                        "query": "",
                        "filter": {"operator": "AND", "terms": []},
                    },
                    "date_created": stamp,
                    "date_modified": stamp,
                },
            }
            search["search_criteria_document"]["id"] = search["id"]
            self.saved_searches[search["id"]] = search
            return search

    def saved_search(self, search_id: str) -> Record:
        """The saved search, or NotFound."""
        with self.lock:
            if search_id not in self.saved_searches:
                raise NotFound("Saved search does not exist")
            return self.saved_searches[search_id]

    def expand(self, object_type: str, object_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Asset ids reached from objects, each once, in order: collections recursively
        (sub-collections included), saved searches to their results. Returns (asset ids,
        messages about objects that do not exist)."""
        with self.lock:
            found: dict[str, None] = {}
            problems: list[str] = []
            seen: set[str] = set()

            def walk(collection_id: str) -> None:
                if collection_id in seen:
                    return
                seen.add(collection_id)
                for kind, child in self.contents.get(collection_id, []):
                    if kind == "assets":
                        found.setdefault(child)
                    else:
                        walk(child)

            for object_id in object_ids:
                if object_type == "assets":
                    if object_id in self.assets:
                        found.setdefault(object_id)
                    else:
                        problems.append(f"Asset {object_id} does not exist")
                elif object_type == "collections":
                    if object_id in self.collections:
                        walk(object_id)
                    else:
                        problems.append(f"Collection {object_id} does not exist")
                elif object_id in self.saved_searches:
                    for asset_id in self.saved_searches[object_id]["asset_ids"]:
                        found.setdefault(asset_id)
                else:
                    problems.append(f"Saved search {object_id} does not exist")
            return list(found), problems

    # -- jobs ----------------------------------------------------------------------------------
    def create_job(self, body: Mapping[str, Any]) -> Record:
        """A job from a JobSchema body (read-only fields are ignored, as iconik does)."""
        with self.lock:
            stamp = now_iso()
            job: Record = {
                "action_context": None,
                "children_progress": {},
                "completed_at": None,
                "created_by": USER_ID,
                "custom_type": None,
                "error_message": None,
                "has_children": False,
                "job_context": None,
                "message": None,
                "metadata": {},
                "object_id": None,
                "object_type": None,
                "parent_id": None,
                "priority": 5,
                "progress_processed": 0,
                "progress_total": 0,
                "started_at": stamp,
                "steps": [],
            }
            job.update({k: copy.deepcopy(v) for k, v in body.items() if k not in _JOB_READ_ONLY})
            job.update(id=self.new_id(), date_created=stamp, date_modified=stamp)
            self._job_changed(job)
            self._jobs[job["id"]] = job
            parent = self._jobs.get(job.get("parent_id") or "")
            if parent is not None:
                parent["has_children"] = True
                self._children.setdefault(parent["id"], []).append(job["id"])
            return job

    def job(self, job_id: str) -> Record:
        """The job, or NotFound."""
        with self.lock:
            if job_id not in self._jobs:
                raise NotFound("Job does not exist")
            return self._jobs[job_id]

    def jobs(
        self,
        parent_id: str | None = None,
        status: str | None = None,
        type: str | None = None,
        object_id: str | None = None,
    ) -> list[Record]:
        """Jobs, newest first (as iconik's Jobs tab), filtered."""
        with self.lock:
            if parent_id is not None:
                candidates = [self._jobs[i] for i in reversed(self._children.get(parent_id, []))]
            else:
                candidates = list(reversed(self._jobs.values()))
            return [
                j
                for j in candidates
                if (parent_id is None or j.get("parent_id") == parent_id)
                and (status is None or j["status"] in status.split(","))
                and (type is None or j["type"] in type.split(","))
                and (object_id is None or j.get("object_id") == object_id)
            ]

    def update_job(
        self, job_id: str, body: Mapping[str, Any], merge_metadata: bool = False
    ) -> Record:
        """PATCH/PUT a job: the given fields replace the stored ones (``metadata`` is merged
        when ``merge_metadata``); ``progress`` is recomputed."""
        with self.lock:
            job = self.job(job_id)
            for key, value in body.items():
                if key in _JOB_READ_ONLY:
                    continue
                if key == "metadata" and merge_metadata and isinstance(value, Mapping):
                    job["metadata"] = {**(job.get("metadata") or {}), **value}
                else:
                    job[key] = copy.deepcopy(value)
            self._job_changed(job)
            return job

    def _job_changed(self, job: Record) -> None:
        job["date_modified"] = now_iso()
        if job.get("status") in TERMINAL_JOB_STATUSES and not job.get("completed_at"):
            job["completed_at"] = job["date_modified"]
        job["progress"] = job_progress(job)

    def settle_parent(self, parent_id: str) -> Record:
        """Derive a copy job's status from its children: STARTED while any runs; then
        SKIPPED (all skipped), FINISHED (none failed), FINISHED_WITH_WARNING (some failed) or
        FAILED (all failed), with the failures in ``error_message``."""
        with self.lock:
            parent = self._jobs[parent_id]
            children = [self._jobs[i] for i in self._children.get(parent_id, [])]
            done = [c for c in children if c["status"] in TERMINAL_JOB_STATUSES]
            failed = [c for c in done if c["status"] in ("FAILED", "ABORTED")]
            parent["children_progress"] = {
                c["id"]: {
                    "status": c["status"],
                    "progress_processed": c["progress_processed"],
                    "progress_total": c["progress_total"],
                }
                for c in children
            }
            update: Record = {"progress_processed": len(done), "progress_total": len(children)}
            if len(done) < len(children):
                update["status"] = "STARTED"
            elif children and all(c["status"] == "SKIPPED" for c in children):
                update["status"] = "SKIPPED"
                update["message"] = "Every file set was already on the storage"
            elif not failed:
                update["status"] = "FINISHED"
            else:
                update["status"] = (
                    "FAILED" if len(failed) == len(children) else ("FINISHED_WITH_WARNING")
                )
                update["error_message"] = "; ".join(c["error_message"] for c in failed)
            return self.update_job(parent_id, update)

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

    # -- copies held open by a fault -----------------------------------------------------------
    def complete_open_copies(self) -> int:
        """Close the files of copies a ``copy_stays_open`` fault held OPEN and finish their jobs
        (the transfer "eventually completes"). Returns how many copies were completed."""
        with self.lock:
            done = 0
            for child_id, fs_id in list(self.open_copies.items()):
                for f in self.files_of(file_set_id=fs_id):
                    if f["status"] == "OPEN":
                        f.update(status="CLOSED", date_modified=now_iso())
                child = self.update_job(child_id, {"status": "FINISHED", "progress_processed": 1})
                del self.open_copies[child_id]
                if child.get("parent_id") in self._jobs:
                    self.settle_parent(child["parent_id"])
                done += 1
            return done

    # -- inspection ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A deep, JSON-able copy of every table (for demos and debugging)."""
        with self.lock:
            return copy.deepcopy(
                {
                    "storages": list(self.storages.values()),
                    "assets": list(self.assets.values()),
                    "formats": list(self.formats.values()),
                    "file_sets": list(self.file_sets.values()),
                    "files": list(self.files.values()),
                    "collections": [
                        {
                            **c,
                            "contents": [
                                {"object_type": k, "id": i} for k, i in self.contents[c["id"]]
                            ],
                        }
                        for c in self.collections.values()
                    ],
                    "saved_searches": list(self.saved_searches.values()),
                    "jobs": list(self._jobs.values()),
                    "custom_actions": list(self.custom_actions.values()),
                }
            )

    def counts(self) -> dict[str, int]:
        """How many records each table holds."""
        with self.lock:
            return {
                "storages": len(self.storages),
                "assets": len(self.assets),
                "formats": len(self.formats),
                "file_sets": len(self.file_sets),
                "files": len(self.files),
                "collections": len(self.collections),
                "saved_searches": len(self.saved_searches),
                "jobs": len(self._jobs),
                "custom_actions": len(self.custom_actions),
            }


def check_context(context: str) -> None:
    """400 unless ``context`` is one of iconik's custom-action contexts."""
    if context not in CUSTOM_ACTION_CONTEXTS:
        raise BadRequest(f"Invalid context {context!r}")
